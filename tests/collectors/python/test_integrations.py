"""The framework callbacks: Lightning's Trainer with tensortap.integrations.lightning.TensorTap and
Hugging Face's Trainer with tensortap.integrations.transformers.TensorTapCallback, each training a
tiny model for 20 optimizer steps with gradient clipping and a NaN planted in one gradient at a
known step: the first alert names that parameter and that step (in the framework's numbering),
and every step's stored gradient norms are the unclipped ones. Skipped where the framework is not
installed (it is in the torch 2.x environment, scripts/torch2-venv.sh)."""

import math

import pytest
import torch

from training_support import batches, grad_l2, query

STEPS = 20
NAN_STEP = 7


def first_nonfinite(run_dir):
    return query(run_dir, "SELECT step, tensor FROM alerts_v WHERE type = 'nonfinite' "
                          "ORDER BY step, rowid LIMIT 1")


def nan_at(run_dir, step):
    return query(run_dir, "SELECT tensor FROM samples_v WHERE step = ? AND nan > 0", (step,))


def check_norms(run_dir, expected):
    """The stored l2 of every gradient at every step without a NaN, against `expected`."""
    stored = grad_l2(run_dir)
    assert {s for s, _ in stored} == {s for s, _ in expected}
    finite = {k: v for k, v in expected.items() if math.isfinite(v) and k[0] != NAN_STEP}
    worst = max(abs(stored[k] - v) / v for k, v in finite.items())
    print(f"{len(finite)} gradient samples against the unclipped gradients: max rel err {worst:.2e}")
    assert worst <= 1e-6


def unclipped_norms(model, step, into):
    for name, p in model.named_parameters():
        if p.grad is not None:
            into[(step, name + ".grad")] = torch.linalg.vector_norm(p.grad.double()).item()


def test_lightning_callback_names_the_parameter_and_step_of_a_nan(run_dir):
    lightning = pytest.importorskip("lightning")
    from tensortap.integrations.lightning import TensorTap

    expected = {}

    class Classifier(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.body = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh())
            self.head = torch.nn.Linear(32, 4)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.head(self.body(x)), y)

        def on_after_backward(self):
            # A bad batch's gradient, planted before Lightning clips (which would spread it).
            if self.global_step == NAN_STEP:
                with torch.no_grad():
                    self.head.weight.grad[1, 2] = float("nan")

        def on_before_optimizer_step(self, optimizer):
            # Runs after the callbacks' hook of the same name, before the clip: the gradients
            # tensortap has just sampled.
            unclipped_norms(self, self.global_step, expected)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = batches(2 * STEPS, batch_size=16)
    loader = torch.utils.data.DataLoader(data, batch_size=None)
    tap = TensorTap(run_dir=run_dir, budget=0)
    trainer = lightning.Trainer(max_steps=STEPS, accumulate_grad_batches=2, gradient_clip_val=0.5,
                                callbacks=[tap], accelerator="cpu", logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False)
    trainer.fit(Classifier(), loader)
    assert tap.session is None  # closed when fit ended: the store is complete
    assert first_nonfinite(run_dir) == [(NAN_STEP, "head.weight.grad")]
    assert nan_at(run_dir, NAN_STEP) == [("head.weight.grad",)]  # not every clipped gradient
    assert {s for s, _ in grad_l2(run_dir)} == set(range(STEPS))
    check_norms(run_dir, expected)


def test_transformers_trainer_callback_names_the_parameter_and_step_of_a_nan(run_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    from tensortap.integrations.transformers import TensorTapCallback

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.body = torch.nn.Linear(16, 32)
            self.head = torch.nn.Linear(32, 4)

        def forward(self, x, labels=None):
            logits = self.head(torch.tanh(self.body(x)))
            return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}

    model = Classifier()
    expected = {}
    original_clip = torch.nn.utils.clip_grad_norm_

    data = [{"x": x[i], "labels": y[i]} for x, y in batches(STEPS, batch_size=16)
            for i in range(16)]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=16, max_steps=STEPS,
        learning_rate=0.1, max_grad_norm=0.5, logging_strategy="no", save_strategy="no",
        report_to=[], use_cpu=True, dataloader_num_workers=0, lr_scheduler_type="constant",
        optim="sgd")
    tap = TensorTapCallback(run_dir=run_dir, budget=0)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[tap])

    # The NaN and the reference norms come from the backward itself: a hook on the head's
    # gradient, when that step's backward produces it (the Trainer numbers it global_step + 1).
    def on_head_grad(grad):
        step = trainer.state.global_step + 1
        if step == NAN_STEP:
            grad = grad.clone()
            grad[1, 2] = float("nan")
        return grad

    model.head.weight.register_hook(on_head_grad)

    def record_then_clip(parameters, *args, **kwargs):
        parameters = list(parameters)
        unclipped_norms(model, trainer.state.global_step + 1, expected)
        return original_clip(parameters, *args, **kwargs)

    # Seen by the Trainer through accelerate, which calls torch.nn.utils.clip_grad_norm_; set
    # before train() so that tensortap's patch wraps this one and runs first.
    torch.nn.utils.clip_grad_norm_ = record_then_clip
    try:
        trainer.train()
    finally:
        torch.nn.utils.clip_grad_norm_ = original_clip
    assert tap.session is None
    assert first_nonfinite(run_dir) == [(NAN_STEP, "head.weight.grad")]
    assert nan_at(run_dir, NAN_STEP) == [("head.weight.grad",)]  # not every clipped gradient
    assert {s for s, _ in grad_l2(run_dir)} == set(range(1, STEPS + 1))
    check_norms(run_dir, expected)
