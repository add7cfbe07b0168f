"""tensortap as a Hugging Face Trainer callback:

    from tensortap.integrations.transformers import TensorTapCallback
    trainer = transformers.Trainer(..., callbacks=[TensorTapCallback()])

The Trainer clips gradients before its on_pre_optimizer_step event and zeroes them before
on_step_end, so neither event sees the gradients users mean: tensortap samples when the watched
parameters are clipped (before the clip) or, without clipping, at on_pre_optimizer_step. Steps are
numbered as the Trainer's logs and checkpoints number them: state.global_step once the step is
done (1 for the first optimizer step).
"""

from transformers import TrainerCallback

from . import FrameworkWatch


class TensorTapCallback(TrainerCallback):
    """Watches the Trainer's model. Options as tensortap.watch (grads, params, activations,
    include, exclude, every, prefix); run_dir and **options open the default session as
    tensortap.init does when none is open (it is then closed when training ends)."""

    def __init__(self, grads=True, params=False, activations=False, include=None, exclude=None,
                 every=None, prefix="", run_dir=None, **options):
        self._watch = FrameworkWatch(grads, params, activations, include, exclude, every, prefix,
                                     run_dir, options)

    @property
    def session(self):
        """The tensortap session while training runs, else None."""
        return self._watch.session

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is not None:
            self._watch.start(model, state.global_step + 1)

    def on_step_begin(self, args, state, control, **kwargs):
        self._watch.step_begins(state.global_step + 1)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self._watch.before_update(state.global_step + 1)

    def on_optimizer_step(self, args, state, control, **kwargs):
        self._watch.after_update()

    def on_train_end(self, args, state, control, **kwargs):
        self._watch.stop()
