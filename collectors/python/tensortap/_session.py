"""A tensortap session from Python: the run it writes, the models it watches, its step counter.

Steps: with watch(optimizer=opt) (or a framework callback) each optimizer step is one step,
numbered from 0, and its gradients are sampled once, fully accumulated and unscaled, before
clipping (see _steps.py); otherwise step() marks the steps. Activations, observe() and log() are
recorded at the step in progress: the one the next optimizer step (or mark) ends.
Nothing here runs a device synchronization or copies a tensor; hooks never raise into training.
"""

import os
import time
import warnings
import weakref

import torch

from . import _tensortap
from ._group import group_communicator
from ._steps import OptimizerStepHooks, listen_to_clipping, stop_listening_to_clipping
from ._tensors import flat_view
from ._watch import ModelWatch


class TensorTapWarning(UserWarning):
    """A tensor tensortap skips or stops sampling, or a call it ignores; each said once."""


# Every session not yet closed, for the exit handler.
open_sessions = weakref.WeakSet()


def _options_string(options):
    parts = []
    for key, value in options.items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if "," in text or "=" in text or "," in key or "=" in key:
            raise ValueError(f"option {key}={text!r}: keys and values cannot contain ',' or '='")
        parts.append(f"{key}={text}")
    return ",".join(parts)


def _current_stream():
    return torch.cuda.current_stream().cuda_stream


def _scalar(value):
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"log() takes one number, got a tensor of shape {tuple(value.shape)}")
        if value.device.type != "cpu":
            raise TypeError(
                "log() got a tensor on " + str(value.device) + ": reading it would synchronize "
                "with the device. Pass a Python number where your loop already syncs "
                "(e.g. loss.item() when you print it), or observe(name, tensor) to summarize it "
                "on the device"
            )
        return float(value)  # already in host memory: no synchronization
    return float(value)


class Session:
    """One run: a store in run_dir and the watched models. Usable as a context manager.

    run_dir: None for $TTAP_RUN_DIR (set by `ttap run`), else "ttap-run". options: the C API's keys
    (every, interval_ms, budget, backend, flush_ms, on_nonfinite, rank, world); unset keys come from
    the TTAP_* environment, then the defaults (`ttap env` lists them).
    """

    def __init__(self, run_dir=None, **options):
        if run_dir is not None:
            run_dir = os.fspath(run_dir)
        opts = _options_string(options)
        self.config = _tensortap.effective_config(run_dir, opts)
        self._core = _tensortap.Session(run_dir, opts, self._describe_watched, self._warn_watched)
        # The directory the C API opened: without one given, the next free ttap-run-N when
        # ttap-run holds an earlier run (config["run_dir"] says only "ttap-run").
        self.run_dir = self._core.run_dir()
        self.config["run_dir"] = self.run_dir
        self._pid = os.getpid()
        self._warned = set()
        self._watches = []
        self._driver = None  # the OptimizerStepHooks marking steps, when watch(optimizer=) was used
        self._driven = False  # steps come from an optimizer or a framework callback, not step()
        self._next_step = 0
        self._last_step = None
        self._last_mark_ns = None
        self._step_ns = None
        self._sampled = False  # the step in progress has been sampled (before clip or update)
        self._new_gradients = False  # a backward has run since that sample
        # Responses (on_nonfinite / on_spike with skip or dump): the step in progress is judged
        # right after its sample, and its update left out when the verdict says skip.
        self._judges = "skip" in self.config["on_nonfinite"] or "dump" in self.config[
            "on_nonfinite"] or "skip" in self.config["on_spike"] or "dump" in self.config["on_spike"]
        self._skips = "skip" in self.config["on_nonfinite"] or "skip" in self.config["on_spike"]
        self._skip_update = False  # the verdict of the step in progress said skip
        self._alert_callbacks = []
        open_sessions.add(self)

    # ---- the public methods (tensortap's module functions call these on the default session) ----

    @property
    def closed(self):
        return self._core.closed

    @property
    def current_step(self):
        """The step in progress: activations, observe() and log() are recorded at it."""
        return self._next_step

    def watch(self, model, grads=True, params=False, activations=False, optimizer=None,
              include=None, exclude=None, every=None, prefix=""):
        """Watches a model: gradients (as "<name>.grad"), parameters, module outputs. See
        tensortap.watch. A second watch of the same model replaces the first."""
        self._check_open()
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"watch() takes a torch.nn.Module, got {type(model).__name__}")
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"every={every!r}: expected an integer >= 1")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer= takes a torch.optim.Optimizer, got {type(optimizer).__name__}")
        previous = [w for w in self._watches if w.model() is model]
        if optimizer is not None and self._driver is not None:
            others = [w for w in self._watches if w not in previous and w.optimizer is not None]
            if self._driver.optimizer is not optimizer and others:
                raise ValueError(
                    "this session's steps are already marked by another optimizer's step(); one "
                    "optimizer drives a session. With several optimizers, watch without "
                    "optimizer= and call tensortap.step() once per training step"
                )
        if every is not None and every != self.config["every"] and (grads or params):
            self._warn_once(
                "every",
                f"watch(every={every}): gradients and parameters follow the session's "
                f"every={self.config['every']} (pass every= to init(), or TTAP_EVERY); "
                f"activations use every={every}",
            )
        for w in previous:
            self._unwatch(w)
        w = ModelWatch(self, model, grads, params, activations, optimizer, include, exclude,
                       every or self.config["every"], prefix)
        self._watches.append(w)
        if optimizer is not None and self._driver is None:
            # Leaving an update out needs the wrapper around optimizer.step (torch's step
            # pre-hooks cannot skip it).
            wrapper = {"use_wrapper": True} if self._skips else {}
            self._driver = OptimizerStepHooks(optimizer, self._before_update, self._after_update,
                                              **wrapper)
            self._set_driven(True)
        w.begin_step(self._next_step)
        return w

    def step(self, step=None):
        """Marks a training step: samples the watched gradients and parameters when the sampler
        says a sample is due (every / interval_ms / budget). Call it after backward() and before
        optimizer.step(); step: the step number (default: one more than the last).

        With watch(optimizer=...), steps are marked by optimizer.step() itself; then step(n) only
        sets the number the next optimizer step gets (e.g. a resumed run's global step)."""
        self._check_open()
        if step is not None:
            step = int(step)
            # The runtime allows a repeated step (the store keeps the first sample of it); the
            # number of an optimizer step yet to come must be a new one.
            last = -1 if self._last_step is None else self._last_step
            if step < 0 or step < last or (self._driven and step == last):
                raise ValueError(f"step {step} goes backwards (last step {self._last_step})")
        if self._driven:
            if step is None:
                self._warn_once(
                    "step-with-optimizer",
                    "step() ignored: with watch(optimizer=...) each optimizer.step() marks a step; "
                    "pass step=N to number the next one",
                )
            else:
                self._next_step = step
            return
        self._mark(self._next_step if step is None else step)

    def observe(self, name, tensor, step=None):
        """Summarizes one tensor now, under `name` (kind "other"), at the step in progress or
        `step`. A tensor that cannot be summarized is skipped with one warning."""
        self._check_open()
        self._observe_one(name, tensor, _tensortap.OTHER, step)

    def log(self, name, value, step=None):
        """Stores a scalar ("loss" feeds the loss-spike detector) at the step in progress (log
        before optimizer.step()) or `step`. value: a number or a one-element CPU tensor."""
        self._check_open()
        self._core.log_scalar(name, _scalar(value), self._next_step if step is None else int(step))

    def set_group(self, group=None):
        """Reduces this session's summaries across the ranks of `group` (see tensortap.set_group).
        Call it on every rank, before the first step."""
        self._check_open()
        if self._last_step is not None:
            raise RuntimeError("set_group: call it before the first step (samples are taken)")
        communicator = group_communicator(group)
        try:
            self._core.set_group(communicator.kind, communicator.comm)
        finally:
            communicator.release()

    def on_alert(self, callback):
        """Calls callback(alert) for each alert from now on, alert a dict with "step", "rank",
        "type", "tensor", "message". Alerts are raised on tensortap's collector thread; callbacks
        run on the training thread, at the next step (or flush()), never from that thread, so a
        callback may save a checkpoint or change the learning rate. With a skip or dump policy a step
        judged bad waits for the collector thread, so its alerts arrive at that step. Returns the
        callback."""
        if not callable(callback):
            raise TypeError(f"on_alert() takes a callable, got {type(callback).__name__}")
        self._alert_callbacks.append(callback)
        return callback

    def flush(self):
        """Waits until everything recorded so far is in the store."""
        self._check_open()
        self._core.flush()
        self._deliver_alerts()

    def close(self):
        """Removes every hook, flushes and closes the store. A second close does nothing."""
        if self._core.closed:
            return
        for w in list(self._watches):
            self._unwatch(w)
        if self._driver is not None:
            self._driver.remove()
            self._driver = None
        self._set_driven(False)
        open_sessions.discard(self)
        self._core.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        state = "closed" if self.closed else f"step {self._next_step}"
        return f"<tensortap.Session {self.run_dir} ({state})>"

    # ---- internals ----

    def _check_open(self):
        if self._core.closed:
            raise RuntimeError("this tensortap session is closed")

    def _unwatch(self, w):
        w.detach()
        self._watches.remove(w)
        if self._driver is not None and not any(x.optimizer is not None for x in self._watches):
            self._driver.remove()
            self._driver = None
            self._set_driven(False)

    def _set_driven(self, driven):
        """Steps marked by optimizer steps (or a framework's events): gradients are then also
        sampled when watched parameters are clipped, before the clip changes them."""
        self._driven = driven
        if driven:
            listen_to_clipping(self)
        else:
            stop_listening_to_clipping(self)

    def _sample(self):
        """ttap_step for the step in progress: the runtime samples the watched gradients and
        parameters when due."""
        now = time.perf_counter_ns()
        self._step_ns = now - self._last_mark_ns if self._last_mark_ns is not None else None
        self._last_mark_ns = now
        self._core.step(self._next_step, _current_stream)
        self._sampled = True
        self._new_gradients = False
        if self._judges:
            verdict = self._core.verdict(self._next_step)
            self._skip_update = verdict["action"] == "skip"
            if self._alert_callbacks and (verdict["nonfinite_tensors"] or verdict["spike"]):
                # A step judged bad: its alerts are raised on the collector thread; waiting for
                # it here (a bad step only) hands them to the callbacks at this very step.
                self._core.flush()
        self._deliver_alerts()

    def _deliver_alerts(self):
        """Hands the alerts raised since the last call to the on_alert callbacks (training
        thread). A callback that raises is reported once and kept."""
        if not self._alert_callbacks:
            return
        for alert in self._core.take_alerts():
            for callback in list(self._alert_callbacks):
                try:
                    callback(alert)
                except Exception as e:  # never break the training step
                    self._warn_once(f"on_alert:{id(callback)}",
                                    f"an on_alert callback raised {type(e).__name__}: {e}")

    def _advance(self):
        """Ends the step in progress: activation hooks off (and on again if the next step samples
        activations); what is recorded from now on belongs to the next step."""
        step = self._next_step
        for w in self._watches:
            w.end_step(step, self._step_ns)
        self._last_step = step
        self._next_step = step + 1
        self._sampled = False
        self._skip_update = False
        for w in self._watches:
            w.begin_step(self._next_step)

    def _mark(self, step):
        """step(): samples and ends the step in progress as `step`."""
        self._next_step = step
        self._sample()
        self._advance()

    def _before_update(self):
        """Gradients are final for this optimizer step (about to be clipped, or the optimizer is
        about to update): sampled once per step. New gradients since a sample whose update never
        came (GradScaler skipped the step on Inf) end that step first."""
        try:
            if self._sampled:
                if not self._new_gradients:
                    return not self._skip_update
                self._advance()
            self._sample()
        except Exception as e:  # never break the user's training step
            self._warn_once("optimizer-step", f"a step could not be sampled: {e}")
        # False: the verdict said skip, the optimizer's update is left out (its state untouched).
        return not self._skip_update

    def _after_update(self):
        try:
            self._advance()
        except Exception as e:
            self._warn_once("optimizer-step", f"a step could not be marked: {e}")

    def _before_clip(self, parameters):
        """Called by the patched clip functions: samples first when any of `parameters` is
        watched and the steps are optimizer steps (a step() by hand may come before or after)."""
        if not self._driven or self._core.closed:
            return
        if any(w.watches_any(parameters) for w in self._watches):
            self._before_update()

    def _gradient_produced(self):
        self._new_gradients = True

    # ---- for the framework callbacks (tensortap.integrations): their events drive the steps ----

    def _drive_from_framework(self):
        self._set_driven(True)

    def _framework_step_begins(self, step):
        """The framework's number for the optimizer step now accumulating its gradients."""
        if not self._sampled and (self._last_step is None or step > self._last_step):
            self._next_step = step

    def _framework_before_update(self, step):
        self._framework_step_begins(step)
        self._before_update()

    def _framework_after_update(self):
        if self._sampled:
            self._after_update()

    def _observe_nested(self, name, value, kind):
        """Observes the tensors in a module output: a tensor, or tuples/lists/dicts of them,
        named name[0], name[key], ... Used by the forward hooks: failures only warn."""
        if isinstance(value, torch.Tensor):
            try:
                self._observe_one(name, value, kind, None)
            except Exception as e:
                self._warn_once("tensor:" + name, f"tensor '{name}' not recorded: {e}")
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                self._observe_nested(f"{name}[{i}]", item, kind)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._observe_nested(f"{name}[{key}]", item, kind)

    def _observe_one(self, name, tensor, kind, step):
        view = flat_view(tensor)
        if isinstance(view, str):
            self._warn_once("tensor:" + name, f"tensor '{name}' skipped: it {view}")
            return
        ptr, code, numel, on_cuda = view
        stream = 0
        if on_cuda:
            current = torch.cuda.current_stream()
            stream = current.cuda_stream
            # The summary reads the tensor on this stream, later; should the tensor be freed
            # before, the caching allocator must not hand its memory to another stream meanwhile.
            # (No synchronization: the allocator records an event at free time.)
            tensor.record_stream(current)
        self._core.observe(name, ptr, code, numel, kind,
                           self._next_step if step is None else int(step), stream)

    def _describe_watched(self, name, tensor):
        """Called by the compiled session when a watched tensor is new or moved: flat_view's
        tuple and the shape (None for a dense tensor that is not contiguous: its memory is not in
        the shape's order)."""
        view = flat_view(tensor)
        if isinstance(view, str):
            self._warn_once("tensor:" + name, f"tensor '{name}' skipped: it {view}")
            return None
        local = tensor._local_tensor if hasattr(tensor, "_local_tensor") else tensor
        return view + (tuple(local.shape) if local.is_contiguous() else None,)

    def _warn_watched(self, name, message):
        self._warn_once("tensor:" + name, f"tensor '{name}' no longer sampled: {message}")

    def _warn_once(self, key, message):
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(f"tensortap: {message}", TensorTapWarning, stacklevel=3)
