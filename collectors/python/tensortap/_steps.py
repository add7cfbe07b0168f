"""Where a watched training step is sampled: once per optimizer step, after gradient accumulation
and unscaling, BEFORE clipping. Clipping multiplies every gradient by max_norm / total_norm, so a
NaN in one gradient becomes a NaN in all of them, and the clipped norms are not the ones users log.

The hooks here tell the session three things: gradients are about to be clipped (the patched
torch.nn.utils.clip_grad_norm_/clip_grad_value_, called with watched parameters), the optimizer is
about to update (its step pre-hook) and has updated (its step post-hook). A backward hook on the
watched parameters says that new gradients exist, so that a step whose update was skipped (a
GradScaler that found Inf) is not confused with the next one.
"""

import functools
import types
import weakref

import torch

# torch 2.x: Optimizer.register_step_pre_hook/post_hook and Tensor.register_post_accumulate_grad_hook
# (2.1); torch 1.13 has neither, and gets the wrapper and Tensor.register_hook instead.
HAS_OPTIMIZER_STEP_HOOKS = hasattr(torch.optim.Optimizer, "register_step_pre_hook")
HAS_POST_ACCUMULATE_GRAD_HOOK = hasattr(torch.Tensor, "register_post_accumulate_grad_hook")


class OptimizerStepHooks:
    """Calls before_step() just before and after_step() just after every optimizer.step(). When
    before_step() returns False the wrapper leaves the update out (the step is still marked);
    only the wrapper can: torch's step pre-hooks cannot skip a step.

    torch 2.x: the optimizer's own step pre/post hooks. torch 1.13 has none, so the hook is a
    wrapper put in the optimizer instance's `step` attribute: a bound method (LR schedulers expect
    one) carrying over the markers they set on it. remove() takes the hooks off, or puts the
    previous attribute back (if something wrapped ours since, ours becomes a pass-through).
    """

    def __init__(self, optimizer, before_step, after_step, use_wrapper=not HAS_OPTIMIZER_STEP_HOOKS):
        self.optimizer = optimizer
        self._handles = []
        self._function = None
        if not use_wrapper:
            def pre_hook(opt, args, kwargs):
                before_step()  # its answer is the wrapper's to act on: a pre-hook returns None
                return None

            self._handles = [
                optimizer.register_step_pre_hook(pre_hook),
                optimizer.register_step_post_hook(lambda opt, args, kwargs: after_step()),
            ]
            return
        self._active = True
        self._previous = optimizer.__dict__.get("step")  # e.g. an LR scheduler's counting wrapper
        hook = self

        def step(opt, *args, **kwargs):
            update = True
            if hook._active:
                update = before_step() is not False
            if not update:
                result = None  # skipped: parameters and optimizer state untouched
            elif hook._previous is not None:
                result = hook._previous(*args, **kwargs)
            else:
                result = type(opt).step(opt, *args, **kwargs)
            if hook._active:
                after_step()
            return result

        functools.update_wrapper(step, self._previous or type(optimizer).step)
        self._function = step
        optimizer.step = types.MethodType(step, optimizer)

    def remove(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._function is None:
            return
        current = self.optimizer.__dict__.get("step")
        if getattr(current, "__func__", None) is self._function:
            if self._previous is None:
                del self.optimizer.step
            else:
                self.optimizer.step = self._previous
        else:
            self._active = False
        self._function = None


def backward_hook(parameter, on_gradient):
    """A hook calling on_gradient() when backward has produced (2.x: accumulated) a gradient for
    `parameter`; returns its handle, or None for a tensor that takes no hooks."""
    try:
        if HAS_POST_ACCUMULATE_GRAD_HOOK:
            return parameter.register_post_accumulate_grad_hook(lambda p: on_gradient())
        return parameter.register_hook(lambda grad: on_gradient())  # before accumulation: fine
    except RuntimeError:
        return None


# ---- clipping: torch.nn.utils.clip_grad_norm_ / clip_grad_value_, patched while a session listens

_clip_listeners = weakref.WeakSet()  # sessions with a step driver
_originals = {}  # (module, name) -> the function the patch replaced


def _clip_targets():
    import torch.nn.utils
    import torch.nn.utils.clip_grad

    return [(module, name)
            for module in (torch.nn.utils, torch.nn.utils.clip_grad)
            # clip_grads_with_norm_ (2.6+): what clip_grad_norm_ is made of, and what trainers
            # that compute the norm themselves call (Hugging Face's for mixed meshes).
            for name in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm",
                         "clip_grads_with_norm_")
            if hasattr(module, name)]


def _make_clip_wrapper(original):
    @functools.wraps(original)
    def clip(parameters, *args, **kwargs):
        if _clip_listeners:
            # A generator (model.parameters()) can be iterated once: the listeners and the clip
            # both need it.
            parameters = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
            for session in list(_clip_listeners):
                session._before_clip(parameters)
        return original(parameters, *args, **kwargs)

    clip._tensortap_original = original
    return clip


def listen_to_clipping(session):
    """Makes `session._before_clip(parameters)` run before every clip of gradients."""
    if not _originals:
        for module, name in _clip_targets():
            original = getattr(module, name)
            _originals[(module, name)] = original
            setattr(module, name, _make_clip_wrapper(original))
    _clip_listeners.add(session)


def stop_listening_to_clipping(session):
    """Undoes listen_to_clipping; the last listener gone, the original functions are put back
    (where something else replaced ours since, ours stays, as a pass-through)."""
    _clip_listeners.discard(session)
    if _clip_listeners:
        return
    for (module, name), original in list(_originals.items()):
        if getattr(getattr(module, name), "_tensortap_original", None) is original:
            setattr(module, name, original)
    _originals.clear()
