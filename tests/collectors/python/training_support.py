"""What the binding's tests share: a small MLP, synthetic batches, and reading a run's store."""

import glob
import os
import sqlite3

import torch


def make_mlp(seed=0, width=32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(16, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.Tanh(),
        torch.nn.Linear(width, 4),
    )


def batches(count, batch_size=32, seed=1):
    """`count` (inputs, labels) pairs of a fixed random classification task."""
    generator = torch.Generator().manual_seed(seed)
    teacher = torch.randn(16, 4, generator=generator)
    out = []
    for _ in range(count):
        x = torch.randn(batch_size, 16, generator=generator)
        out.append((x, (x @ teacher).argmax(dim=1)))
    return out


# The store's views and tables, combined over the files of a run (as `ttap sql` does).
_COMBINED = ("samples_v", "alerts_v", "scalars_v", "ranks_v", "actions_v", "run_info",
             "run_counters", "tensors", "samples", "scalars", "alerts", "rank_steps", "rank_samples",
             "actions")


def query(run_dir, sql, params=()):
    """Rows of a query over every store file of RUN_DIR (ttap.db, and ttap.rank-R.db of the other
    ranks: one file per writer), opened read-only: one file as is, several attached with TEMP views
    that combine them."""
    files = sorted(glob.glob(os.path.join(run_dir, "ttap.rank-*.db")))
    main = os.path.join(run_dir, "ttap.db")
    if os.path.exists(main):
        files.insert(0, main)
    if len(files) == 1:
        db = sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)
    else:
        db = sqlite3.connect(":memory:", uri=True)
        for k, path in enumerate(files):
            db.execute(f"ATTACH 'file:{path}?mode=ro' AS r{k}")
        for name in _COMBINED:
            union = " UNION ALL ".join(f"SELECT * FROM r{k}.{name}" for k in range(len(files)))
            db.execute(f"CREATE TEMP VIEW {name} AS {union}")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def grad_l2(run_dir):
    """{(step, tensor): l2} of every stored gradient sample."""
    rows = query(run_dir, "SELECT step, tensor, l2 FROM samples_v WHERE kind = 'grad'")
    return {(step, tensor): l2 for step, tensor, l2 in rows}
