"""tensortap as a Lightning callback:

    from tensortap.integrations.lightning import TensorTap
    trainer = lightning.Trainer(callbacks=[TensorTap()])

Gradients are sampled in on_before_optimizer_step (accumulated, unscaled by the precision plugin,
before Lightning clips them), at Lightning's global_step (0 for the first optimizer step).
"""

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older package name
    from pytorch_lightning.callbacks import Callback

from . import FrameworkWatch


class TensorTap(Callback):
    """Watches the LightningModule under fit. Options as tensortap.watch (grads, params,
    activations, include, exclude, every, prefix); run_dir and **options open the default session
    as tensortap.init does when none is open (it is then closed when fit ends)."""

    def __init__(self, grads=True, params=False, activations=False, include=None, exclude=None,
                 every=None, prefix="", run_dir=None, **options):
        super().__init__()
        self._watch = FrameworkWatch(grads, params, activations, include, exclude, every, prefix,
                                     run_dir, options)

    @property
    def session(self):
        """The tensortap session while fit runs, else None."""
        return self._watch.session

    def on_fit_start(self, trainer, pl_module):
        self._watch.start(pl_module, trainer.global_step)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._watch.step_begins(trainer.global_step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self._watch.before_update(trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._watch.after_update()  # only after a batch that stepped the optimizer

    def on_fit_end(self, trainer, pl_module):
        self._watch.stop()

    def on_exception(self, trainer, pl_module, exception):
        self._watch.stop()
