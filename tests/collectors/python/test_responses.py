"""Acting on an anomaly from PyTorch: watch(optimizer=opt, on_nonfinite="skip+dump") leaves out
the update of the step whose gradient holds a planted NaN (parameters and optimizer state bitwise
unchanged, the step counted, training going on), dumps the evidence (`ttap stats --where-nonfinite`
finds the planted index in it), and on_alert hands the alert to a callback on the training thread;
GradScaler composes with the skip; bad policies are refused with the allowed values."""

import math
import os
import subprocess
import threading

import pytest
import torch

from training_support import batches, make_mlp, query

NAN_STEP = 12
PLANTED = (3, 5)  # in the second Linear's weight gradient (32 x 32)


def snapshot(model, opt):
    params = [p.detach().clone() for p in model.parameters()]
    state = {k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()}
             for k, s in ((id(p), opt.state[p]) for p in model.parameters()) if s}
    return params, state


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(-1).view(torch.int32),
                                                                      b.view(-1).view(torch.int32))


def train_with_nan(ttap, model, opt, steps, scaler=None, on_step=None):
    """Trains `steps` steps; at NAN_STEP a NaN goes into one gradient after backward. Returns the
    losses and the snapshots around the bad step."""
    losses, around = [], {}
    target = model[2].weight
    for step, (x, y) in enumerate(batches(steps)):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        (scaler.scale(loss) if scaler else loss).backward()
        if step == NAN_STEP:
            target.grad[PLANTED] = float("nan")
            around["before"] = snapshot(model, opt)
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        if step == NAN_STEP:
            around["after"] = snapshot(model, opt)
        if on_step:
            on_step(step)
        losses.append(loss.item())
    return losses, around


def test_skip_and_dump_leave_the_bad_step_out_and_keep_the_evidence(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    # The run directory is this test's: init() opens the session (with the same policy watch()
    # asks for; watch() alone would open it with the policy).
    ttap.init(run_dir, backend="cpu", on_nonfinite="skip+dump")
    ttap.watch(model, optimizer=opt, params=True, on_nonfinite="skip+dump")
    received = []
    current = {"step": 0}

    @ttap.on_alert
    def remember(alert):
        received.append((dict(alert), current["step"], threading.current_thread()))

    losses, around = train_with_nan(ttap, model, opt, 30,
                                    on_step=lambda step: current.update(step=step + 1))
    ttap.flush()

    # The update of the bad step was left out: every parameter, and Adam's state, bitwise as
    # they were before it; the step was still counted, and training went on to a finite loss.
    params_before, state_before = around["before"]
    params_after, state_after = around["after"]
    for a, b in zip(params_before, params_after):
        assert same(a, b)
    assert state_before.keys() == state_after.keys()
    for key in state_before:
        for name, value in state_before[key].items():
            other = state_after[key][name]
            assert same(value, other) if torch.is_tensor(value) else value == other
    assert math.isfinite(losses[-1])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert opt.state[model[0].weight]["step"] == 29  # 30 steps, one update left out
    assert ttap.get_session().current_step == 30

    actions = query(run_dir, "SELECT step, action, reason, detail FROM actions_v ORDER BY time")
    dump = os.path.join(os.path.abspath(run_dir), "dumps", f"step-{NAN_STEP}-rank-0")
    assert actions == [(NAN_STEP, "skip", "nonfinite", "2.weight.grad"),
                       (NAN_STEP, "dump", "nonfinite", dump)]
    assert os.path.isfile(os.path.join(dump, "tensors.safetensors"))
    out = subprocess.run([os.environ["TTAP_BINARY"], "stats", dump, "--where-nonfinite"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "2.weight.grad [32, 32]: 1 non-finite" in out.stdout, out.stdout
    assert f"    [{PLANTED[0]}, {PLANTED[1]}] nan" in out.stdout, out.stdout

    # The alert reached the callback once, on this (the training) thread, at the next step.
    nonfinite = [r for r in received if r[0]["type"] == "nonfinite"]
    assert len(nonfinite) == 1, received
    alert, delivered_at, thread = nonfinite[0]
    assert alert["step"] == NAN_STEP and alert["tensor"] == "2.weight.grad"
    # With a verdict that finds the NaN, the alert is handed over at the bad step itself.
    assert delivered_at == NAN_STEP, delivered_at
    assert thread is threading.current_thread()


def test_skip_composes_with_grad_scaler(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # GradScaler on a CPU model: enabled=False keeps its calls (step/update) without CUDA; the
    # wrapped optimizer.step() is what it calls, and what tensortap leaves out.
    scaler = torch.cuda.amp.GradScaler(enabled=False)
    ttap.init(run_dir, backend="cpu", on_nonfinite="skip")
    ttap.watch(model, optimizer=opt, on_nonfinite="skip")
    losses, around = train_with_nan(ttap, model, opt, 20, scaler=scaler)
    for a, b in zip(around["before"][0], around["after"][0]):
        assert same(a, b)
    assert math.isfinite(losses[-1])
    ttap.flush()
    assert query(run_dir, "SELECT step, action FROM actions_v") == [(NAN_STEP, "skip")]


def test_warn_leaves_the_update_in(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ttap.init(run_dir, backend="cpu", budget=0)
    ttap.watch(model, optimizer=opt)
    _, around = train_with_nan(ttap, model, opt, 15)
    changed = [not same(a, b) for a, b in zip(around["before"][0], around["after"][0])]
    assert any(changed)  # the NaN went in: the default only warns
    assert query(run_dir, "SELECT count(*) FROM actions_v") == [(0,)]


def test_bad_policies_are_refused_with_the_allowed_values(ttap, run_dir):
    model = make_mlp()
    with pytest.raises(ttap.TensorTapError, match="takes warn, skip, dump or abort"):
        ttap.watch(model, on_nonfinite="skip+explode")
    with pytest.raises(ttap.TensorTapError, match="takes warn, skip or dump"):
        ttap.init(run_dir, on_spike="abort")
    ttap.init(run_dir, on_nonfinite="dump+skip")
    assert ttap.get_session().config["on_nonfinite"] == "skip+dump"
    ttap.watch(model, on_nonfinite="skip+dump")  # the same policy: fine
    with pytest.raises(ValueError, match="the open session has on_nonfinite='skip\\+dump'"):
        ttap.watch(model, on_nonfinite="skip")
    with pytest.raises(TypeError, match="takes a callable"):
        ttap.on_alert(42)


@pytest.mark.skipif(not hasattr(torch, "amp") or not hasattr(torch.amp, "GradScaler"),
                    reason="torch.amp.GradScaler (with a CPU device) is torch 2.3+")
def test_skip_composes_with_an_enabled_grad_scaler(ttap, run_dir):
    """A real (enabled) torch.amp.GradScaler on CPU, in the usual AMP order: scale, backward,
    unscale_, clip, scaler.step, update. A NaN: tensortap's verdict (at the clip) says skip and
    the scaler skips the step itself; both agree, and the scale backs off. A finite gradient
    spike: the scaler lets the step through and tensortap leaves the update out, the scale
    untouched by it. Either way the parameters stay bitwise as they were, and training goes on."""
    spike_step = 20
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=1000)
    ttap.init(run_dir, backend="cpu", on_nonfinite="skip", on_spike="skip")
    ttap.watch(model, optimizer=opt, on_nonfinite="skip")
    target = model[2].weight
    around, scales, losses = {}, {}, []
    for step, (x, y) in enumerate(batches(30)):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        if step == NAN_STEP:
            target.grad[PLANTED] = float("nan")
        if step == spike_step:
            target.grad.mul_(1e4)  # finite: the scaler sees nothing wrong
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e9)  # samples the step (tensortap)
        if step in (NAN_STEP, spike_step):
            around[step] = [p.detach().clone() for p in model.parameters()]
            scales[step] = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        if step in (NAN_STEP, spike_step):
            for a, b in zip(around[step], model.parameters()):
                assert same(a, b.detach()), step
            scales[step] = (scales[step], scaler.get_scale())
        losses.append(loss.item())
    assert scales[NAN_STEP][1] < scales[NAN_STEP][0]  # the scaler skipped the NaN step too
    assert scales[spike_step][1] == scales[spike_step][0]  # to the scaler, a good step
    assert math.isfinite(losses[-1])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    ttap.flush()
    assert query(run_dir, "SELECT step, action, reason FROM actions_v ORDER BY step") == [
        (NAN_STEP, "skip", "nonfinite"), (spike_step, "skip", "spike")]
