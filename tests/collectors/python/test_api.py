"""The module's API around the training loop: sessions and the default session, options, hooks that
are replaced rather than stacked and removed by close(), LR schedulers on a watched optimizer,
name filters, and the run directory taken from the environment as `ttap run` sets it."""

import os
import subprocess
import sys
import warnings

import pytest
import torch

from training_support import batches, grad_l2, make_mlp, query


def train(model, opt, count, seed=1):
    for x, y in batches(count, seed=seed):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def forward_hook_count(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_init_returns_a_context_manager_that_closes_the_store(ttap, run_dir):
    with ttap.init(run_dir, budget=0) as session:
        assert session.run_dir == os.path.abspath(run_dir)
        assert ttap.get_session() is session
        model = make_mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        ttap.watch(model, optimizer=opt)
        train(model, opt, 3)
    assert session.closed
    assert ttap.get_session() is None
    assert "step" not in opt.__dict__  # the optimizer hook is gone with the session
    assert not os.path.exists(os.path.join(run_dir, "ttap.db-wal"))  # closed cleanly
    assert len(grad_l2(run_dir)) == 3 * 6
    session.close()  # a second close does nothing


def test_without_a_run_directory_the_session_says_which_one_the_runtime_took(ttap, tmp_path,
                                                                            monkeypatch):
    # ttap-run holds a finished run, so the second session is stored in ttap-run-2: run_dir comes
    # from the C API (ttap_get_run_dir), not from the options.
    monkeypatch.chdir(tmp_path)
    first = ttap.Session(backend="cpu")
    first.close()
    second = ttap.Session(backend="cpu")
    try:
        assert first.run_dir == os.path.join(os.getcwd(), "ttap-run")
        assert second.run_dir == os.path.join(os.getcwd(), "ttap-run-2")
        assert second.config["run_dir"] == second.run_dir
        assert os.path.exists(os.path.join(second.run_dir, "ttap.db"))
    finally:
        second.close()


def test_a_directory_holding_a_finished_run_is_refused_unless_appending(ttap, run_dir):
    ttap.Session(run_dir, backend="cpu").close()
    with pytest.raises(ttap.TensorTapError, match="already holds a run") as refused:
        ttap.Session(run_dir, backend="cpu")
    assert "ttap run --force" in str(refused.value) and "mode=append" in str(refused.value)
    ttap.Session(run_dir, backend="cpu", mode="append").close()
    assert query(run_dir, "select count(*) from run_info") == [(2,)]


def test_second_init_while_open_is_an_error(ttap, run_dir):
    ttap.init(run_dir)
    with pytest.raises(RuntimeError, match="already open"):
        ttap.init(run_dir)


def test_options_are_checked_by_the_runtime(ttap, run_dir):
    with pytest.raises(ttap.TensorTapError, match="unknown option 'evry'"):
        ttap.init(run_dir, evry=3)
    with pytest.raises(ttap.TensorTapError, match="budget=2"):
        ttap.init(run_dir, budget=2)
    with pytest.raises(ValueError, match="cannot contain"):
        ttap.init(run_dir, backend="cpu,every=2")
    session = ttap.init(run_dir, every=3, budget=0.05, backend="cpu", on_nonfinite="warn")
    assert (session.config["every"], session.config["budget"]) == (3, 0.05)
    options = query(run_dir, "SELECT options FROM run_info")[0][0]
    assert "every=3" in options and "budget=0.05" in options and "backend=cpu" in options


def test_calls_after_close_are_errors(ttap, run_dir):
    session = ttap.init(run_dir)
    session.close()
    with pytest.raises(RuntimeError, match="closed"):
        session.log("loss", 1.0)
    with pytest.raises(RuntimeError, match="closed"):
        session.watch(make_mlp())


def test_set_group_says_what_it_cannot_use(ttap, run_dir):
    ttap.init(run_dir)
    with pytest.raises(RuntimeError, match="torch.distributed is not initialized"):
        ttap.set_group(None)
    with pytest.raises(TypeError, match="ProcessGroup, an mpi4py communicator"):
        with one_rank_torch_group(run_dir):
            ttap.set_group(object())
    assert not ttap.get_session().closed  # still usable: each rank stores its own summaries


def test_set_group_of_one_rank_and_after_the_first_step(ttap, run_dir):
    with one_rank_torch_group(run_dir):
        session = ttap.init(run_dir, budget=0)
        session.set_group()  # torch's default group, of one rank: tensortap's single group
        model = make_mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        ttap.watch(model, optimizer=opt)
        train(model, opt, 2)
        with pytest.raises(RuntimeError, match="before the first step"):
            session.set_group()
        session.flush()
        assert query(run_dir, "SELECT group_kind, group_size FROM run_info") == [("single", 1)]
        assert len(grad_l2(run_dir)) == 2 * 6


def test_set_group_of_several_ranks_needs_mpi(ttap, monkeypatch):
    from tensortap import _group

    for name in _group._MPI_LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    with pytest.raises(RuntimeError, match="Launch the ranks with mpirun"):
        _group._mpi_for_torch_group(4)


class one_rank_torch_group:
    """torch.distributed initialized as a gloo group of one (file rendezvous) for a block."""

    def __init__(self, run_dir):
        self.rendezvous = os.path.abspath(run_dir) + ".rendezvous"

    def __enter__(self):
        torch.distributed.init_process_group(
            "gloo", init_method="file://" + self.rendezvous, rank=0, world_size=1)

    def __exit__(self, *exc):
        torch.distributed.destroy_process_group()


def test_log_refuses_what_it_cannot_read_without_a_sync(ttap, run_dir):
    ttap.init(run_dir)
    with pytest.raises(ValueError, match="one number"):
        ttap.log("loss", torch.ones(3))
    ttap.log("loss", torch.tensor(2.5))
    ttap.log("lr", 3)
    ttap.flush()
    assert query(run_dir, "SELECT name, value FROM scalars_v ORDER BY rowid") == [
        ("loss", 2.5), ("lr", 3.0)]


def test_second_watch_replaces_the_first(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    session = ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt, activations=True)
    train(model, opt, 2)
    ttap.watch(model, optimizer=opt, activations=True)  # e.g. a notebook cell run twice
    assert forward_hook_count(model) <= len(list(model.children()))  # one set at most
    if hasattr(opt, "register_step_pre_hook"):  # torch 2.x: the optimizer's own hooks, once
        assert len(opt._optimizer_step_pre_hooks) == 1
        assert len(opt._optimizer_step_post_hooks) == 1
    else:  # torch 1.13: one wrapper
        wrapper = opt.__dict__["step"]
        assert wrapper.__func__ is session._driver._function
    train(model, opt, 3, seed=2)
    assert session._core.bound_names() == [n + ".grad" for n, _ in model.named_parameters()]
    ttap.close()
    stored = grad_l2(run_dir)
    assert sorted({s for s, _ in stored}) == [0, 1, 2, 3, 4]  # one step per optimizer step
    assert len(stored) == 5 * 6
    assert forward_hook_count(model) == 0
    assert "step" not in opt.__dict__


def test_close_removes_every_hook_and_training_goes_on(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt, activations=True, params=True)
    train(model, opt, 2)
    ttap.close()
    assert forward_hook_count(model) == 0
    assert type(opt).step is getattr(type(opt), "step") and "step" not in opt.__dict__
    train(model, opt, 2)  # no session: nothing recorded, nothing fails
    assert max(s for s, _ in grad_l2(run_dir)) == 1


def test_the_handle_watch_returns_removes_that_watch(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    session = ttap.init(run_dir, budget=0)
    handle = ttap.watch(model, optimizer=opt, activations=True)
    train(model, opt, 1)
    handle.remove()
    assert forward_hook_count(model) == 0 and "step" not in opt.__dict__
    assert session._core.bound_names() == []
    handle.remove()  # twice: nothing more to do
    train(model, opt, 2)
    ttap.close()
    assert {s for s, _ in grad_l2(run_dir)} == {0}


def test_lr_schedulers_created_before_and_after_watch_keep_working(ttap, run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    after = torch.optim.lr_scheduler.MultiplicativeLR(opt, lambda epoch: 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
        for x, y in batches(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            before.step()
            after.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25**3)  # both schedulers took effect
    if hasattr(opt, "_step_count"):  # torch 1.13's schedulers count steps through a wrapper
        assert opt._step_count == 3
    ttap.close()
    assert sorted({s for s, _ in grad_l2(run_dir)}) == [0, 1, 2]


def test_one_optimizer_drives_a_session(ttap, run_dir):
    a, b = make_mlp(), make_mlp(seed=1)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1)
    ttap.init(run_dir)
    ttap.watch(a, optimizer=opt_a, prefix="a.")
    with pytest.raises(ValueError, match="one\noptimizer|one optimizer"):
        ttap.watch(b, optimizer=opt_b, prefix="b.")
    ttap.watch(a, optimizer=opt_b, prefix="a.")  # re-watching the same model may switch


def test_step_without_number_is_ignored_with_one_warning_when_an_optimizer_marks_steps(ttap,
                                                                                      run_dir):
    model = make_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ttap.init(run_dir, budget=0)
    ttap.watch(model, optimizer=opt)
    with pytest.warns(ttap.TensorTapWarning, match="step\\(\\) ignored") as record:
        for x, y in batches(3):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            ttap.step()
            opt.step()
    assert len([w for w in record if issubclass(w.category, ttap.TensorTapWarning)]) == 1
    ttap.close()
    assert sorted({s for s, _ in grad_l2(run_dir)}) == [0, 1, 2]


def test_include_exclude_and_prefix_select_and_name_tensors(ttap, run_dir):
    a, b = make_mlp(), make_mlp(seed=1)
    opt = torch.optim.SGD(list(a.parameters()) + list(b.parameters()), lr=0.1)
    session = ttap.init(run_dir, budget=0)
    ttap.watch(a, optimizer=opt, include=["0.*", "4.*"], exclude="*.bias", prefix="gen.")
    ttap.watch(b, include="gen.*")  # patterns match the model's own names: nothing here
    ttap.watch(b, exclude="2.*", prefix="disc.")  # replaces the watch above
    for x, y in batches(2):
        opt.zero_grad()
        (torch.nn.functional.cross_entropy(a(x), y) + torch.nn.functional.cross_entropy(b(x), y)
         ).backward()
        opt.step()
    assert session._core.bound_names() == [
        "gen.0.weight.grad", "gen.4.weight.grad",
        "disc.0.weight.grad", "disc.0.bias.grad", "disc.4.weight.grad", "disc.4.bias.grad"]


def test_same_names_from_two_models_warn_and_the_first_keeps_them(ttap, run_dir):
    a, b = make_mlp(), make_mlp(seed=1)
    opt = torch.optim.SGD(list(a.parameters()) + list(b.parameters()), lr=0.1)
    session = ttap.init(run_dir, budget=0)
    ttap.watch(a, optimizer=opt)
    ttap.watch(b)  # no prefix: its names collide with a's
    with pytest.warns(ttap.TensorTapWarning, match="already watched"):
        for x, y in batches(1):
            opt.zero_grad()
            (torch.nn.functional.cross_entropy(a(x), y) +
             torch.nn.functional.cross_entropy(b(x), y)).backward()
            opt.step()
    assert session._core.bound_names() == [n + ".grad" for n, _ in a.named_parameters()]


def test_run_dir_defaults_to_the_environment_like_ttap_run_sets_it(tmp_path):
    run_dir = tmp_path / "from-env"
    script = (
        "import tensortap as ttap, torch\n"
        "m = torch.nn.Linear(3, 2)\n"
        "opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "ttap.watch(m, optimizer=opt)\n"  # opens the default session: TTAP_RUN_DIR, TTAP_BUDGET
        "for _ in range(3):\n"
        "    opt.zero_grad(); m(torch.ones(4, 3)).sum().backward(); opt.step()\n"
        "print(ttap.get_session().run_dir)\n"
    )  # no close(): the exit handler flushes and closes
    env = dict(os.environ, TTAP_RUN_DIR=str(run_dir), TTAP_BUDGET="0")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(run_dir)
    assert len(grad_l2(str(run_dir))) == 3 * 2
