"""Which tensors the binding reads and how: every float dtype, permuted layouts read in place,
unsupported tensors skipped with exactly one warning each, gradients that move or vanish, a model
whose dtype changes after watch()."""

import math
import warnings

import pytest
import torch

from training_support import batches, grad_l2, make_mlp, query


def stored(run_dir, name):
    return query(run_dir, "SELECT step, kind, dtype, count, l2, min, max FROM samples_v "
                          "WHERE tensor = ? ORDER BY step", (name,))


def tensortap_warnings(record, ttap):
    return [str(w.message) for w in record if issubclass(w.category, ttap.TensorTapWarning)]


@pytest.mark.parametrize("dtype, code", [(torch.float32, "F32"), (torch.float16, "F16"),
                                         (torch.bfloat16, "BF16"), (torch.float64, "F64")])
def test_observe_reads_every_float_dtype_in_place(ttap, run_dir, dtype, code):
    t = torch.randn(1000, generator=torch.Generator().manual_seed(0)).to(dtype)
    ttap.init(run_dir)
    ttap.observe("x", t)
    ttap.close()
    [(step, kind, dtype_name, count, l2, lo, hi)] = stored(run_dir, "x")
    assert (step, kind, dtype_name, count) == (0, "other", code, 1000)
    assert l2 == pytest.approx(torch.linalg.vector_norm(t.double()).item(), rel=1e-6)
    assert (lo, hi) == (t.min().item(), t.max().item())


def test_permuted_layouts_are_read_as_the_block_they_are(ttap, run_dir):
    base = torch.randn(6, 7, 8)
    views = {
        "transposed": base.transpose(0, 2),
        "channels_last": torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last),
        "size_one_dims": torch.randn(5, 1, 3).permute(2, 1, 0),
        "empty": torch.empty(0, 4).t(),
    }
    ttap.init(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, view in views.items():
            assert name == "empty" or not view.is_contiguous()
            ttap.observe(name, view)
    ttap.close()
    for name, view in views.items():
        [(_, _, _, count, l2, _, _)] = stored(run_dir, name)
        assert count == view.numel()
        if count:
            assert l2 == pytest.approx(torch.linalg.vector_norm(view.double()).item(), rel=1e-6)


def test_unsupported_tensors_are_skipped_with_one_warning_each(ttap, run_dir):
    skipped = {
        "ints": (torch.arange(10), "dtype torch.int64"),
        "complex": (torch.randn(4, dtype=torch.complex64), "dtype torch.complex64"),
        "sparse": (torch.eye(3).to_sparse(), "layout torch.sparse_coo"),
        "strided_slice": (torch.randn(8, 8)[:, ::2], "gaps or repeats"),
        "expanded": (torch.randn(3, 1).expand(3, 4), "gaps or repeats"),
        "not_a_tensor": ([1.0, 2.0], "not a torch.Tensor"),
    }
    ttap.init(run_dir)
    with pytest.warns(ttap.TensorTapWarning) as record:
        for _ in range(3):  # warned once per name, however often it comes back
            for name, (value, _) in skipped.items():
                ttap.observe(name, value)
            ttap.observe("fine", torch.ones(3))
            ttap.step()
    messages = tensortap_warnings(record, ttap)
    assert len(messages) == len(skipped)
    for name, (_, reason) in skipped.items():
        assert any(f"'{name}'" in m and reason in m for m in messages), (name, messages)
    ttap.close()
    assert {r[0] for r in query(run_dir, "SELECT DISTINCT tensor FROM samples_v")} == {"fine"}


def test_sparse_gradients_are_skipped_and_the_others_sampled(ttap, run_dir):
    model = torch.nn.ModuleDict({"embed": torch.nn.Embedding(10, 4, sparse=True),
                                 "head": torch.nn.Linear(4, 2)})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    with pytest.warns(ttap.TensorTapWarning) as record:
        for _ in range(3):
            opt.zero_grad()
            model["head"](model["embed"](torch.tensor([1, 2, 3]))).sum().backward()
            opt.step()
    assert len(tensortap_warnings(record, ttap)) == 1
    assert "embed.weight.grad" in tensortap_warnings(record, ttap)[0]
    ttap.close()
    assert {t for _, t in grad_l2(run_dir)} == {"head.weight.grad", "head.bias.grad"}


def test_gradients_that_move_are_followed_and_none_gradients_skipped(ttap, run_dir):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    keep_alive, expected = [], {}
    for step in range(6):
        for name, p in model.named_parameters():
            if name.startswith("1.") and step % 2:
                p.grad = None  # no gradient this step: not sampled, no warning
                continue
            # A new gradient tensor every step, at a new address (the old ones are kept alive).
            p.grad = torch.randn_like(p)
            keep_alive.append(p.grad)
            expected[(step, name + ".grad")] = torch.linalg.vector_norm(p.grad.double()).item()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
    ttap.close()
    got = grad_l2(run_dir)
    assert set(got) == set(expected)
    assert all(got[k] == pytest.approx(v, rel=1e-6) for k, v in expected.items())


def test_bfloat16_training_is_summarized_in_its_own_dtype(ttap, run_dir):
    model = make_mlp().to(torch.bfloat16)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt, params=True)
    expected = {}
    for step, (x, y) in enumerate(batches(4)):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x.to(torch.bfloat16)).float(), y).backward()
        for name, p in model.named_parameters():
            expected[(step, name + ".grad")] = torch.linalg.vector_norm(p.grad.double()).item()
        opt.step()
    ttap.close()
    assert {r[0] for r in query(run_dir, "SELECT DISTINCT dtype FROM samples_v")} == {"BF16"}
    got = grad_l2(run_dir)
    assert all(got[k] == pytest.approx(v, rel=1e-6) for k, v in expected.items())


def test_a_dtype_change_after_watch_stops_that_tensor_with_one_warning(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt, params=True, grads=False)
    x, y = batches(1)[0]
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    model.to(torch.float64)  # new storage, new dtype: the runtime keeps one dtype per name
    with pytest.warns(ttap.TensorTapWarning) as record:
        for _ in range(2):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x.double()), y).backward()
            opt.step()
    messages = tensortap_warnings(record, ttap)
    assert len(messages) == len(list(model.parameters()))
    assert all("dtype or number of elements changed" in m for m in messages)
    ttap.close()
    assert {r[0] for r in query(run_dir, "SELECT DISTINCT step FROM samples_v")} == {0}


def test_gradients_moved_to_new_memory_are_read_where_they_are_now(ttap, run_dir):
    """A gradient in new memory at every step (as zero_grad(set_to_none=True) makes it) is rebound
    without asking Python when only its address changed; a permuted one (dense, not contiguous)
    takes the full check. Each step's sample reads that step's memory."""
    model = torch.nn.Linear(8, 4)
    ttap.init(run_dir, budget=0)
    ttap.watch(model)
    kept = []  # every gradient stays alive, so that each step's is at a new address
    expected = {}
    for step in range(6):
        value = float(step + 1)
        if step == 3:
            weight_grad = torch.full((8, 4), value).t()  # permuted: describe() reads it densely
        else:
            weight_grad = torch.full((4, 8), value)
        model.weight.grad = weight_grad
        model.bias.grad = torch.full((4,), -value)
        kept += [model.weight.grad, model.bias.grad]
        expected[(step, "weight.grad")] = value * math.sqrt(32)
        expected[(step, "bias.grad")] = value * 2
        ttap.step()
    ttap.close()
    stored = dict(((s, t), l2) for s, t, l2 in query(
        run_dir, "SELECT step, tensor, l2 FROM samples_v WHERE kind = 'grad'"))
    assert set(stored) == set(expected)
    for key, want in expected.items():
        assert stored[key] == pytest.approx(want, rel=1e-6), key
