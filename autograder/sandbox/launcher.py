"""The trusted side of the door: ask a child about the student's code, and remember its answers.

Checks see only ``StudentComponent`` and ``StudentModule``: build a module from keyword
arguments, describe it, load a state_dict, run forward/backward on given tensors, call a function.
Whatever the child does, the parent gets back either plain validated data (``replies.py``), a
``StudentError`` (student code raised: a failed check), or a ``SandboxFatal`` (the child hung,
died, ran out of time or broke the protocol: the check stops and the next one gets a fresh child).

Every answer is memoised under a key made from the request's content, and while a component is
*collecting*, unanswered requests are queued (``Pending``) and sent together in one round trip:
the checks of one case cost one trip to the child, not twenty.
"""
import functools
import json
import socket
import time
from dataclasses import dataclass, field

import torch

from ..config import Limits
from ..fingerprint import fingerprint
from . import replies
from .child.codec import dumps, recv_frame, send_frame
from .errors import MalformedReply, Pending, ReplyTooLarge, SandboxFatal, StudentError
from .handover import Handover
from .replies import ModuleDescription, RunResult, SubmoduleInfo
from .zygote_client import Zygote, describe_exit, end_child

__all__ = ["Budget", "child_settings", "Handover", "LoadPlan", "MalformedReply", "ModuleArg", "ModuleDescription", "Pending",
           "Questions", "RunResult", "SandboxFatal", "StudentComponent", "StudentError", "StudentModule",
           "SubmoduleInfo", "Zygote", "all_of"]

MAX_PROGRESS_NOTES = 200  # "now running file X" notes a child may send before one answer
SUSPECT_LIMIT_S = 1.0  # after a hang, each later request may take this long (or 10x the slowest answer so far)
STATIC_LIMIT_S = 10.0  # a build/describe/load may always take this long, budget or not
MAX_HANGS = 3  # then the component's student code is not run again


def child_settings(limits: Limits, device: str = "cpu") -> dict:
    """How the zygote makes a child: where its tensors live, one thread, and its rlimits."""
    return {
        "device": device,
        "threads": 1,
        "limits": {
            "cpu_s": limits.cpu_s,
            "address_space_bytes": limits.memory_mb << 20,
            "file_size_bytes": limits.file_size_mb << 20,
            "open_files": limits.open_files,
            "processes": limits.processes,
        },
    }


@dataclass(frozen=True)
class LoadPlan:
    """What one component's child imports: the student's modules, under which names, and which of
    their symbols the reference stands in for (as compiled code, ``stand_in_code``)."""

    modules: dict  # canonical name -> {"source", "label", "fallback", "cells"}
    symbols: dict  # contract symbol -> canonical module that defines it
    target_symbols: tuple  # the symbols of the component under test
    required: tuple = ()  # canonical modules that hold them
    aliases: dict = field(default_factory=dict)
    packages: tuple = ()
    exports: dict = field(default_factory=dict)  # package -> {name: canonical}: ``from pkg import *``
    refused: dict = field(default_factory=dict)
    stand_in_code: str | None = None  # base64 of the marshalled, line-less reference code
    replaced: tuple = ()  # the symbols the stand-ins replace
    stand_in_modules: dict = field(default_factory=dict)  # contract modules the submission lacks -> symbols served
    references: tuple = ()  # the components whose reference the plan holds
    unavailable: tuple = ()  # contract symbols neither graded nor lent: placeholders where their file fails

    def request(self, prefer_fallback=()) -> dict:
        return {"modules": self.modules, "symbols": self.symbols, "target_symbols": list(self.target_symbols),
                "aliases": self.aliases, "packages": list(self.packages), "exports": self.exports, "stand_in_code": self.stand_in_code,
                "replaced": list(self.replaced), "refused": self.refused, "required": list(self.required),
                "prefer_fallback": sorted(prefer_fallback), "stand_in_modules": self.stand_in_modules,
                "unavailable": list(self.unavailable)}

    def fallbacks(self) -> set:
        """The modules that have a definitions-only version to fall back on."""
        return {name for name, entry in self.modules.items() if entry.get("fallback")}


@dataclass(frozen=True)
class Pace:
    """What one request runs, which decides how long it may take (``Budget.timeout``)."""

    static: bool = False  # builds, loads and describes only: none of the student's forwards
    experiment: bool = False  # trains models (the homework's skip experiment): ``experiment_timeout_s``
    runs: frozenset = frozenset()  # the student's classes and functions it runs


STATIC = Pace(static=True)


@dataclass
class Budget:
    """A component's time with the student's code: ``component_timeout_s`` in all, ``call_timeout_s``
    a request, ``experiment_timeout_s`` a request that trains.

    After a request hangs, later ones that run the same class or function get a short limit
    (``SUSPECT_LIMIT_S``, or ten times the slowest answer so far), and after ``MAX_HANGS`` the
    student's code of this component is not run again: one endless loop costs about one call
    timeout, not one per check. A hang in one function says nothing of another (an endless
    ``skip_ablation`` and a sound ``NoSkipUNet``), so the other keeps its full limit. Requests that
    run no student code of the component (build, describe, load) still go through, within a limit
    of their own, so the checks that need no forward pass are still decided."""

    limits: Limits
    used_s: float = 0.0
    slowest_s: float = 0.0
    hangs: int = 0
    first_hang: str = ""  # what the first hang was, said again in the later ones' messages
    hung_in: set = field(default_factory=set)  # the classes and functions that ran in a request that hung
    deadline: float | None = None  # time.monotonic() when the whole submission's budget ends (Grader sets it)
    budget_s: float = 0.0  # that budget, for the message
    out_of_time: bool = False  # a request was refused or cut short because the submission's budget ended

    def _submission_left(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    @property
    def hung(self) -> bool:
        return self.hangs > 0

    def suspect(self, pace: Pace) -> bool:
        """Whether ``pace`` runs code that hung before: it gets the short limit."""
        return not pace.static and bool(pace.runs & self.hung_in)

    def timeout(self, pace: Pace) -> float:
        left = self._submission_left()
        remaining = min(self.limits.component_timeout_s - self.used_s, left)
        if pace.static:  # no student forward runs here: the suspect limit is not for it
            limit = min(self.limits.call_timeout_s, STATIC_LIMIT_S) if self.hung else self.limits.call_timeout_s
            return min(limit, max(remaining, STATIC_LIMIT_S), max(left, 0.0))
        if self.hangs >= MAX_HANGS:
            return 0.0
        limit = self.limits.experiment_timeout_s if pace.experiment else self.limits.call_timeout_s
        if self.suspect(pace):
            limit = min(limit, max(SUSPECT_LIMIT_S, 10 * self.slowest_s))
        return min(limit, remaining)

    def exhausted(self, pace: Pace) -> str | None:
        """Why a request may not be sent at all, or None."""
        if self._submission_left() <= 0:
            self.out_of_time = True
            return (f"not run: this submission used up its {self.budget_s:g} s time budget "
                    "(limits.submission_timeout_s); the remaining checks score 0")
        if pace.static:
            return None
        if self.hangs >= MAX_HANGS:
            return f"not run: this component's code already hung {self.hangs} times (first: {self.first_hang})"
        if self.limits.component_timeout_s - self.used_s <= 0:
            return f"this component used up its {self.limits.component_timeout_s:g} s time budget"
        return None

    def record(self, seconds: float, timed_out: bool, pace: Pace) -> None:
        self.used_s += seconds
        if timed_out:
            self.hangs += 1
            self.hung_in |= pace.runs
        else:
            self.slowest_s = max(self.slowest_s, seconds)


@dataclass
class StudentComponent:
    """The student's code for one component, in a child handed over from the previous component
    or forked fresh (and re-forked after a crash).

    Requests are programs -- build a module, load states into it, run steps on it -- that carry
    their whole recipe, so any child can answer them: a restart or an evicted module costs a
    rebuild, never a wrong answer. Answers are memoised by content for the component's lifetime.
    """

    zygote: Zygote
    plan: LoadPlan
    limits: Limits
    device: str = "cpu"
    handover: Handover | None = None  # where a clean child goes when the component ends (see ``release``)
    must_not_have_seen: frozenset = frozenset()  # references a handed-over child must not have held
    budget: Budget = None
    notes: list = field(default_factory=list, init=False)  # what loading needed (a fallback, a stand-in)
    importing: str | None = field(default=None, init=False)  # the innermost file whose top-level code runs now
    _pid: int | None = field(default=None, init=False)
    _sock: socket.socket | None = field(default=None, init=False)
    _memo: dict = field(default_factory=dict, init=False)
    _memo_bytes: int = field(default=0, init=False)
    _states: dict = field(default_factory=dict, init=False)  # fingerprint -> {"tensors", "partial"}
    _queue: dict | None = field(default=None, init=False)  # program key -> {memo key: (step, what)}
    _reads: dict | None = field(default=None, init=False)  # the same shape: every question asked while recording
    _in_flight: tuple | None = field(default=None, init=False)  # a batch sent whose answer is not read yet
    _experiments: set = field(default_factory=set, init=False)  # memo keys of steps that train: a longer limit
    _seen: frozenset = field(default=frozenset(), init=False)  # references this child has held, ever

    def __post_init__(self):
        if self.budget is None:
            self.budget = Budget(self.limits)

    @property
    def used_s(self) -> float:
        return self.budget.used_s

    def start(self) -> None:
        """A child with the component's modules imported.

        If importing hangs or ends the child, the top-level code of the file then running is to
        blame (definitions only make classes): import again with that file reduced to its
        definitions, once per such file. The submission remembers it, so later components skip
        that code at once.
        """
        prefer = set(self.handover.prefer_fallback) if self.handover is not None else set()
        while True:
            try:
                self._start(prefer)
                break
            except SandboxFatal:
                culprit = self.importing
                if culprit is None or culprit in prefer or culprit not in self.plan.fallbacks():
                    raise
                prefer.add(culprit)
        if self.handover is not None:
            self.handover.prefer_fallback |= prefer

    def _start(self, prefer_fallback: set) -> None:
        self.importing = None
        handed_over = self.handover.take(self.must_not_have_seen) if self.handover is not None else None
        if handed_over is not None:
            self._pid, self._sock, self._seen = handed_over
        else:
            (self._pid, self._sock), self._seen = self.zygote.fork(child_settings(self.limits, self.device)), frozenset()
        self._seen |= frozenset(self.plan.references)
        what = f"importing {', '.join(self._labels()) or 'your modules'}"
        loaded = replies.loaded(self._request("load", what, STATIC, **self.plan.request(prefer_fallback)), what)
        self.notes = list(dict.fromkeys(self.notes + loaded.notes))
        if loaded.missing and len(loaded.missing) == len(self.plan.target_symbols):
            raise StudentError(f"your submission does not define {', '.join(loaded.missing)} "
                               "(check the spelling of the class or function name)")
        if loaded.missing:  # a missing helper costs the checks that use it, not the component
            note = (f"your submission does not define {', '.join(loaded.missing)}: the checks that use "
                    f"{'it' if len(loaded.missing) == 1 else 'them'} score 0, the others are graded")
            self.notes = list(dict.fromkeys(self.notes + [note]))

    def _labels(self) -> list[str]:
        return [self.plan.modules[name]["label"] for name in self.plan.required if name in self.plan.modules]

    def _request(self, op: str, what: str, pace: Pace, **args):
        self._send(op, what, pace, **args)
        return self._receive(what, pace)

    def _send(self, op: str, what: str, pace: Pace, **args) -> None:
        refused = self.budget.exhausted(pace)
        if refused:
            raise SandboxFatal(f"{refused} before {what}")
        try:
            send_frame(self._sock, dumps({"op": op, "args": args}))
        except (ConnectionError, BrokenPipeError, OSError):
            status = self.stop()
            raise SandboxFatal(f"your code {describe_exit(status, self.limits)} during {what}") from None

    def _receive(self, what: str, pace: Pace):
        """The answer to the request just sent; the wait counts against the component's budget.

        Before it, the child may say which student file's code starts and ends (``replies.Progress``);
        the innermost file still running is ``importing`` -- the one to blame if the answer never comes.
        """
        timeout = max(self.budget.timeout(pace), 0.001)
        started = time.monotonic()
        running: list[str] = []
        for _ in range(MAX_PROGRESS_NOTES):
            answer = self._receive_frame(what, timeout, started, pace)
            if not isinstance(answer, replies.Progress):
                self.importing = None
                return answer
            if answer.running:
                running.append(answer.name)
            elif answer.name in running:
                running.remove(answer.name)
            self.importing = running[-1] if running else None
        self.stop()
        raise MalformedReply(what, "too many progress notes")

    def _receive_frame(self, what: str, timeout: float, started: float, pace: Pace):
        timed_out = False
        try:
            data = recv_frame(self._sock, self.limits.max_reply_mb << 20, deadline=started + timeout)
        except (socket.timeout, TimeoutError):
            timed_out = True
            self.stop()
            if self.budget.suspect(pace):
                raise SandboxFatal(f"stopped after {timeout:g} s in {what}: this code hung before "
                                   f"({self.budget.first_hang}), so each later call gets only a short time") from None
            killed = f"killed after {timeout:g} s in {what}"
            self.budget.first_hang = self.budget.first_hang or killed
            raise SandboxFatal(f"{killed} (an endless loop, or far too slow?)") from None
        except (EOFError, ConnectionError, BrokenPipeError, OSError):
            status = self.stop()
            raise SandboxFatal(f"your code {describe_exit(status, self.limits)} during {what}") from None
        except ValueError as exc:  # frame over the size limit
            self.stop()
            raise ReplyTooLarge(f"during {what}: {exc}") from None
        finally:
            self.budget.record(time.monotonic() - started, timed_out, pace)
        self._memo_bytes += replies.kept_bytes(data)
        if self._memo_bytes > self.limits.max_memo_mb << 20:
            self.stop()
            raise SandboxFatal(f"during {what}: your code's answers add up to more than {self.limits.max_memo_mb} MiB")
        try:
            return replies.envelope(data, what)
        except MalformedReply:
            self.stop()
            raise

    def request(self, op: str, what: str, **args):
        self._settle()
        if self._sock is None:
            self.start()
        return self._request(op, what, **args)

    # --- memoised, batched requests -------------------------------------------------------------

    def collect(self) -> None:
        """From now until ``flush``, queue unanswered requests (raising ``Pending``) instead of asking."""
        if self._queue is None:
            self._queue = {}

    def stop_collecting(self) -> None:
        """Drop what was queued: after a fatal answer, the checks ask again one by one."""
        self._queue = None

    def flush(self) -> bool:
        """Ask everything queued in one round trip and stop collecting; False when nothing was queued."""
        queue, self._queue = self._queue, None
        if not queue:
            return False
        self._ask(queue, _summary(queue))
        return True

    def record(self) -> None:
        """From now until ``recorded``, note every question asked, answered from the memo or not."""
        self._reads = {}

    def recorded(self) -> "Questions":
        reads, self._reads = self._reads or {}, None
        return Questions(reads, {name: self._states[name] for spec, loads_ in reads for name in loads_}
                         | {name: self._states[name] for steps in reads.values()
                            for step, _ in steps.values() for name in _state_names(step)},
                         frozenset(key for steps in reads.values() for key in steps if key in self._experiments))

    def ask(self, questions: "Questions", wait: bool = True) -> None:
        """Ask questions recorded while grading another submission, in one round trip, before anyone waits.

        The same checks on the same case ask the same questions of every submission that behaves
        alike; asking them up front saves running the checks once just to learn what they will ask.
        ``wait=False``: return once they are sent, so the grader builds and runs the reference while
        the child works; the answer is read when the memo is next needed.
        """
        self._settle()
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

    def build(self, class_name: str, **kwargs) -> "StudentModule":
        module = StudentModule(self, class_name, dict(kwargs))
        self._ensure_built(module)
        return module

    def call(self, function: str, *args, experiment: bool = False):
        """``function(*args)`` in the child; an argument may be a ``ModuleArg`` (a module built there,
        fresh for this call).

        An ``experiment`` (a call that trains models) may take ``experiment_timeout_s``, not ``call_timeout_s``.
        """
        encoded = [self._argument(a) for a in args]
        step = {"op": "call", "args": {"target": function, "args": encoded}}
        what = f"{function}(...)"
        return replies.call_result(self._answer(None, step, what, experiment), what)

    def watch(self, function: str, *args, experiment: bool = False, repeat: int = 1,
              eval_mode: bool = False) -> replies.WatchedCall:
        """``call``, watched by the child (``sandbox/child/watch.py``): the outputs of ``repeat`` calls
        on the same arguments (module arguments in eval mode first with ``eval_mode``), or the error
        that ended them, with every top-level forward call and optimizer step, and what was left on
        each module argument. The student's error is part of the answer, not an exception."""
        encoded = [self._argument(a) for a in args]
        watch = {"repeat": repeat, **({"eval": True} if eval_mode else {})}
        step = {"op": "call", "args": {"target": function, "args": encoded, "watch": watch}}
        what = f"{function}(...)"
        arguments = sum(isinstance(a, ModuleArg) for a in args)
        return replies.watched_call(self._answer(None, step, what, experiment), what, arguments)

    def _argument(self, value):
        if not isinstance(value, ModuleArg):
            return value
        loads_ = []
        if value.state_dict is not None:
            name = fingerprint([value.state_dict, value.partial])
            self._states[name] = {"tensors": value.state_dict, "partial": value.partial}
            loads_.append(name)
        return {"__module__": {"target": value.class_name, "kwargs": value.init, "loads": loads_}}

    def _ensure_built(self, module: "StudentModule") -> None:
        """Raise the constructor's error if it is known; while collecting, assume it will work."""
        key = ("build", module.spec)
        if key not in self._memo:
            self._settle()
        if self._reads is not None:
            self._reads.setdefault((module.spec, ()), {})
        if key not in self._memo and self._queue is None:
            self._ask({(module.spec, ()): {}}, module.call)
        self._raise_failure(key)

    def _load(self, module: "StudentModule", state: dict, name: str) -> None:
        """``module.loads`` already ends with ``name``: raise if that load fails (assume not, while collecting)."""
        self._states[name] = state
        program = (module.spec, module.loads)
        key = ("load",) + program
        if key not in self._memo:
            self._settle()
        if self._reads is not None:
            self._reads.setdefault(program, {})
        if key not in self._memo:
            if self._queue is not None:
                self._queue.setdefault(program, {})
                return
            self._ask({program: {}}, f"{module.class_name}.load_state_dict")
        self._raise_failure(("build", module.spec))
        self._raise_failure(key)

    def _answer(self, module: "StudentModule | None", step: dict, what: str, experiment: bool = False):
        program = (module.spec, module.loads) if module is not None else (None, ())
        key = ("step", program, fingerprint(step))
        if experiment:
            self._experiments.add(key)
        if key not in self._memo:
            self._settle()  # the answer may be in the batch in flight; a known one never waits for it
        if self._reads is not None:
            self._reads.setdefault(program, {})[key] = (step, what)
        if module is not None:
            self._ensure_built(module)
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

    def _ask(self, queue: dict, what: str, wait: bool = True) -> None:
        """One round trip for the queued programs; every answer goes into the memo (now, or at ``_settle``)."""
        self._settle()  # one batch in flight at a time
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
        if self._sock is None:
            self.start()
        pace = self._pace(keys, queue)
        self._send("batch", what, pace, states=states, programs=programs)
        self._in_flight = (keys, queue, what, pace)
        if wait:
            self._settle()

    def _pace(self, keys: list, queue: dict) -> Pace:
        """How long a batch of these programs may take: what it runs, and whether it trains."""
        steps = [(key, step) for program in keys for key, (step, _) in queue[program].items()]
        runs = {spec[0] for spec, _ in keys if spec is not None}
        runs |= {step["args"]["target"] for _, step in steps if step["op"] == "call"}
        return Pace(static=all(step["op"] == "describe" for _, step in steps),
                    experiment=any(key in self._experiments for key, _ in steps), runs=frozenset(runs))

    def _settle(self) -> None:
        """Read the answer to a batch sent earlier, if one is outstanding, into the memo."""
        if self._in_flight is None:
            return
        keys, queue, what, pace = self._in_flight
        self._in_flight = None
        shapes = [(len(program[1]), len(queue[program])) for program in keys]
        try:
            answers = replies.program_answers(self._receive(what, pace), shapes, what)
        except StudentError:
            self.stop()
            raise MalformedReply(what, "a batch answered as one error") from None
        except SandboxFatal as fatal:
            asked = [key for program in keys for key in queue[program]]
            again = isinstance(fatal, ReplyTooLarge) or (self.budget.hung and not isinstance(fatal, MalformedReply))
            if len(asked) == 1 and again:  # asked alone, it would hang or send too much again: never ask it again
                self._memo[asked[0]] = _Unanswerable(str(fatal))
            raise
        for program, answer in zip(keys, answers):
            self._remember(program, list(queue[program]), answer)

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

    def release(self) -> None:
        """The component is graded: hand its child to the next component if it is clean, else ``stop``."""
        if self.handover is None or self._sock is None:
            self.stop()
            return
        try:
            self._settle()  # a next case asked ahead that no check needed in the end
            state = replies.reset_state(self._request("reset", "forgetting this component", STATIC),
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
        self.handover.give(self._pid, self._sock, self._seen)
        self._pid = self._sock = None

    def stop(self):
        """Kill the child and everything it started; return its exit status."""
        if self._sock is None:
            return None
        pid, sock, self._sock, self._pid = self._pid, self._sock, None, None
        self._in_flight = None
        return end_child(self.zygote, pid, sock)


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


@dataclass(frozen=True)
class ModuleArg:
    """A module to build in the child and pass to a student's function (``StudentComponent.call``):
    the component's stand-in when ``class_name`` is one of its dependencies, else the student's class."""

    class_name: str
    init: dict
    state_dict: dict | None = None
    partial: bool = False


@dataclass
class StudentModule:
    """A module of the student's, named by its recipe: class, constructor arguments, states loaded."""

    component: StudentComponent
    class_name: str
    init: dict
    loads: tuple = ()  # fingerprints of the state_dicts loaded so far, failed loads included

    def __post_init__(self):
        self.spec = (self.class_name, json.dumps(self.init, sort_keys=True))  # the recipe's fixed part

    @property
    def call(self) -> str:
        return f"{self.class_name}({', '.join(f'{k}={v!r}' for k, v in self.init.items())})"

    def describe(self) -> ModuleDescription:
        what = f"describing {self.class_name}"
        return replies.description(self.component._answer(self, {"op": "describe", "args": {}}, what), what)

    def load_state_dict(self, state_dict: dict, name: str | None = None, partial: bool = False) -> None:
        """Load ``state_dict`` (``name``: its fingerprint, if the caller has it already).

        ``partial``: only some of the module's parameters are given (the parts a check is about).
        Buffers the student added of their own, and parameters frozen with ``requires_grad=False``,
        are never required: they keep their values.
        """
        name = name or fingerprint([state_dict, partial] if partial else state_dict)
        self.loads = self.loads + (name,)  # even if it fails: a failed load may have changed some weights
        self.component._load(self, {"tensors": state_dict, "partial": partial}, name)

    def run_each(self, inputs: list[list], **kwargs) -> list[RunResult]:
        """One forward pass per entry of ``inputs``; while collecting, all are queued before waiting."""
        return all_of(*[functools.partial(self.run, *args, **kwargs) for args in inputs])

    def run(self, *args, submodule: str = "", grad_output=None, capture=(), **kwargs) -> RunResult:
        where = f"{self.class_name}.{submodule + '.' if submodule else ''}forward"
        if grad_output is not None:
            where += " / backward"
        step = {"op": "run", "args": {"args": list(args), "kwargs": kwargs, "submodule": submodule,
                                      "grad_output": grad_output}}
        if capture:
            step["args"]["capture"] = list(capture)
        value = self.component._answer(self, step, where)
        return replies.run_result(value, where, len(args), grad_output is not None, capture)

