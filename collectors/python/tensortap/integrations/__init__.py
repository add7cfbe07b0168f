"""tensortap in training frameworks: a Lightning Callback (integrations.lightning.TensorTap) and a
Hugging Face TrainerCallback (integrations.transformers.TensorTapCallback). Each watches the model
the framework trains with tensortap.watch's options and takes its steps from the framework's
optimizer-step events, so gradients are sampled accumulated, unscaled and before clipping, and
numbered with the framework's own global step. Importing a module here imports its framework.
"""

from .. import get_session, init


class FrameworkWatch:
    """What both callbacks share: the session (the default one, opened here with run_dir and
    options when none is open, and then closed here at the end of training) and the watch."""

    def __init__(self, grads, params, activations, include, exclude, every, prefix, run_dir,
                 options):
        self.watch_options = dict(grads=grads, params=params, activations=activations,
                                  include=include, exclude=exclude, every=every, prefix=prefix)
        self.run_dir = run_dir
        self.session_options = options
        self.session = None
        self._opened_here = False
        self._watch = None

    def start(self, model, first_step):
        if self._watch is not None:
            return
        session = get_session()
        if session is None:
            options = dict(self.session_options)
            if self.watch_options["every"] is not None:
                options.setdefault("every", self.watch_options["every"])
            session = init(self.run_dir, **options)
            self._opened_here = True
        self.session = session
        self._watch = session.watch(model, **self.watch_options)
        session._drive_from_framework()
        session._framework_step_begins(first_step)

    def step_begins(self, step):
        if self._watch is not None:
            self.session._framework_step_begins(step)

    def before_update(self, step):
        if self._watch is not None:
            self.session._framework_before_update(step)

    def after_update(self):
        if self._watch is not None:
            self.session._framework_after_update()

    def stop(self):
        if self._watch is None:
            return
        session, self.session = self.session, None
        self._watch.remove()
        self._watch = None
        if self._opened_here:
            self._opened_here = False
            import tensortap

            if tensortap.get_session() is session:
                tensortap.close()
            else:
                session.close()
        else:
            session._set_driven(False)
