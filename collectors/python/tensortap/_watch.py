"""What `watch(model)` installs: the model's gradients and parameters in the session's watch list,
forward hooks on its modules for activations (present only during the steps that sample them),
and one backward hook telling the session that new gradients exist. Compiled models are watched
through the module they wrap; sharded (DTensor) parameters by their local shard.

What each tensor is to a tensortap group (set_group) is declared where the binding knows it: a
DTensor's shard is sharded (its placements say so), the gradients of a DistributedDataParallel
model are replicated (DDP all-reduces them: every rank holds the same average), so the group
merges them as the whole tensor and as one replica respectively. The sharded=/replicated= globs of
init() still win.
"""

import fnmatch
import math
import time
import warnings
import weakref

import torch

from . import _tensortap
from ._steps import backward_hook
from ._tensors import group_role, is_dtensor


def _patterns(value, argument):
    if value is None:
        return None
    patterns = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"{argument}= takes a glob pattern or a list of them, got {value!r}")
    return patterns


class NameFilter:
    """include/exclude: shell-style patterns (fnmatch) on the model's own parameter names
    ("encoder.*.weight") and module names ("encoder.layers.*"), before any prefix. A name is kept
    when it matches an include pattern (or none were given) and no exclude pattern."""

    def __init__(self, include, exclude):
        self.include = _patterns(include, "include")
        self.exclude = _patterns(exclude, "exclude") or []

    def __call__(self, name):
        if self.include is not None and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
            return False
        return not any(fnmatch.fnmatchcase(name, p) for p in self.exclude)


class ActivationSampler:
    """Which steps have their module outputs observed: every `every` steps, and rarely enough that
    the hooks' time stays under `budget` x step time. Gradients and parameters are sampled inside
    ttap_step, where the runtime's sampler applies this rule; activations are observed by forward
    hooks, outside it, so the binding applies the same rule (runtime/sampler.cc: moving averages
    weighted 0.2, stride = ceil(cost / (budget x step time)), never below `every`)."""

    _WEIGHT = 0.2
    _MAX_STRIDE = 1 << 20

    def __init__(self, every, budget):
        self.every = every
        self.budget = budget
        self.stride = every
        self.last_step = None
        self._cost_ns = 0.0
        self._step_ns = 0.0

    def due(self, step):
        return self.last_step is None or step - self.last_step >= self.stride

    def step_time(self, ns):
        w = self._WEIGHT
        self._step_ns = ns if self._step_ns == 0 else (1 - w) * self._step_ns + w * ns

    def sampled(self, step, cost_ns):
        w = self._WEIGHT
        self.last_step = step
        self._cost_ns = cost_ns if self._cost_ns == 0 else (1 - w) * self._cost_ns + w * cost_ns
        self.stride = self.every
        if self.budget > 0 and self._step_ns > 0:
            steps = math.ceil(self._cost_ns / (self.budget * self._step_ns))
            self.stride = max(self.every, min(steps, self._MAX_STRIDE))


class ModelWatch:
    """One watch() of one model; remove() undoes it (its stored samples stay)."""

    def __init__(self, session, model, grads, params, activations, optimizer, include, exclude,
                 every, prefix):
        self._session = session
        self.model = weakref.ref(model)
        self.optimizer = optimizer  # the optimizer whose step() marks the steps, or None
        keep = NameFilter(include, exclude)
        core = session._core
        ddp = model is not unwrapped_ddp(model)
        model = unwrapped_ddp(model)  # names as in the model: "fc1.weight", not "module.fc1.weight"
        compiled = [""] if model is not uncompiled(model) else compiled_module_names(model)
        model = uncompiled(model)
        self._indices = []
        self._parameter_ids = set()
        self._backward_hook = None
        for name, parameter in model.named_parameters():
            name = plain_name(name)
            if not keep(name):
                continue
            full = prefix + name
            # A DTensor (FSDP2's fully_shard, tensor parallel) is read through its local shard.
            local = is_dtensor(parameter)
            role = group_role(parameter)
            grad_role = _tensortap.ROLE_REPLICATED if ddp and not local else role
            # Gradients as "<parameter>.grad", like the C examples and the store's documentation.
            if grads and parameter.requires_grad:
                self._indices.append(core.add_watched(full + ".grad", parameter, True,
                                                      _tensortap.GRAD, local, grad_role))
                self._parameter_ids.add(id(parameter))
                if self._backward_hook is None:
                    # One parameter is enough to know that a backward ran: one Python call per
                    # backward rather than one per parameter.
                    self._backward_hook = backward_hook(parameter, session._gradient_produced)
            if params:
                self._indices.append(
                    core.add_watched(full, parameter, False, _tensortap.PARAM, local, role))
        # Every named submodule (not the root: its output is the loss's input, observe() it if
        # wanted). Containers are included: a block's output is not always its last child's.
        # Compiled modules are left out: a hook calling tensortap inside a compiled graph would
        # break the graph there.
        self._modules = []
        if activations:
            self._modules = [
                (prefix + plain_name(name), module)
                for name, module in model.named_modules()
                if name and keep(plain_name(name)) and not _inside(plain_name(name), compiled)
            ]
            if compiled:
                names = ", ".join(prefix + n if n else "(the model)" for n in compiled)
                warnings.warn(
                    f"tensortap: activations of compiled modules are not observed (hooks would "
                    f"break their graphs): {names}. Gradients and parameters are still watched; "
                    "watch the model before torch.compile, or observe() outputs outside it",
                    session_warning(), stacklevel=4)
        self._sampler = None
        if self._modules:
            self._sampler = ActivationSampler(every, session.config["budget"])
        self._hooks = []
        self._observed = set()
        self._cost_ns = 0

    def watches_any(self, parameters):
        """Whether any of `parameters` has its gradient watched here."""
        ids = self._parameter_ids
        return any(id(p) in ids for p in parameters)

    def begin_step(self, step):
        """Installs the forward hooks if `step` (the step now in progress) samples activations."""
        if self._sampler is None or self._hooks or not self._sampler.due(step):
            return
        self._observed.clear()
        self._cost_ns = 0
        self._hooks = [m.register_forward_hook(self._make_hook(name)) for name, m in self._modules]

    def end_step(self, step, step_ns):
        """Removes the hooks after the step that used them and feeds the activation budget."""
        if self._sampler is None:
            return
        if step_ns:
            self._sampler.step_time(step_ns)
        if not self._hooks:
            return
        self._remove_hooks()
        # A step in which no forward ran observed nothing: the hooks come back for the next one.
        if self._observed:
            self._sampler.sampled(step, self._cost_ns)

    def _make_hook(self, name):
        def observe_output(module, inputs, output):
            # Only the first call in a step: with gradient accumulation the forward runs several
            # times per optimizer step, and the store keeps one sample per tensor and step.
            if name in self._observed:
                return
            self._observed.add(name)
            start = time.perf_counter_ns()
            self._session._observe_nested(name, output, _tensortap.ACTIVATION)
            self._cost_ns += time.perf_counter_ns() - start

        return observe_output

    def _remove_hooks(self):
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    def remove(self):
        """Stops watching this model: hooks removed, tensors unwatched (stored samples stay)."""
        if self in self._session._watches:
            self._session._unwatch(self)

    def detach(self):
        """The session's part of remove() and close()."""
        self._remove_hooks()
        if self._backward_hook is not None:
            self._backward_hook.remove()
            self._backward_hook = None
        self._parameter_ids = set()
        core = self._session._core
        for index in self._indices:
            core.remove_watched(index)
        self._indices = []
        self._modules = []
        self._sampler = None


def unwrapped_ddp(model):
    """The module a DistributedDataParallel wraps (its gradients are the ones DDP averaged)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.module
    return model


def uncompiled(model):
    """The module a torch.compile'd model (an OptimizedModule) wraps, else the model itself."""
    original = getattr(model, "_orig_mod", None)
    if original is not None and type(model).__name__ == "OptimizedModule":
        return original
    return model


def compiled_module_names(model):
    """Names ("" for the model itself) of the modules compiled as a whole: compiled in place
    (module.compile(), torch 2.2+) or replaced by an OptimizedModule (torch.compile(module))."""
    names = []
    for name, module in model.named_modules():
        if getattr(module, "_compiled_call_impl", None) is not None or \
                type(module).__name__ == "OptimizedModule":
            names.append(plain_name(name))
    return names


def plain_name(name):
    """A parameter or module name without the "_orig_mod" level torch.compile adds."""
    return name.replace("._orig_mod", "").replace("_orig_mod.", "").replace("_orig_mod", "")


def _inside(name, prefixes):
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


def session_warning():
    from ._session import TensorTapWarning

    return TensorTapWarning
