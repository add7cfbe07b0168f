"""tensortap for PyTorch: per-layer summaries of gradients, parameters and activations (norms,
ranges, NaN/Inf counts, exponent histograms) sampled without host syncs or copies, with alerts and a
crash-safe store in the run directory.

    import tensortap as ttap
    ttap.watch(model, optimizer=opt)   # that is all: steps are marked at opt.step()

Lightning and Hugging Face: tensortap.integrations.lightning.TensorTap and
tensortap.integrations.transformers.TensorTapCallback.

The functions below act on a default session, opened by init() or, implicitly, by the first
watch(), observe(), log() or step(). Sessions still open at exit are closed (and flushed).
"""

import atexit
import os

from . import _tensortap
from ._session import Session, TensorTapWarning, open_sessions
from ._tensortap import TensorTapError

__version__ = _tensortap.__version__
__all__ = [
    "Session", "TensorTapError", "TensorTapWarning", "close", "flush", "get_session", "init", "log",
    "observe", "on_alert", "set_group", "step", "watch",
]

_default = None


def init(run_dir=None, **options):
    """Opens the default session and returns it (a Session, usable as a context manager).

    run_dir: the run directory, created if missing; None: $TTAP_RUN_DIR (which `ttap run` sets),
    else "ttap-run". options, as in the C API: every=N (sample every N steps), interval_ms=T,
    budget=F (tensortap's time on the training thread under F x step time, default 0.01),
    backend=auto|cpu|emulated|cuda, flush_ms=T, on_nonfinite=warn|skip|dump|abort (several joined
    by '+'), on_spike=warn|skip|dump, dump_max_mb=M, dump_max=N, rank=R, world=W.
    Raises RuntimeError if a default session is already open (close() it first).
    """
    global _default
    if _default is not None and not _default.closed:
        raise RuntimeError(
            f"a tensortap session is already open ({_default.run_dir}): call tensortap.close() "
            "before init() again"
        )
    _default = Session(run_dir, **options)
    return _default


def on_alert(callback):
    """Calls callback(alert) with each alert from now on (a dict: "step", "rank", "type",
    "tensor", "message"), on the training thread at the next step, never from tensortap's
    collector thread: for actions such as saving a checkpoint or lowering the learning rate.
    Opens the default session if none is open. Returns the callback (usable as a decorator)."""
    return _default_session().on_alert(callback)


def _canonical_policy(value):
    """"dump+skip" as the runtime prints it ("skip+dump"); "warn" alone stays."""
    words = [w for w in str(value).split("+") if w != "warn"]
    order = ["skip", "dump", "abort"]
    words.sort(key=lambda w: order.index(w) if w in order else len(order))
    return "+".join(words) or "warn"


def get_session():
    """The default session, or None when none is open."""
    return _default if _default is not None and not _default.closed else None


def _default_session(**options):
    session = get_session()
    return session if session is not None else init(**options)


def watch(model, grads=True, params=False, activations=False, optimizer=None, include=None,
          exclude=None, every=None, prefix="", on_nonfinite=None, on_spike=None):
    """Watches a torch.nn.Module; returns a handle whose remove() undoes it.

    grads: each parameter's gradient, named "<parameter name>.grad", sampled fully accumulated;
    params: the parameters themselves; activations: every submodule's output, named by the module
    ("encoder.layers.0"; tuple outputs "name[0]", ...). optimizer: each optimizer.step() is a
    step (counted from 0), its gradients sampled once, accumulated and unscaled, before clipping:
    when torch.nn.utils.clip_grad_norm_/clip_grad_value_ is called with watched parameters, else
    just before the update. Without it, call step() yourself. A torch.compile'd model or a
    DistributedDataParallel is watched under the wrapped module's names; DTensor (FSDP2)
    parameters by their local shard.
    include/exclude: glob patterns (or lists) on parameter and module names. every: sample
    activations every N steps (default: the session's every; also the session's every when this
    call opens the session). prefix: prepended to every name (two models in one run).
    A second watch of the same model replaces the first; close() removes everything.
    on_nonfinite, on_spike: the session's responses (they open it with them): "warn" (default),
    "skip" (with optimizer=, optimizer.step() leaves out the update of a step whose watched
    gradients hold NaN/Inf, or spiked: parameters and optimizer state untouched, the step counted;
    it composes with torch.cuda.amp.GradScaler, which skips fp16 overflow itself), "dump" (the
    offending tensors and recent summaries written under RUN_DIR/dumps/), on_nonfinite also
    "abort"; several joined by '+' ("skip+dump"). With skip or dump every step is sampled.
    """
    options = {k: v for k, v in (("every", every), ("on_nonfinite", on_nonfinite),
                                 ("on_spike", on_spike)) if v is not None}
    session = _default_session(**options)
    for key in ("on_nonfinite", "on_spike"):
        if key in options and session.config[key] != _canonical_policy(options[key]):
            raise ValueError(
                f"watch({key}={options[key]!r}): the open session has {key}="
                f"{session.config[key]!r}; pass it to init() or close() the session first")
    return session.watch(model, grads=grads, params=params, activations=activations,
                         optimizer=optimizer, include=include, exclude=exclude, every=every,
                         prefix=prefix)


def step(step=None):
    """Marks a training step (after backward, before optimizer.step()); see Session.step."""
    _default_session().step(step)


def observe(name, tensor, step=None):
    """Summarizes one tensor now, under `name`; see Session.observe."""
    _default_session().observe(name, tensor, step)


def log(name, value, step=None):
    """Stores a scalar such as the loss at the step in progress; see Session.log."""
    _default_session().log(name, value, step)


def set_group(group=None):
    """Makes the ranks of a data-parallel group one tensortap group: every sample is reduced
    across them, rank 0 writes one store for all (global summaries, a per-rank table, the group
    alerts nonfinite_source, divergence, outlier_rank, straggler). Call it on every rank, after
    init() and before the first step; every rank must then watch the same tensors.

    group: an mpi4py communicator; or a torch.distributed ProcessGroup spanning every rank of an
    MPI job (launched with mpirun; mpi4py installed), None meaning torch's default group. torch
    groups do not expose their communicator, so the reduction (of the summaries only) runs over
    MPI_COMM_WORLD split in the group's rank order. Parameters are compared as replicas,
    gradients as contributions (options replicated=, sharded= change that).
    Raises ValueError/RuntimeError when the group cannot be used; the session stays usable and
    each rank then stores its own summaries.
    """
    _default_session().set_group(group)


def flush():
    """Waits until everything recorded so far is in the default session's store."""
    session = get_session()
    if session is not None:
        session.flush()


def close():
    """Closes the default session: hooks removed, store flushed and closed. No-op without one."""
    global _default
    session, _default = _default, None
    if session is not None:
        session.close()


def _close_at_exit():
    # Only in the process that opened them: a forked child (a DataLoader worker) must not close
    # its parent's sessions.
    for session in list(open_sessions):
        if session._pid == os.getpid():
            try:
                session.close()
            except Exception as e:
                print(f"tensortap: closing {session.run_dir} at exit failed: {e}")


atexit.register(_close_at_exit)
