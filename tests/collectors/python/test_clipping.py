"""The capture point of a watched optimizer step: gradients are sampled accumulated and unscaled,
before clip_grad_norm_/clip_grad_value_ changes them. A NaN is named in the tensor that held it
(not in every tensor the clip spread it to), the stored global norm is the one clip_grad_norm_
returns, and with GradScaler the stored l2 is the unscaled gradient's. Runs on torch 1.13 and 2.x.
"""

import math

import pytest
import torch

from training_support import batches, grad_l2, make_mlp, query

STEPS = 20


def loss_of(model, x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


def norms(model):
    return {n + ".grad": torch.linalg.vector_norm(p.grad.double()).item()
            for n, p in model.named_parameters() if p.grad is not None}


def global_norms(run_dir):
    """{step: sqrt(sum of the stored gradients' l2^2)}: the report's global gradient norm."""
    rows = query(run_dir, "SELECT step, sum(l2 * l2) FROM samples_v WHERE kind = 'grad' "
                          "GROUP BY step")
    return {step: math.sqrt(total) for step, total in rows}


def max_relative_error(stored, expected):
    assert set(stored) == set(expected)
    return max(abs(stored[k] - v) / v for k, v in expected.items())


def test_nan_is_named_in_the_tensor_that_held_it_not_in_every_clipped_one(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    nan_step = 12
    for step, (x, y) in enumerate(batches(STEPS)):
        opt.zero_grad()
        loss_of(model, x, y).backward()
        if step == nan_step:
            with torch.no_grad():
                model[2].weight.grad[3, 5] = float("nan")
        total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        if step == nan_step:
            # What the clip did: every gradient is NaN now. tensortap saw them before.
            assert math.isnan(float(total))
            assert all(torch.isnan(p.grad).all() for p in model.parameters())
        opt.step()
    ttap.close()
    first = query(run_dir, "SELECT step, tensor FROM alerts_v WHERE type = 'nonfinite' "
                           "ORDER BY step, rowid LIMIT 1")
    assert first == [(nan_step, "2.weight.grad")]
    at_step = query(run_dir, "SELECT tensor, nan FROM samples_v WHERE step = ? AND nan > 0",
                    (nan_step,))
    assert at_step == [("2.weight.grad", 1)]


def test_stored_global_norm_is_what_clip_grad_norm_returns(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    returned, expected = {}, {}
    for step, (x, y) in enumerate(batches(STEPS)):
        opt.zero_grad()
        loss_of(model, x, y).backward()
        expected.update({(step, k): v for k, v in norms(model).items()})
        returned[step] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.1))
        opt.step()
    ttap.close()
    assert min(returned.values()) > 0.1  # the clip did change every step's gradients
    worst = max_relative_error(global_norms(run_dir), returned)
    print(f"global norm vs clip_grad_norm_'s: max relative error {worst:.2e}")
    assert worst <= 1e-5
    assert max_relative_error(grad_l2(run_dir), expected) <= 1e-6  # per tensor: before the clip


def test_clip_grad_value_and_accumulation_sample_once_per_step_before_the_clip(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    data = batches(4 * 8)
    expected = {}
    for step in range(8):
        opt.zero_grad()
        for x, y in data[4 * step:4 * step + 4]:
            (loss_of(model, x, y) / 4).backward()
        expected.update({(step, k): v for k, v in norms(model).items()})
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=2.0 ** -10)  # exact in fp32
        assert max(p.grad.abs().max().item() for p in model.parameters()) <= 2.0 ** -10
        opt.step()
    ttap.close()
    assert max_relative_error(grad_l2(run_dir), expected) <= 1e-6


def test_clipping_other_parameters_does_not_sample(ttap, run_dir):
    model, other = make_mlp(), make_mlp(seed=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    other_opt = torch.optim.SGD(other.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt, include="0.*")
    expected = {}
    for step, (x, y) in enumerate(batches(5)):
        opt.zero_grad()
        other_opt.zero_grad()
        loss_of(model, x, y).backward()
        loss_of(other, x, y).backward()
        torch.nn.utils.clip_grad_norm_(other.parameters(), 1e-3)  # not watched: no sample here
        torch.nn.utils.clip_grad_norm_(model[2].parameters(), 1e-3)  # not watched either
        expected.update({(step, k): v for k, v in norms(model).items() if k.startswith("0.")})
        opt.step()  # sampled here: layer 0 unclipped, as at the optimizer step
        other_opt.step()
    ttap.close()
    assert max_relative_error(grad_l2(run_dir), expected) <= 1e-6


def test_steps_marked_by_hand_ignore_clipping_and_close_restores_torch(ttap, run_dir):
    original = torch.nn.utils.clip_grad_norm_
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    ttap.watch(model)  # no optimizer: the user's step() is the capture point, wherever it is
    assert torch.nn.utils.clip_grad_norm_ is original  # nothing patched for a manual session
    expected = {}
    for step, (x, y) in enumerate(batches(4)):
        opt.zero_grad()
        loss_of(model, x, y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        expected.update({(step, k): v for k, v in norms(model).items()})  # after the clip
        ttap.step()
        opt.step()
    ttap.watch(model, optimizer=opt)
    assert torch.nn.utils.clip_grad_norm_ is not original
    ttap.close()
    assert torch.nn.utils.clip_grad_norm_ is original
    assert torch.nn.utils.clip_grad.clip_grad_norm_ is original
    assert max_relative_error(grad_l2(run_dir), expected) <= 1e-6


def cpu_grad_scaler(init_scale):
    """A GradScaler that really scales on the CPU (torch 2.3+: torch.amp.GradScaler("cpu")), or
    None: torch 1.13's GradScaler is CUDA-only and disables itself without a GPU."""
    amp = getattr(torch, "amp", None)
    if amp is None or not hasattr(amp, "GradScaler"):
        return None
    return amp.GradScaler("cpu", init_scale=init_scale)


@pytest.mark.parametrize("clip", [False, True])
def test_grad_scaler_stores_the_unscaled_gradients(ttap, run_dir, clip):
    scaler = cpu_grad_scaler(init_scale=2.0 ** 12)
    if scaler is None:
        pytest.skip(f"torch {torch.__version__}: GradScaler runs only on CUDA devices (torch 2.3+ "
                    "has a CPU GradScaler; this test runs in the torch 2.x environment)")
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    expected, scaled_seen = {}, False
    inf_step = 6
    for step, (x, y) in enumerate(batches(12)):
        opt.zero_grad()
        scaler.scale(loss_of(model, x, y)).backward()
        if step == inf_step:  # an overflow, as fp16 training meets them: GradScaler skips the step
            with torch.no_grad():
                model[4].bias.grad[1] = float("inf")
        scaled_seen = scaled_seen or norms(model)["0.weight.grad"] > 100
        scaler.unscale_(opt)
        expected.update({(step, k): v for k, v in norms(model).items()})
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        scaler.step(opt)
        scaler.update()
    ttap.close()
    assert scaled_seen  # the loss really was scaled
    stored = grad_l2(run_dir)
    if not clip:
        # Without a clip the sample is taken at optimizer.step(), which GradScaler does not call
        # for a step with Inf: that step has no sample, and the next one takes its number.
        assert {s for s, _ in stored} == set(range(11))
        expected = {(s - (s > inf_step), k): v for (s, k), v in expected.items() if s != inf_step}
    else:
        first = query(run_dir, "SELECT step, tensor FROM alerts_v WHERE type = 'nonfinite' "
                               "ORDER BY step, rowid LIMIT 1")
        assert first == [(inf_step, "4.bias.grad")]
        expected = {k: v for k, v in expected.items() if math.isfinite(v)}
        stored = {k: v for k, v in stored.items() if k in expected}
    assert max_relative_error(stored, expected) <= 1e-6
