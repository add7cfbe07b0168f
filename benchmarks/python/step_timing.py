"""The timing the Python benchmarks share: a training step timed over a number of steps after
untimed warm-up steps, in wall-clock time and in the CPU time of the whole process (every thread:
tensortap's collector thread included), loops alternated so that none always runs first, and the
runtime's own counters read back from a run's store.

CPU time is reported next to wall time because on a loaded machine a step's wall time mostly
measures how long the process waited for a core; the CPU time it used moves far less (it still
moves: caches and memory bandwidth are shared).
"""

import os
import sqlite3
import time
from dataclasses import dataclass


@dataclass
class StepTime:
    wall_s: float  # wall-clock seconds per step
    cpu_s: float  # CPU seconds per step, every thread of the process


def time_steps(one_step, steps, warmup):
    """Calls one_step(i) `warmup` times untimed, then `steps` times timed; seconds per step."""
    for i in range(warmup):
        one_step(i)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        one_step(i)
    return StepTime((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps)


def alternating(labels, reps):
    """(rep, label) pairs in the order the loops run: every repetition runs each loop once,
    starting one loop further along each time (caches, the allocator and the clock favour no
    loop)."""
    for rep in range(reps):
        for k in range(len(labels)):
            yield rep, labels[(rep + k) % len(labels)]


def run_counters(run_dir):
    """The runtime's own counters of a finished run: samples taken, the seconds it counted as its
    overhead on the training thread, and the step time it saw."""
    db = sqlite3.connect(f"file:{os.path.join(run_dir, 'ttap.db')}?mode=ro", uri=True)
    try:
        taken, overhead, step_time = db.execute(
            "SELECT sum(samples_taken), sum(overhead_seconds), sum(step_seconds) FROM run_counters"
        ).fetchone()
    finally:
        db.close()
    return {"samples_taken": taken, "overhead_seconds": overhead, "step_seconds": step_time}
