"""The trusted side of the door: one component's student code, in a child, as the checks use it.

Checks see only ``StudentComponent`` and ``StudentModule``: build a module from keyword
arguments, describe it, load a state_dict, run forward/backward on given tensors, call a function.
Whatever the child does, the parent gets back either plain validated data (``replies.py``), a
``StudentError`` (student code raised: a failed check), or a ``SandboxFatal`` (the child hung,
died, ran out of time or broke the protocol: the check stops and the next one gets a fresh child).

``StudentComponent`` coordinates the rooms of this side, one job each:

- ``connection.py``: the child's socket, framing and waiting (``ChildConnection``, ``child_settings``);
- ``questions.py``: the questions asked, queued into one round trip while collecting, and the memo of
  their answers (``QuestionMemo``, ``Questions``, ``all_of``);
- ``budget.py``: the component's time with the student's code (``Budget``, ``Pace``);
- ``student_module.py``: the proxies the checks hold (``StudentModule``, ``ModuleArg``, ``LoadPlan``).
"""
from dataclasses import dataclass, field

from ..config import Limits
from ..fingerprint import fingerprint
from . import replies
from .budget import STATIC, Budget, Pace
from .connection import ChildConnection, child_settings
from .errors import MalformedReply, Pending, SandboxFatal, StudentError
from .handover import Handover
from .questions import QuestionMemo, Questions, all_of
from .replies import ModuleDescription, RunResult, SubmoduleInfo
from .student_module import LoadPlan, ModuleArg, StudentModule
from .zygote_client import Zygote

__all__ = ["Budget", "child_settings", "ChildConnection", "Handover", "LoadPlan", "MalformedReply", "ModuleArg",
           "ModuleDescription", "Pace", "Pending", "Questions", "RunResult", "SandboxFatal", "STATIC",
           "StudentComponent", "StudentError", "StudentModule", "SubmoduleInfo", "Zygote", "all_of"]


@dataclass
class StudentComponent:
    """The student's code for one component, in a child handed over from the previous component
    or forked fresh (and re-forked after a crash).

    It starts the child (importing the component's modules, and retrying a file whose top-level code
    hung with its definitions only), turns the checks' builds and calls into questions for the memo,
    and at the end hands a clean child on or stops it.
    """

    zygote: Zygote
    plan: LoadPlan
    limits: Limits
    device: str = "cpu"
    handover: Handover | None = None  # where a clean child goes when the component ends (see ``release``)
    must_not_have_seen: frozenset = frozenset()  # references a handed-over child must not have held
    budget: Budget = None
    notes: list = field(default_factory=list, init=False)  # what loading needed (a fallback, a stand-in)
    connection: ChildConnection = field(init=False)
    questions: QuestionMemo = field(init=False)

    def __post_init__(self):
        if self.budget is None:
            self.budget = Budget(self.limits)
        self.connection = ChildConnection(self.zygote, self.limits, self.budget, self.device,
                                          serving=self.plan.target_symbols)
        self.questions = QuestionMemo(self.connection, self.start)

    @property
    def used_s(self) -> float:
        return self.budget.used_s

    # --- the child's life -------------------------------------------------------------------------

    def start(self, retry: bool = True) -> None:
        """A child with the component's modules imported.

        If importing hangs or ends the child, the top-level code of the file then running is to
        blame (definitions only make classes): import again with that file reduced to its
        definitions, once per such file. The submission remembers it, so later components skip
        that code at once. A component whose child is running already (started early) keeps it.
        ``retry=False``: one try, with what the submission knows, learning nothing (an early start,
        which must not meet a hang before the component whose turn would meet it).
        """
        if self.connection.open:
            return
        prefer = set(self.handover.prefer_fallback) if self.handover is not None else set()
        while True:
            try:
                self._start(prefer)
                break
            except SandboxFatal:
                culprit = self.connection.importing
                if not retry or culprit is None or culprit in prefer or culprit not in self.plan.fallbacks():
                    raise
                prefer.add(culprit)
        if self.handover is not None:
            self.handover.prefer_fallback |= prefer

    def _start(self, prefer_fallback: set) -> None:
        self.connection.connect(self.handover, self.must_not_have_seen, self.plan.references)
        what = f"importing {', '.join(self.labels()) or 'your modules'}"
        loaded = replies.loaded(self.connection.request("load", what, STATIC, **self.plan.request(prefer_fallback)), what)
        self.notes = list(dict.fromkeys(self.notes + loaded.notes))
        if loaded.missing and len(loaded.missing) == len(self.plan.target_symbols):
            raise StudentError(f"your submission does not define {', '.join(loaded.missing)} "
                               "(check the spelling of the class or function name)")
        if loaded.missing:  # a missing helper costs the checks that use it, not the component
            note = (f"your submission does not define {', '.join(loaded.missing)}: the checks that use "
                    f"{'it' if len(loaded.missing) == 1 else 'them'} score 0, the others are graded")
            self.notes = list(dict.fromkeys(self.notes + [note]))

    def labels(self) -> list[str]:
        """The student's files this component imports, as the feedback names them."""
        return [self.plan.modules[name]["label"] for name in self.plan.required if name in self.plan.modules]

    def release(self) -> None:
        """The component is graded: hand its child to the next component if it is clean, else ``stop``."""
        if self.handover is None or not self.connection.open:
            self.stop()
            return
        try:
            self.questions.settle()  # a next case asked ahead that no check needed in the end
            state = replies.reset_state(self.connection.request("reset", "forgetting this component", STATIC),
                                        "forgetting this component")
        except (StudentError, SandboxFatal):
            self.stop()
            return
        limits = self.limits
        reusable = (state.clean and state.cpu_s < limits.cpu_s / 4
                    and state.address_space_bytes < (limits.memory_mb << 20) / 2)
        if not reusable:
            self.stop()
            return
        self.connection.hand_over(self.handover)

    def stop(self):
        """Kill the child and everything it started; return its exit status."""
        self.questions.forget_in_flight()
        return self.connection.stop()

    # --- what the checks ask (the memo answers, or asks the child) ----------------------------------

    def collect(self) -> None:
        self.questions.collect()

    def stop_collecting(self) -> None:
        self.questions.stop_collecting()

    def flush(self, wait: bool = True) -> bool:
        return self.questions.flush(wait)

    def record(self) -> None:
        self.questions.record()

    def recorded(self) -> Questions:
        return self.questions.recorded()

    def ask(self, questions: Questions, wait: bool = True) -> None:
        self.questions.ask(questions, wait)

    def build(self, class_name: str, **kwargs) -> StudentModule:
        module = StudentModule(self, class_name, dict(kwargs))
        self.questions.ensure_built(module)
        return module

    def call(self, function: str, *args, experiment: bool = False):
        """``function(*args)`` in the child; an argument may be a ``ModuleArg`` (a module built there,
        fresh for this call).

        An ``experiment`` (a call that trains models) may take ``experiment_timeout_s``, not ``call_timeout_s``.
        """
        return replies.call_result(*self._answer(function, args, experiment))

    def count(self, function: str, *args, size: int) -> replies.CountedCall:
        """``call``, counted by the child (``watch.CallCounter``): the lines of the submission it ran, and
        the torch operations on a tensor with a dimension of ``size``."""
        return replies.counted_call(*self._answer(function, args, count={"size": size}))

    def watch(self, function: str, *args, experiment: bool = False, repeat: int = 1,
              eval_mode: bool = False, read: dict | None = None, reseed_global: bool = False) -> replies.WatchedCall:
        """``call``, watched by the child (``sandbox/child/watch.py``): the outputs of ``repeat`` calls
        on the same arguments (module arguments in eval mode first with ``eval_mode``; torch's global
        generator seeded alike after every optimizer step with ``reseed_global``), or the error
        that ended them, with every top-level forward call and optimizer step, and what was left on
        each module argument. The student's error is part of the answer, not an exception."""
        watch = {"repeat": repeat, **({"eval": True} if eval_mode else {}), **({"read": read} if read else {}),
                 **({"reseed_global": True} if reseed_global else {})}
        arguments = sum(isinstance(a, ModuleArg) for a in args)
        return replies.watched_call(*self._answer(function, args, experiment, watch=watch), arguments)

    def _answer(self, function: str, args: tuple, experiment: bool = False, **options) -> tuple:
        """The child's answer to ``function(*args)`` (``options``: how it is watched or counted), and what
        the call is called in messages: one question, memoised like every other."""
        step = {"op": "call", "args": {"target": function, "args": [self._argument(a) for a in args], **options}}
        what = f"{function}(...)"
        return self.questions.answer(None, step, what, experiment), what

    def _argument(self, value):
        """A call's argument as the child reads it: a ``ModuleArg`` becomes a module recipe."""
        if not isinstance(value, ModuleArg):
            return value
        loads_ = []
        if value.state_dict is not None:
            name = fingerprint([value.state_dict, value.partial])
            self.questions.keep_state(name, {"tensors": value.state_dict, "partial": value.partial})
            loads_.append(name)
        recipe = {"target": value.class_name, "kwargs": value.init, "loads": loads_}
        if value.frozen or value.buffers:
            recipe["edits"] = {"frozen": list(value.frozen), "buffers": [list(pair) for pair in value.buffers]}
        return {"__module__": recipe}
