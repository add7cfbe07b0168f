"""Training-step time of a small CPU model with tensortap watching it against the same loop without,
measured in the same run (alternating, median of the repetitions), plus what the runtime's own
counters say it cost: the `budget` option keeps that under budget x step time by sampling less
often.

    PYTHONPATH=build/python /usr/bin/python3 benchmarks/python/bench_torch_overhead.py [--json]

Three loops per repetition: `baseline` (no tensortap), `tensortap` (watch(model, optimizer=opt)
with the given budget), and `binding floor` (every=2^40: one sample at step 0, then only the
per-step work of the binding itself: the optimizer hook and the check of each gradient's memory).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

import tensortap as ttap
from step_timing import alternating, run_counters, time_steps


def make_model(width, depth, seed=0):
    torch.manual_seed(seed)
    layers, size = [], 64
    for _ in range(depth):
        layers += [torch.nn.Linear(size, width), torch.nn.ReLU()]
        size = width
    layers.append(torch.nn.Linear(size, 10))
    return torch.nn.Sequential(*layers)


def make_batches(count, batch_size, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(batch_size, 64, generator=generator),
         torch.randint(0, 10, (batch_size,), generator=generator))
        for _ in range(count)
    ]


def train(model, optimizer, batches, steps):
    """Time per training step over `steps` steps (after 5 untimed warm-up steps)."""
    loss_fn = torch.nn.CrossEntropyLoss()

    def one_step(i):
        x, y = batches[i % len(batches)]
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    return time_steps(one_step, steps, warmup=5)


def timed_run(args, batches, run_dir, baseline, options):
    model = make_model(args.width, args.depth)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    if baseline:
        return {"step_s": train(model, optimizer, batches, args.steps).wall_s}
    with ttap.Session(run_dir, **options) as session:
        session.watch(model, optimizer=optimizer)
        seconds = train(model, optimizer, batches, args.steps).wall_s
    result = {"step_s": seconds}
    result.update(run_counters(run_dir))
    return result


def not_due_step_cost(tensors, work_dir, calls=20000):
    """Seconds per step() when no sample is due, with `tensors` gradient tensors watched: the work
    the binding does at every step whatever the sampler decides (each gradient's dtype and
    data_ptr() are checked, then ttap_step returns at once)."""
    model = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(tensors // 2)])
    model(torch.randn(2, 4)).sum().backward()
    with ttap.Session(os.path.join(work_dir, f"not-due-{tensors}"), every=1 << 40) as session:
        session.watch(model)
        session.step()  # the one sample: binds every gradient
        start = time.perf_counter()
        for _ in range(calls):
            session.step()
        return (time.perf_counter() - start) / calls


def measure(args):
    batches = make_batches(8, args.batch)
    loops = [("baseline", {}), ("tensortap", {"budget": args.budget}),
             ("floor", {"every": 1 << 40, "budget": 0})]
    runs = {label: [] for label, _ in loops}
    options = dict(loops)
    with tempfile.TemporaryDirectory(prefix="ttap-bench-") as work_dir:
        for rep, label in alternating([label for label, _ in loops], args.reps):
            run_dir = os.path.join(work_dir, f"{label}-{rep}")
            runs[label].append(
                timed_run(args, batches, run_dir, label == "baseline", options[label]))
        not_due = {n: not_due_step_cost(n, work_dir) for n in (10, 100, 1000)}
    base = [r["step_s"] for r in runs["baseline"]]

    def median_ratio(label):
        return statistics.median(r["step_s"] / b for r, b in zip(runs[label], base))

    counted = runs["tensortap"]
    overhead = sum(r["overhead_seconds"] for r in counted)
    step_seconds = sum(r["step_seconds"] for r in counted)
    model = make_model(args.width, args.depth)
    base_s = statistics.median(base)
    return {
        "model": {"width": args.width, "depth": args.depth, "batch": args.batch,
                  "parameters": sum(1 for _ in model.parameters()),
                  "elements": sum(p.numel() for p in model.parameters())},
        "steps": args.steps,
        "reps": args.reps,
        "budget": args.budget,
        "torch_threads": torch.get_num_threads(),
        "baseline_step_ms": base_s * 1e3,
        "tensortap_step_ms": statistics.median(r["step_s"] for r in counted) * 1e3,
        "ratio": median_ratio("tensortap"),
        "floor_step_ms": statistics.median(r["step_s"] for r in runs["floor"]) * 1e3,
        "floor_ratio": median_ratio("floor"),
        "counter_overhead_fraction": overhead / step_seconds if step_seconds else None,
        "samples_taken_per_run": [r["samples_taken"] for r in counted],
        "not_due_step_us": {n: t * 1e6 for n, t in not_due.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.01)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    r = measure(args)
    if args.json:
        print(json.dumps(r))
        return 0
    m = r["model"]
    print(f"tensortap overhead on a CPU MLP ({m['depth']} hidden layers of {m['width']}, batch "
          f"{m['batch']}, {m['parameters']} parameter tensors, {m['elements']} elements), "
          f"{r['steps']} steps x {r['reps']} reps, torch threads {r['torch_threads']}; "
          f"ratios: median over reps of the loop against that rep's baseline")
    print(f"  baseline        {r['baseline_step_ms']:8.3f} ms/step")
    print(f"  tensortap       {r['tensortap_step_ms']:8.3f} ms/step  ratio {r['ratio']:.3f}  "
          f"(budget {r['budget']}; samples taken per run {r['samples_taken_per_run']})")
    print(f"  binding floor   {r['floor_step_ms']:8.3f} ms/step  ratio {r['floor_ratio']:.3f}  "
          f"(every=2^40: the optimizer hook and memory checks alone)")
    print(f"  runtime counters: overhead / step time = {r['counter_overhead_fraction']:.4f} "
          f"(budget {r['budget']})")
    costs = ", ".join(f"{n} tensors {us:.1f} us ({us * 1e3 / n:.0f} ns each)"
                      for n, us in r["not_due_step_us"].items())
    print(f"  a step with no sample due: {costs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
