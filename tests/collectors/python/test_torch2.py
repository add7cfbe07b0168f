"""torch 2.x: the optimizer's own step hooks instead of the 1.13 wrapper, and compiled models
(torch.compile and Module.compile) watched under their own names, without a graph break caused by
tensortap (fullgraph=True would raise on one) and with activations of compiled modules skipped
with one warning naming them. Skipped on torch 1.13."""

import warnings

import pytest
import torch

from training_support import batches, grad_l2, make_mlp

pytestmark = pytest.mark.skipif(not hasattr(torch, "compile"),
                                reason=f"torch {torch.__version__} has no torch.compile")


def train(model, opt, count):
    expected = {}
    for step, (x, y) in enumerate(batches(count)):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        for name, p in model.named_parameters():
            name = name.replace("_orig_mod.", "")
            expected[(step, name + ".grad")] = torch.linalg.vector_norm(p.grad.double()).item()
        opt.step()
    return expected


def assert_close(stored, expected):
    assert set(stored) == set(expected)
    assert max(abs(stored[k] - v) / v for k, v in expected.items()) <= 1e-6


def test_optimizer_step_hooks_are_used_not_a_wrapper(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    assert getattr(opt.__dict__.get("step"), "__module__", "").find("tensortap") < 0  # no wrapper
    assert len(opt._optimizer_step_pre_hooks) == 1 and len(opt._optimizer_step_post_hooks) == 1
    expected = {}
    for step, (x, y) in enumerate(batches(6)):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        expected.update({(step, n + ".grad"): torch.linalg.vector_norm(p.grad.double()).item()
                         for n, p in model.named_parameters()})
        opt.step()
        scheduler.step()
    ttap.close()
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    assert_close(grad_l2(run_dir), expected)


def test_compiled_model_is_watched_without_graph_breaks(ttap, run_dir):
    torch._dynamo.reset()
    eager = make_mlp()
    # The "eager" backend runs what dynamo captured without generating code: graph breaks are a
    # matter of capture, and fullgraph=True turns any of them into an error.
    model = torch.compile(eager, backend="eager", fullgraph=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ttap.watch(model, optimizer=opt, activations=True)
    messages = [str(w.message) for w in caught if issubclass(w.category, ttap.TensorTapWarning)]
    assert len(messages) == 1 and "compiled modules" in messages[0], messages
    assert "(the model)" in messages[0]
    expected = train(model, opt, 5)
    ttap.close()
    assert_close(grad_l2(run_dir), expected)  # names as in the model: "0.weight.grad"
    assert {t for _, t in grad_l2(run_dir)} == {n + ".grad" for n, _ in eager.named_parameters()}


def test_module_compiled_in_place_with_inductor(ttap, run_dir):
    torch._dynamo.reset()
    model = make_mlp()
    model[2].compile(fullgraph=True)  # one submodule, in place, the default backend (inductor)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    with pytest.warns(ttap.TensorTapWarning, match=r"compiled modules.*: 2\."):
        ttap.watch(model, optimizer=opt, activations=True)
    expected = train(model, opt, 4)
    ttap.close()
    assert_close(grad_l2(run_dir), expected)
    from training_support import query

    activations = {r[0] for r in query(run_dir, "SELECT DISTINCT tensor FROM samples_v "
                                                "WHERE kind = 'activation'")}
    assert activations == {"0", "1", "3", "4"}  # every module but the compiled one


def test_small_gpt_benchmark_reports_its_ratios_and_both_costs():
    """benchmarks/python/bench_gpt.py at a tiny size: it runs and reports what the target needs
    (wall and CPU ratios against its own baseline, the runtime's count, the binding's share)."""
    import json
    import os
    import subprocess
    import sys

    source = os.environ.get("TTAP_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    out = subprocess.run(
        [sys.executable, os.path.join(source, "benchmarks", "python", "bench_gpt.py"), "--layers",
         "1", "--width", "32", "--context", "16", "--batch", "2", "--steps", "4", "--reps", "2",
         "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert len(r["ratios"]) == len(r["cpu_ratios"]) == 2
    assert r["median_ratio"] > 0 and r["median_cpu_ratio"] > 0
    assert r["ratios"][0] == pytest.approx(r["tensortap_step_ms"][0] / r["baseline_step_ms"][0])
    assert all(n >= 1 for n in r["samples_taken_per_run"])
    assert all(0 < f < 1 for f in r["counter_overhead_fraction"])
    assert r["binding_step_us"] > 0
