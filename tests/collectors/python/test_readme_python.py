"""The README's PyTorch examples, run as documented: every ```python block whose first line is
`# README example: LAUNCHER` is written to a file in a fresh directory and run there with
LAUNCHER (`python`, or `torchrun --nproc-per-node 2`), and must exit 0 and leave gradient samples
of every step (TTAP_BUDGET=0) in a store under that directory, one per rank. An example whose imports or torch features this
interpreter lacks (torch 1.13 has no torch.compile nor FSDP2) is skipped, saying which."""

import glob
import importlib.util
import os
import re
import sqlite3
import subprocess
import sys

import pytest
import torch

SOURCE_DIR = os.environ.get(
    "TTAP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
README = os.path.join(SOURCE_DIR, "README.md")
HEADER = re.compile(r"# README example: (?P<launcher>[^#]+?)\s*(#.*)?$")
STEPS = 20


def examples():
    with open(README) as f:
        text = f.read()
    found = []
    for block in re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        match = HEADER.match(block.splitlines()[0])
        if match:
            found.append((match["launcher"].split(), block))
    return found


EXAMPLES = examples()


def test_the_readme_has_the_pytorch_examples():
    launchers = [" ".join(launcher) for launcher, _ in EXAMPLES]
    assert len(EXAMPLES) >= 5, launchers
    assert sum("torchrun" in l for l in launchers) >= 2  # DDP and FSDP2


def missing(launcher, code):
    """Why this interpreter cannot run `code` with `launcher`, or None."""
    if launcher[0] == "torchrun" and torch.__version__.startswith("1."):
        # Debian's 1.13 (Python 3.11): torch.distributed.run fails before starting any worker
        # ("'NoneType' object has no attribute 'get'" in elastic's to_map).
        return f"torchrun of torch {torch.__version__} cannot start workers here"
    for module in re.findall(r"^(?:import|from) (\w+)", code, flags=re.M):
        if importlib.util.find_spec(module) is None:
            return f"module {module} is not installed"
    if "torch.compile" in code and not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    if "fully_shard" in code and not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no FSDP2 (fully_shard)"
    return None


def stored_steps(directory):
    """{database: set of steps with gradient samples} of every store under `directory`."""
    found = {}
    # ttap.db, or ttap.rank-R.db for a rank other than 0 (one store file per writer).
    for path in glob.glob(os.path.join(directory, "**", "ttap*.db"), recursive=True):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT DISTINCT step FROM samples_v WHERE kind = 'grad'").fetchall()
        finally:
            db.close()
        found[path] = {r[0] for r in rows}
    return found


@pytest.mark.parametrize("launcher,code", EXAMPLES,
                         ids=[f"{i}-{c.splitlines()[1][:30]}" for i, (_, c) in enumerate(EXAMPLES)])
def test_readme_example_runs_and_stores_every_step(tmp_path, launcher, code):
    reason = missing(launcher, code)
    if reason:
        pytest.skip(reason)
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTAP_")}
    env["TTAP_BUDGET"] = "0"  # every step sampled (the default budget thins tiny toy steps)
    env["OMP_NUM_THREADS"] = "1"
    env["HF_HUB_OFFLINE"] = "1"  # the examples build their models from a config: nothing to fetch
    if launcher[0] == "python":
        command = [sys.executable] + launcher[1:] + [str(script)]
    else:
        assert launcher[0] == "torchrun", launcher
        # torchrun as the same interpreter's module; --standalone: a free local port. torch 1.13
        # knows only the underscore spelling of the option, which 2.x still takes.
        options = [o.replace("--nproc-per-node", "--nproc_per_node") for o in launcher[1:]]
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"] + options + \
            [str(script)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    stores = stored_steps(str(tmp_path))
    expected_stores = 2 if launcher[0] == "torchrun" else 1
    assert len(stores) == expected_stores, stores.keys()
    for path, steps in stores.items():
        assert steps == set(range(STEPS)) or steps == set(range(1, STEPS + 1)), (path, steps)
