"""Replicated and sharded gradients under `torchrun --nproc-per-node 2` on CPU (gloo), from
distributed_program.py: with DDP every rank's stored l2 of a parameter's gradient is the l2 of
the unsharded reference model's gradient on the same global batch (1e-5 relative); with FSDP2
(fully_shard) each rank stores its local shard of the DTensor gradient and the shards' l2
combine to the reference's. On every rank the global norm of the stored gradients equals what
clip_grad_norm_ returned there (with FSDP2: the combined one). The DDP and FSDP2 ranks again under
mpirun as one tensortap group (torchrun starts no MPI, over which tensortap reduces): rank 0's
store holds merged summaries whose l2 is the whole gradient's (FSDP2: the shards merged; DDP: one
replica, not sqrt(world) times it)."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from training_support import grad_l2, make_mlp, query

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "distributed_program.py")
WORLD = 2


def has_fully_shard():
    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401  (torch 2.6+)
    except ImportError:
        return False
    return True


def modes():
    """The modes this torch can run: both launches run them one after the other in the same ranks,
    so that the ranks' start-up (torch's import, the rendezvous) is paid once per launcher."""
    return ["ddp", "fsdp2"] if has_fully_shard() else ["ddp"]


def launch_env(out):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HERE, env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"  # two ranks on two cores
    env["OMPI_MCA_orte_tmpdir_base"] = str(out)
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    env["GLOO_SOCKET_IFNAME"] = "lo"
    return env


@pytest.fixture(scope="module")
def torchrun_out(tmp_path_factory):
    """Every mode under `torchrun --nproc-per-node 2`: each rank its own store."""
    out = tmp_path_factory.mktemp("torchrun")
    # --standalone: a rendezvous on a free local port, so parallel test runs do not collide.
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(WORLD), PROGRAM, ",".join(modes()), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200,
                          env=launch_env(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return out


@pytest.fixture(scope="module")
def mpirun_out(tmp_path_factory):
    """Every mode under `mpirun -np 2`: the ranks one tensortap group (torchrun starts no MPI,
    over which tensortap reduces)."""
    mpirun = shutil.which("mpirun")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        mpi4py = None
    if mpirun is None or mpi4py is None:
        pytest.skip("needs mpirun (openmpi-bin) and mpi4py in this environment")
    out = tmp_path_factory.mktemp("mpirun")
    root = ["--allow-run-as-root"] if os.getuid() == 0 else []
    done = subprocess.run([mpirun, *root, "--oversubscribe", "-np", str(WORLD), sys.executable,
                           PROGRAM, ",".join(modes()), str(out)],
                          env=launch_env(out), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return out


def read_ranks(out):
    ranks = []
    for rank in range(WORLD):
        with open(out / f"rank{rank}.json") as f:
            result = json.load(f)
        reference = {(int(k.split()[0]), k.split()[1]): v for k, v in result["reference"].items()}
        clip = {int(k): v for k, v in result["clip"].items()}
        ranks.append((grad_l2(str(out / f"rank{rank}")), reference, clip))
    return ranks


def relative_error(a, b):
    return abs(a - b) / b


needs_distributed = pytest.mark.skipif(
    not torch.distributed.is_available() or not hasattr(torch, "compile"),
    reason=f"torch {torch.__version__}: this test runs in the torch 2.x environment")


@needs_distributed
def test_ddp_gradients_equal_the_unsharded_reference_on_every_rank(torchrun_out):
    worst = 0.0
    for stored, reference, clip in read_ranks(torchrun_out / "ddp"):
        assert set(stored) == set(reference)
        worst = max(worst, max(relative_error(stored[k], v) for k, v in reference.items()))
        for step, total in clip.items():
            own = math.sqrt(sum(l2 * l2 for (s, _), l2 in stored.items() if s == step))
            assert relative_error(own, total) <= 1e-5
    print(f"DDP: max relative error against the reference {worst:.2e}")
    assert worst <= 1e-5


@needs_distributed
def test_fsdp2_local_shards_combine_to_the_unsharded_reference(torchrun_out):
    if not has_fully_shard():
        pytest.skip(f"torch {torch.__version__} has no torch.distributed.fsdp.fully_shard")
    ranks = read_ranks(torchrun_out / "fsdp2")
    reference, clip = ranks[0][1], ranks[0][2]
    shards = [stored for stored, _, _ in ranks]
    assert all(set(s) == set(reference) for s in shards)
    # Each rank really stored a part: no shard holds the whole gradient.
    assert all(s[k] < reference[k] * (1 - 1e-3) for s in shards for k in reference)
    combined = {k: math.sqrt(sum(s[k] ** 2 for s in shards)) for k in reference}
    worst = max(relative_error(combined[k], v) for k, v in reference.items())
    print(f"FSDP2: max relative error of the combined shards against the reference {worst:.2e}")
    assert worst <= 1e-5
    for step, total in clip.items():
        norm = math.sqrt(sum(l2 * l2 for (s, _), l2 in combined.items() if s == step))
        assert relative_error(norm, total) <= 1e-5


@needs_distributed
@pytest.mark.parametrize("mode", ["fsdp2", "ddp"])
def test_gradients_merged_by_a_tensortap_group_under_mpirun(mode, mpirun_out):
    """The same ranks under mpirun, made one tensortap group (set_group; the roles come from the
    binding: DTensor shards sharded, DDP gradients replicated): rank 0's one store holds the
    merged summaries, whose l2 is the whole gradient's."""
    if mode not in modes():
        pytest.skip(f"torch {torch.__version__} has no torch.distributed.fsdp.fully_shard")
    tmp_path = mpirun_out / mode
    with open(tmp_path / "rank0.json") as f:
        result = json.load(f)
    reference = {(int(k.split()[0]), k.split()[1]): v for k, v in result["reference"].items()}
    merged = grad_l2(str(tmp_path / "group"))
    assert set(merged) == set(reference)
    worst = max(relative_error(merged[k], v) for k, v in reference.items())
    print(f"{mode} group: max relative error of the merged l2 against the reference {worst:.2e}")
    assert worst <= 1e-5
    for step, total in result["clip"].items():
        norm = math.sqrt(sum(l2 * l2 for (s, _), l2 in merged.items() if s == int(step)))
        assert relative_error(norm, total) <= 1e-5
    # DDP's parameters and gradients are replicas (fingerprinted, and identical: no divergence
    # alert), merged as one: a merged count is the tensor's size. FSDP2's are shards (never
    # compared), merged into the whole: the count is again the whole tensor's size.
    group = str(tmp_path / "group")
    sizes = {name: p.numel() for name, p in make_mlp(seed=0).named_parameters()}
    merged_counts = dict(query(group, "SELECT tensor, count FROM samples_v WHERE step = 0"))
    assert merged_counts == {**sizes, **{n + ".grad": c for n, c in sizes.items()}}
    fingerprinted = query(group, "SELECT count(*) FROM ranks_v WHERE fingerprint IS NOT NULL")
    steps = len({step for step, _ in merged})
    assert (fingerprinted[0][0] == 2 * len(sizes) * WORLD * steps) == (mode == "ddp"), fingerprinted
    assert (fingerprinted[0][0] == 0) == (mode == "fsdp2"), fingerprinted
    assert query(group, "SELECT type, message FROM alerts WHERE type IN "
                        "('divergence', 'outlier_rank', 'nonfinite_source')") == []
