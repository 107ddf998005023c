"""The questions asked of one component's child, and the memo of their answers.

Every question is a program -- build a module, load states into it, run one step on it -- keyed by
its content, so an answer once known is never asked again, and any child can answer (a restart or an
evicted module costs a rebuild, never a wrong answer). While *collecting*, unanswered questions are
queued (``Pending``) and sent together in one round trip: the checks of one case cost one trip to
the child, not twenty. While *recording*, every question asked is noted, so that the same checks can
ask another submission's child all of them up front (``Questions``).
"""
import json
from dataclasses import dataclass
from typing import Callable

from ..fingerprint import fingerprint
from . import replies
from .budget import Pace
from .connection import ChildConnection
from .errors import MalformedReply, Pending, ReplyTooLarge, SandboxFatal, StudentError


@dataclass(frozen=True)
class _Failed:
    """A remembered StudentError: the same request gets the same error without asking again."""

    message: str


@dataclass(frozen=True)
class _Unanswerable:
    """A request that was asked alone and timed out or answered too much: it fails at once from now on."""

    message: str


@dataclass(frozen=True)
class Questions:
    """Questions as recorded (program -> {memo key: (step, what)}), with the states they load and
    which of them train (an experiment keeps its longer limit when asked of another submission)."""

    queue: dict
    states: dict
    experiments: frozenset = frozenset()


class QuestionMemo:
    """What one component's checks asked its child, and the answers, for the component's lifetime.

    ``start`` opens the connection (imports the component's modules in a child) when a question must
    be sent and no child is running.
    """

    def __init__(self, connection: ChildConnection, start: Callable[[], None]):
        self.connection = connection
        self._start = start
        self._memo: dict = {}
        self._states: dict = {}  # fingerprint -> {"tensors", "partial"}
        self._queue: dict | None = None  # program key -> {memo key: (step, what)}
        self._reads: dict | None = None  # the same shape: every question asked while recording
        self._in_flight: tuple | None = None  # a batch sent whose answer is not read yet
        self._experiments: set = set()  # memo keys of steps that train: a longer limit

    # --- collecting and recording ----------------------------------------------------------------

    def collect(self) -> None:
        """From now until ``flush``, queue unanswered requests (raising ``Pending``) instead of asking."""
        if self._queue is None:
            self._queue = {}

    def stop_collecting(self) -> None:
        """Drop what was queued: after a fatal answer, the checks ask again one by one."""
        self._queue = None

    def flush(self, wait: bool = True) -> bool:
        """Ask everything queued in one round trip and stop collecting; False when nothing was queued.
        ``wait=False``: return once it is sent; the answer is read when the memo next needs it, and its
        time limit counts from then, as for any batch asked ahead (a late read never turns an answer
        that came in time into a hang)."""
        queue, self._queue = self._queue, None
        if not queue:
            return False
        self._ask(queue, _summary(queue), wait)
        return True

    def record(self) -> None:
        """From now until ``recorded``, note every question asked, answered from the memo or not."""
        self._reads = {}

    def recorded(self) -> Questions:
        reads, self._reads = self._reads or {}, None
        return Questions(reads, {name: self._states[name] for spec, loads_ in reads for name in loads_}
                         | {name: self._states[name] for steps in reads.values()
                            for step, _ in steps.values() for name in _state_names(step)},
                         frozenset(key for steps in reads.values() for key in steps if key in self._experiments))

    def ask(self, questions: Questions, wait: bool = True) -> None:
        """Ask questions recorded while grading another submission, in one round trip, before anyone waits.

        The same checks on the same case ask the same questions of every submission that behaves
        alike; asking them up front saves running the checks once just to learn what they will ask.
        ``wait=False``: return once they are sent, so the grader builds and runs the reference while
        the child works; the answer is read when the memo is next needed.
        """
        self.settle()
        self._states.update(questions.states)
        self._experiments |= questions.experiments
        queue = {}
        for (spec, loads_), steps in questions.queue.items():
            unknown = {key: step for key, step in steps.items() if key not in self._memo}
            built = spec is None or (("build", spec) in self._memo and (not loads_ or ("load", spec, loads_) in self._memo))
            if unknown or not built:
                queue[(spec, loads_)] = unknown
        if queue:
            self._ask(queue, _summary(queue), wait)

    # --- the questions the proxies ask -----------------------------------------------------------

    def keep_state(self, name: str, state: dict) -> None:
        """A state a question will load (``name``: its fingerprint), sent with the batch that needs it."""
        self._states[name] = state

    def ensure_built(self, module) -> None:
        """Raise the constructor's error if it is known; while collecting, assume it will work."""
        key = ("build", module.spec)
        if key not in self._memo:
            self.settle()
        if self._reads is not None:
            self._reads.setdefault((module.spec, ()), {})
        if key not in self._memo and self._queue is None:
            self._ask({(module.spec, ()): {}}, module.call)
        self._raise_failure(key)

    def load(self, module, state: dict, name: str) -> None:
        """``module.loads`` already ends with ``name``: raise if that load fails (assume not, while collecting)."""
        self._states[name] = state
        program = (module.spec, module.loads)
        key = ("load",) + program
        if key not in self._memo:
            self.settle()
        if self._reads is not None:
            self._reads.setdefault(program, {})
        if key not in self._memo:
            if self._queue is not None:
                self._queue.setdefault(program, {})
                return
            self._ask({program: {}}, f"{module.class_name}.load_state_dict")
        self._raise_failure(("build", module.spec))
        self._raise_failure(key)

    def answer(self, module, step: dict, what: str, experiment: bool = False):
        """The answer to ``step`` on ``module`` (None: a call with no module), from the memo or the child."""
        program = (module.spec, module.loads) if module is not None else (None, ())
        key = ("step", program, fingerprint(step))
        if experiment:
            self._experiments.add(key)
        if key not in self._memo:
            self.settle()  # the answer may be in the batch in flight; a known one never waits for it
        if self._reads is not None:
            self._reads.setdefault(program, {})[key] = (step, what)
        if module is not None:
            self.ensure_built(module)
        if key not in self._memo:
            if self._queue is not None:
                self._queue.setdefault(program, {})[key] = (step, what)
                raise Pending
            self._ask({program: {key: (step, what)}}, what)
            if module is not None:
                self._raise_failure(("build", module.spec))
        self._raise_failure(key)
        return self._memo[key]

    def _raise_failure(self, key) -> None:
        answer = self._memo.get(key)
        if isinstance(answer, _Failed):
            raise StudentError(answer.message)
        if isinstance(answer, _Unanswerable):
            raise SandboxFatal(answer.message)

    # --- one round trip ---------------------------------------------------------------------------

    def _ask(self, queue: dict, what: str, wait: bool = True) -> None:
        """One round trip for the queued programs; every answer goes into the memo (now, or at ``settle``)."""
        self.settle()  # one batch in flight at a time
        first_seen = {}
        for spec, _ in queue:
            first_seen.setdefault(spec, len(first_seen))
        # A module's requests with fewer loads first: the child then builds it once and loads on top.
        keys = sorted(queue, key=lambda program: (first_seen[program[0]], len(program[1])))
        states, programs = {}, []
        for spec, loads_ in keys:
            module = None
            if spec is not None:
                module = {"target": spec[0], "kwargs": json.loads(spec[1]), "loads": list(loads_)}
                states.update((name, self._states[name]) for name in loads_)
            steps = [step for step, _ in queue[(spec, loads_)].values()]
            for step in steps:
                states.update((name, self._states[name]) for name in _state_names(step))
            programs.append({"module": module, "steps": steps})
        if not self.connection.open:
            self._start()
        pace = self._pace(keys, queue)
        self.connection.send("batch", what, pace, states=states, programs=programs)
        self._in_flight = (keys, queue, what, pace)
        if wait:
            self.settle()

    def _pace(self, keys: list, queue: dict) -> Pace:
        """How long a batch of these programs may take: what it runs, and whether it trains."""
        steps = [(key, step) for program in keys for key, (step, _) in queue[program].items()]
        runs = {spec[0] for spec, _ in keys if spec is not None}
        runs |= {step["args"]["target"] for _, step in steps if step["op"] == "call"}
        return Pace(static=all(step["op"] == "describe" for _, step in steps),
                    experiment=any(key in self._experiments for key, _ in steps), runs=frozenset(runs))

    def settle(self) -> None:
        """Read the answer to a batch sent earlier, if one is outstanding, into the memo."""
        if self._in_flight is None:
            return
        keys, queue, what, pace = self._in_flight
        self._in_flight = None
        shapes = [(len(program[1]), len(queue[program])) for program in keys]
        try:
            answers = replies.program_answers(self.connection.receive(what, pace), shapes, what)
        except StudentError:
            self.connection.stop()
            raise MalformedReply(what, "a batch answered as one error") from None
        except SandboxFatal as fatal:
            asked = [key for program in keys for key in queue[program]]
            again = isinstance(fatal, ReplyTooLarge) or (self.connection.budget.hung and not isinstance(fatal, MalformedReply))
            if len(asked) == 1 and again:  # asked alone, it would hang or send too much again: never ask it again
                self._memo[asked[0]] = _Unanswerable(str(fatal))
            raise
        for program, answer in zip(keys, answers):
            self._remember(program, list(queue[program]), answer)

    def forget_in_flight(self) -> None:
        """The child was stopped: the batch it was answering will never be read."""
        self._in_flight = None

    def _remember(self, program: tuple, step_keys: list, answer: "replies.ProgramAnswer") -> None:
        spec, loads_ = program
        if spec is not None:
            self._memo[("build", spec)] = _Failed(answer.build_error) if answer.build_error is not None else None
        if answer.build_error is not None:
            return
        for count, error in enumerate(answer.load_errors, start=1):
            self._memo[("load", spec, loads_[:count])] = _Failed(error) if error is not None else None
        for key, (kind, value) in zip(step_keys, answer.steps):
            self._memo[key] = value if kind == "ok" else _Failed(value)


def _summary(queue: dict) -> str:
    whats = list(dict.fromkeys(what for steps in queue.values() for _, what in steps.values()))
    return ", ".join(whats[:3]) + (f" and {len(whats) - 3} more" if len(whats) > 3 else "")


def _state_names(step: dict) -> list[str]:
    """The states a call step's module arguments load."""
    if step["op"] != "call":
        return []
    return [name for a in step["args"]["args"] if isinstance(a, dict) and "__module__" in a
            for name in a["__module__"]["loads"]]


def all_of(*requests) -> list:
    """Call each request (a function that asks a child something); while collecting, all of them are
    queued before ``Pending`` is raised, so that they share one round trip."""
    results, waiting = [], False
    for request in requests:
        try:
            results.append(request())
        except Pending:
            waiting = True
    if waiting:
        raise Pending
    return results
