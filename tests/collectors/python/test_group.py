"""set_group across three DDP ranks under mpirun (group_program.py): one store written by rank 0
with the global summaries, the per-rank table, and group alerts naming the rank with the flipped
bit (divergence) and the rank whose gradient held the NaN (nonfinite_source, and divergence: the
DDP gradients are replicas); the merged l2 of a DDP gradient equals one replica's l2, not
sqrt(3) times it. Once with torch's default gloo group, once with an mpi4py communicator."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from training_support import query

HERE = os.path.dirname(os.path.abspath(__file__))
RANKS = 3

mpirun = shutil.which("mpirun")
try:
    import mpi4py  # noqa: F401  (only whether it is installed; MPI is initialized in the ranks)
except ImportError:
    mpi4py = None
pytestmark = pytest.mark.skipif(mpirun is None or mpi4py is None,
                                reason="needs mpirun (openmpi-bin) and mpi4py (python3-mpi4py)")


def run_ranks(mode, tmp_path):
    run_dir = str(tmp_path / "run")
    reference = str(tmp_path / "reference.json")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HERE, env.get("PYTHONPATH", "")])
    # Its own session directory: two mpiruns starting at once race on the shared default one.
    env["OMPI_MCA_orte_tmpdir_base"] = str(tmp_path)
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    env["GLOO_SOCKET_IFNAME"] = "lo"
    root = ["--allow-run-as-root"] if os.getuid() == 0 else []
    result = subprocess.run(
        [mpirun, *root, "--oversubscribe", "-np", str(RANKS), sys.executable,
         os.path.join(HERE, "group_program.py"), mode, run_dir, reference],
        env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(reference) as f:
        return run_dir, {int(k): v for k, v in json.load(f).items()}, result.stderr


@pytest.mark.parametrize("mode", ["torch", "mpi4py"])
def test_group_alerts_name_the_ranks(mode, tmp_path):
    run_dir, reference, stderr = run_ranks(mode, tmp_path)
    assert query(run_dir, "SELECT group_kind, group_size, group_rank FROM run_info "
                          "ORDER BY group_rank") == [("mpi", RANKS, r) for r in range(RANKS)]
    # One store for the group: rank 0 writes the merged samples, 8 steps of 6 gradients and
    # 6 parameters.
    assert query(run_dir, "SELECT rank, count(*) FROM samples GROUP BY rank") == [(0, 8 * 12)]
    alerts = query(run_dir, "SELECT type, rank, step, tensor, message FROM alerts_v "
                            "WHERE type IN ('divergence', 'nonfinite_source') ORDER BY rowid")
    divergence = [a for a in alerts if a[0] == "divergence"]
    assert [a[1:4] for a in divergence] == [(2, 4, "2.weight"), (1, 7, "0.weight.grad")], stderr
    assert "silent data corruption suspected on rank 2" in divergence[0][4]
    assert "silent data corruption suspected on rank 1" in divergence[1][4]
    source = [a for a in alerts if a[0] == "nonfinite_source"]
    assert [a[1:4] for a in source] == [(1, 7, "0.weight.grad")], alerts
    assert query(run_dir, "SELECT count(*) FROM alerts_v WHERE type IN "
                          "('outlier_rank', 'straggler')") == [(0,)]
    assert query(run_dir, "SELECT rank FROM ranks_v WHERE step = 7 AND nonfinite > 0") == [(1,)]
    # The DDP gradients are replicas: fingerprinted on every rank, and merged as one replica, whose
    # l2 is rank 0's own, not the sum of the three ranks' squares.
    assert query(run_dir, "SELECT count(*) FROM ranks_v WHERE tensor = '4.weight.grad' AND "
                          "fingerprint IS NULL") == [(0,)]
    stored = dict(query(run_dir, "SELECT step, l2 FROM samples_v WHERE tensor = '4.weight.grad'"))
    assert sorted(stored) == list(range(8))
    for step, want in reference.items():
        assert stored[step] == pytest.approx(want, rel=1e-6), step
    # The NaN on rank 1's replica is in the merged record although rank 0's replica stands for it.
    assert query(run_dir, "SELECT nan FROM samples_v WHERE tensor = '0.weight.grad' AND "
                          "step = 7") == [(1,)]
