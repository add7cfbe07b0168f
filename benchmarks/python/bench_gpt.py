"""Step time of a small GPT (the size nanoGPT trains on a CPU: 4 layers, 4 heads, 128-wide
embeddings, 64-token context, batch 12; AdamW, gradients clipped to 1.0) with tensortap watching
it at the default budget against the same loop without, measured in the same run: the two loops
alternate (which runs first rotates), and the ratio is the median over repetitions of each
repetition's tensortap/baseline step time: in wall-clock time (the target), and in the process's
CPU time (steadier on a loaded machine). Next to it, the two parts of tensortap's cost: the
runtime's own count of its time on the training thread (the sampling, which the budget keeps under
1 % of step time), and the binding's work at every step outside that count (re-checking each
watched gradient, which zero_grad(set_to_none=True) reallocates at every step), timed alone.

    PYTHONPATH=build/python $(scripts/torch2-venv.sh) benchmarks/python/bench_gpt.py [--json]

The model is written here (causal self-attention with scaled_dot_product_attention, GELU MLP,
pre-LayerNorm, tied embeddings), trained on random tokens: the step's arithmetic, not the text.
"""

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

import tensortap as ttap
from step_timing import alternating, run_counters, time_steps


class SelfAttention(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.proj = torch.nn.Linear(width, width)

    def forward(self, x):
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2)
                   for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, tokens, width))


class Block(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads)
        self.ln2 = torch.nn.LayerNorm(width)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, 4 * width), torch.nn.GELU(),
                                       torch.nn.Linear(4 * width, width))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(torch.nn.Module):
    def __init__(self, vocab, context, width, layers, heads):
        super().__init__()
        self.tokens = torch.nn.Embedding(vocab, width)
        self.positions = torch.nn.Embedding(context, width)
        self.blocks = torch.nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tokens.weight  # tied, as GPT-2 and nanoGPT do

    def forward(self, idx):
        x = self.tokens(idx) + self.positions(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def make_model(args, seed=0):
    torch.manual_seed(seed)
    return GPT(args.vocab, args.context, args.width, args.layers, args.heads)


def make_batches(args, count=8, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, args.vocab, (args.batch, args.context + 1), generator=generator)
            for _ in range(count)]


def train(model, optimizer, batches, steps):
    """Time per training step over `steps` steps, after 3 untimed warm-up steps."""

    def one_step(i):
        data = batches[i % len(batches)]
        logits = model(data[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return time_steps(one_step, steps, warmup=3)


def binding_step_cost(args, work_dir, calls=2000):
    """CPU seconds of the binding's per-step work outside the runtime's count: step() with no
    sample due (every=2^40) after every gradient moved to new memory, as after
    zero_grad(set_to_none=True); the moves themselves (two sets of gradients swapped) are timed
    apart and left out."""
    model = make_model(args)
    parameters = list(model.parameters())
    gradient_sets = [[torch.zeros_like(p) for p in parameters] for _ in range(2)]

    def move_gradients(i):
        for p, g in zip(parameters, gradient_sets[i % 2]):
            p.grad = g

    with ttap.Session(os.path.join(work_dir, "binding"), every=1 << 40) as session:
        session.watch(model)
        move_gradients(0)
        session.step()  # the one sample: binds every gradient
        start = time.process_time()
        for i in range(1, calls + 1):
            move_gradients(i)
            session.step()
        with_steps = time.process_time() - start
    start = time.process_time()
    for i in range(1, calls + 1):
        move_gradients(i)
    return max(with_steps - (time.process_time() - start), 0.0) / calls


def measure(args):
    batches = make_batches(args)
    runs = {"baseline": [], "tensortap": []}
    counters = []
    with tempfile.TemporaryDirectory(prefix="ttap-bench-gpt-") as work_dir:
        for rep, label in alternating(["baseline", "tensortap"], args.reps):
            model = make_model(args)
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
            if label == "baseline":
                runs[label].append(train(model, optimizer, batches, args.steps))
                continue
            run_dir = os.path.join(work_dir, f"run-{rep}")
            options = {} if args.budget is None else {"budget": args.budget}
            with ttap.Session(run_dir, **options) as session:
                session.watch(model, optimizer=optimizer)
                runs[label].append(train(model, optimizer, batches, args.steps))
            counters.append(run_counters(run_dir))
        binding_s = binding_step_cost(args, work_dir)
    ratios = [t.wall_s / b.wall_s for t, b in zip(runs["tensortap"], runs["baseline"])]
    cpu_ratios = [t.cpu_s / b.cpu_s for t, b in zip(runs["tensortap"], runs["baseline"])]
    baseline_cpu_s = statistics.median(b.cpu_s for b in runs["baseline"])
    model = make_model(args)
    return {
        "model": {"layers": args.layers, "heads": args.heads, "width": args.width,
                  "context": args.context, "batch": args.batch, "vocab": args.vocab,
                  "parameter_tensors": sum(1 for _ in model.parameters()),
                  "elements": sum(p.numel() for p in model.parameters())},
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "steps": args.steps, "reps": args.reps,
        "budget": args.budget if args.budget is not None else "default",
        "baseline_step_ms": [t.wall_s * 1e3 for t in runs["baseline"]],
        "tensortap_step_ms": [t.wall_s * 1e3 for t in runs["tensortap"]],
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "baseline_cpu_ms": [t.cpu_s * 1e3 for t in runs["baseline"]],
        "tensortap_cpu_ms": [t.cpu_s * 1e3 for t in runs["tensortap"]],
        "cpu_ratios": cpu_ratios,
        "median_cpu_ratio": statistics.median(cpu_ratios),
        "samples_taken_per_run": [c["samples_taken"] for c in counters],
        "counter_overhead_fraction": [
            c["overhead_seconds"] / c["step_seconds"] if c["step_seconds"] else math.nan
            for c in counters],
        "binding_step_us": binding_s * 1e6,
        "binding_fraction_of_baseline_cpu": binding_s / baseline_cpu_s,
        "load_average": os.getloadavg()[0],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=65)  # nanoGPT's shakespeare_char
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--budget", type=float, default=None, help="default: the runtime's")
    # One thread by default: on a shared, loaded machine torch's OpenMP threads spin against other
    # processes (2 threads measured 40x slower per step than 1 here), which would swamp the ratio.
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    r = measure(args)
    if args.json:
        print(json.dumps(r))
        return 0
    m = r["model"]
    print(f"small GPT on the CPU ({m['layers']} layers, {m['heads']} heads, width {m['width']}, "
          f"context {m['context']}, batch {m['batch']}; {m['parameter_tensors']} parameter "
          f"tensors, {m['elements']} elements), torch {r['torch']}, {r['torch_threads']} threads, "
          f"{r['steps']} steps x {r['reps']} reps, budget {r['budget']}")
    for label in ("baseline", "tensortap"):
        times = " ".join(f"{t:.2f}" for t in r[f"{label}_step_ms"])
        print(f"  {label:10s} ms/step per rep: {times}")
    print(f"  ratio per rep: {' '.join(f'{x:.3f}' for x in r['ratios'])}; "
          f"median {r['median_ratio']:.3f} (target <= 1.01)")
    for label in ("baseline", "tensortap"):
        times = " ".join(f"{t:.2f}" for t in r[f"{label}_cpu_ms"])
        print(f"  {label:10s} CPU ms/step per rep (every thread): {times}")
    print(f"  CPU-time ratio per rep: {' '.join(f'{x:.3f}' for x in r['cpu_ratios'])}; "
          f"median {r['median_cpu_ratio']:.3f}")
    fractions = " ".join(f"{x:.4f}" for x in r["counter_overhead_fraction"])
    print(f"  samples taken per run {r['samples_taken_per_run']}; runtime's own overhead / step "
          f"time: {fractions}")
    print(f"  binding's per-step work outside that count: {r['binding_step_us']:.1f} us CPU "
          f"= {r['binding_fraction_of_baseline_cpu']:.5f} of a baseline step's CPU time")
    print(f"  load average (1 min) at the end: {r['load_average']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
