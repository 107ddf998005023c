"""The student's code in this process (check.py's side): a view that answers as the grader's sandboxed
child does, and the plain form of a watched call that both sides give the rules."""
import torch

from .description import describe
from .inputs import load_weights
from .plain import NotPlain, plain
from .tensors import Failed


# --- the student's code in this process -------------------------------------------------------

def _plain(value, read: dict | None = None):
    """What a grading child sends back (``plain``); a value it refuses raises the TypeError a student expects."""
    try:
        return plain(value, read=read)
    except NotPlain as refused:
        raise TypeError(str(refused)) from None


class LocalView:
    """A class (and the functions of its module) in this process, answering as the grader's
    sandboxed child does: the random generator seeded with 0 before every build and run, no
    gradients, plain outputs.

    ``watching`` is the grader's watcher module (``sandbox/child/watch.py``; check.py ships a copy
    beside itself), used by ``watch``; ``error_text`` words a student's exception (default: its type
    and message)."""

    # The last watched experiment (a training run: seconds), answered again when asked again, as the
    # grader's memo answers its child's: the rules of one short run watch it once.
    _experiments: dict = {}

    def __init__(self, cls, namespace=None, watching=None, error_text=None, fresh=None):
        self.cls = cls
        self.namespace = namespace
        self._watching = watching
        self._error_text = error_text or (lambda error: f"{type(error).__name__}: {error}".rstrip(": "))
        self._fresh = fresh or (lambda: None)  # before each question: torch's settings as the first one found them

    @property
    def watching(self):
        if self._watching is None:  # in the grader's package; check.py always passes its shipped copy
            from ..sandbox.child import watch

            self._watching = watch
        return self._watching

    def module(self, init: dict):
        self._fresh()
        torch.default_generator.manual_seed(0)  # what torch.manual_seed(0) seeds on the CPU, 50x cheaper
        return self.cls(**init)

    def load(self, module, state: dict, partial: bool = True) -> str | None:
        return load_weights(module, state, partial)

    def run(self, module, inputs: list, submodule: str = "", **kwargs):
        target = module.get_submodule(submodule) if submodule else module
        self._fresh()
        torch.default_generator.manual_seed(0)  # what torch.manual_seed(0) seeds on the CPU, 50x cheaper
        with torch.no_grad():
            return _plain(target(*[x.clone() for x in inputs], **kwargs))

    def module_arg(self, class_name: str, init: dict, state: dict | None = None):
        """The student's ``class_name`` holding ``state``: what the grader passes a task's function."""
        self._fresh()
        torch.default_generator.manual_seed(0)
        module = getattr(self.namespace, class_name)(**init)
        problem = None if state is None else load_weights(module, state, partial=False)
        if problem:
            raise Failed(f"the {class_name} given to it could not be set up: the weights do not fit your "
                         f"{class_name}: {problem}")
        return module

    def call(self, function: str, *args):
        found = getattr(self.namespace, function, None)
        if not callable(found):
            raise NameError(f"your submission does not define {function}")
        self._fresh()
        torch.default_generator.manual_seed(0)  # what torch.manual_seed(0) seeds on the CPU, 50x cheaper
        with torch.no_grad():
            return _plain(found(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args]))

    def watch(self, function: str, *args, repeat: int = 1, eval_mode: bool = False, experiment: bool = False,
              read: dict | None = None) -> dict:
        """``function(*args)`` called ``repeat`` times (module arguments in eval mode first with
        ``eval_mode``), watched as the grader's child watches it: see ``watched``; ``read``: the keys a
        dict result is read by."""
        found = getattr(self.namespace, function, None)
        if not callable(found):
            raise NameError(f"your submission does not define {function}")
        key = (id(found), function, repr(args), repeat, eval_mode)
        remembered = LocalView._experiments.get(key) if experiment else None
        if remembered is not None and remembered[0] is found:
            return remembered[1]
        self._fresh()
        modules = [a for a in args if isinstance(a, torch.nn.Module)]
        if eval_mode:
            for module in modules:
                module.eval()
        outputs, error = [], None
        with self.watching.Watcher(modules) as watcher:
            for _ in range(max(1, min(3, repeat))):
                torch.default_generator.manual_seed(0)
                try:
                    outputs.append(_plain(found(*args), read))
                except Exception as exc:  # noqa: BLE001 - the student's error is part of what was watched
                    error = self._error_text(exc)
                    break
        result = watched(outputs, error, watcher.report())
        if experiment and not modules:
            LocalView._experiments = {key: (found, result)}  # the latest run; ``found`` kept, so its id stays its own
        return result

    def digest(self, tensor: torch.Tensor) -> str:
        return self.watching.digest(tensor)

    def describe(self, init: dict) -> dict:
        return describe(self.module(init))

    def together(self, *requests) -> list:
        """Answers to several requests (the grader asks its child all of them in one round trip)."""
        return [request() for request in requests]


def watched(outputs: list, error: str | None, report: dict) -> dict:
    """A watched call as these rules read it, from either side: ``outputs`` (one per repetition that
    returned), the student's ``error`` or None, and the watcher's ``events`` (dicts with ``kind``
    "forward" or "step"), ``arguments`` (what was left on each module passed in) and
    ``global_hooks_left`` (torch's global module hooks it left registered)."""
    return {"outputs": outputs, "error": error, "events": list(report["events"]),
            "arguments": list(report["arguments"]), "global_hooks_left": report["global_hooks_left"]}
