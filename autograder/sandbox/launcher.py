"""The trusted side of the door: start children, talk to them, and turn their answers into data.

Checks see only ``StudentComponent`` and ``StudentModule``: build a module from keyword
arguments, describe it, load a state_dict, run forward/backward on given tensors, call a function.
Whatever the child does, the parent gets back either plain validated data, a ``StudentError``
(student code raised: a failed check), or a ``SandboxFatal`` (the child hung, died or ran out of
time: the check stops at once and the next one gets a fresh child).

Every answer is memoised under a key made from the request's content, and while a component is
*collecting*, unanswered requests are queued (``Pending``) and sent together in one round trip:
the checks of one case cost one trip to the child, not twenty.
"""
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import torch

from ..config import Limits
from ..fingerprint import fingerprint
from .child import dumps, loads, recv_frame, send_frame
from .isolation import Isolation, announce, detect

ZYGOTE_START_TIMEOUT_S = 120


class StudentError(Exception):
    """Student code raised an exception; the message is what the student should see."""


class Pending(BaseException):
    """The answer is not known yet: the request was queued for the next round trip.

    Raised only while the component is collecting (``StudentComponent.collect``); the caller runs
    the check again after ``flush``, when the answer is in the memo. A BaseException, so that no
    ``except Exception`` on the way (a check's own, Hypothesis's) takes it for a verdict.
    """


class SandboxFatal(BaseException):
    """The child hung, crashed or exhausted its budget.

    A BaseException on purpose: Hypothesis shrinks on ``Exception`` but lets this one through,
    so a hang costs one timeout, not one per shrinking step.
    """


@dataclass(frozen=True)
class LoadPlan:
    """What one child imports: module sources, the module under test, and reference stand-ins."""

    sources: dict
    target_module: str
    patches: tuple = ()
    references: tuple = ()  # the components whose reference code ``sources`` holds (as stand-ins)


def _sandbox_environment() -> dict:
    return {
        "PATH": os.defpath,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "HOME": "/nonexistent",
    }


class Zygote:
    """A fork server: one ``import torch`` for all the children of a grading run or batch worker.

    It runs in the strongest isolation the machine allows (``isolation.detect``), announced once
    on stderr. If a child manages to kill it, the next ``fork`` starts a fresh one.
    """

    def __init__(self, python: str = sys.executable, isolation: Isolation | None = None):
        self.python = python
        self.isolation = isolation or detect(python)
        announce(self.isolation)
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        options = json.dumps(self.isolation.zygote_options(self.python))
        self.process = subprocess.Popen(
            self.isolation.command(self.python, theirs.fileno(), options),
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_sandbox_environment(),
            cwd="/",
            start_new_session=True,
        )
        theirs.close()
        self.control = ours
        self.replies = ours.makefile("rb")

    def _ask(self, message: dict, fds=()) -> dict:
        self.control.settimeout(ZYGOTE_START_TIMEOUT_S)
        try:
            socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
            line = self.replies.readline(64 * 1024)
        except OSError:
            line = b""
        if not line:
            raise RuntimeError("the grading fork server stopped; rerun the command (see the README's troubleshooting)")
        return json.loads(line)

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, settings: dict) -> tuple[int, socket.socket]:
        if not self.alive():  # a child killed it (same uid without a separate sandbox uid)
            self.close()
            self._start()
        ours, theirs = socket.socketpair()
        try:
            reply = self._ask({"op": "fork", "settings": settings}, [theirs.fileno()])
        finally:
            theirs.close()
        if "pid" not in reply:
            ours.close()
            raise SandboxFatal(reply.get("error", "the fork server could not start a child"))
        return reply["pid"], ours

    def kill(self, pid: int):
        """Kill child ``pid`` and everything it started (inside the sandbox); return its exit status.

        The zygote does the killing: in a PID namespace ``pid`` means nothing out here.
        """
        return self._ask({"op": "kill", "pid": pid})["status"]

    def close(self) -> None:
        try:
            self.replies.close()
            self.control.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _describe_exit(status, limits: Limits) -> str:
    if status is None:
        return "stopped unexpectedly"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return {
            signal.SIGKILL: f"was killed (likely over the {limits.memory_mb} MiB memory limit)",
            signal.SIGXCPU: f"used more than {limits.cpu_s} s of CPU time",
            signal.SIGXFSZ: f"wrote a file larger than {limits.file_size_mb} MiB",
            signal.SIGSEGV: "crashed with a segmentation fault",
        }.get(sig, f"was stopped by signal {signal.Signals(sig).name}")
    return f"exited with status {os.WEXITSTATUS(status)} (does your code call sys.exit or os._exit?)"


def _end_child(zygote: "Zygote", pid: int, sock: socket.socket):
    """Close our end and have the zygote kill the child and all it started; its exit status, if known."""
    sock.close()
    try:
        return zygote.kill(pid)
    except (OSError, RuntimeError, ValueError):
        return None


def _number_below(value, limit: float) -> bool:
    return type(value) in (int, float) and 0 <= value < limit


@dataclass(frozen=True)
class _Failed:
    """A remembered StudentError: the same request gets the same error without asking again."""

    message: str


class Handover:
    """The child one component of a submission leaves for the next, when it may.

    A fresh child costs ~12 ms of CPU (fork, exit, and first touches of torch's memory), eight
    times a submission. So a component that ends normally resets its child (``op_reset``: its
    modules forgotten) and hands it on -- only if the child reports that nothing outside those
    modules changed, and it is far from its CPU and memory limits. Otherwise the child is killed
    and the next component forks a fresh one, as after any crash. Children never pass between
    submissions: a ``Handover`` lives for one submission's grading.

    That report comes from student code, so it is believed only for honest code; hostile code
    could keep objects across components. So a child is also never handed to a component whose
    reference it has held as a stand-in (``plan.must_not_have_seen``): what one component's code
    can keep for a later one is then nothing that the later one's own file could not reach.
    """

    def __init__(self, zygote: "Zygote"):
        self.zygote = zygote
        self._child: tuple[int, socket.socket, frozenset] | None = None

    def take(self, must_not_have_seen: frozenset = frozenset()) -> tuple[int, socket.socket, frozenset] | None:
        """The waiting child and the references it has held, unless it held one of ``must_not_have_seen``."""
        if self._child is not None and self._child[2] & must_not_have_seen:
            self.close()
        child, self._child = self._child, None
        return child

    def give(self, pid: int, sock: socket.socket, seen: frozenset) -> None:
        self.close()
        self._child = (pid, sock, seen)

    def close(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            _end_child(self.zygote, child[0], child[1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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
    used_s: float = 0.0
    _pid: int | None = field(default=None, init=False)
    _sock: socket.socket | None = field(default=None, init=False)
    _memo: dict = field(default_factory=dict, init=False)
    _states: dict = field(default_factory=dict, init=False)  # fingerprint -> state_dict
    _queue: dict | None = field(default=None, init=False)  # program key -> {memo key: (step, what)}
    _reads: dict | None = field(default=None, init=False)  # the same shape: every question asked while recording
    _in_flight: tuple | None = field(default=None, init=False)  # a batch sent whose answer is not read yet
    _seen: frozenset = field(default=frozenset(), init=False)  # references this child has held, ever

    def start(self) -> None:
        settings = {
            "device": self.device,
            "threads": 1,
            "limits": {
                "cpu_s": self.limits.cpu_s,
                "address_space_bytes": self.limits.memory_mb << 20,
                "file_size_bytes": self.limits.file_size_mb << 20,
                "open_files": self.limits.open_files,
                "processes": self.limits.processes,
            },
        }
        handed_over = self.handover.take(self.must_not_have_seen) if self.handover is not None else None
        if handed_over is not None:
            self._pid, self._sock, self._seen = handed_over
        else:
            (self._pid, self._sock), self._seen = self.zygote.fork(settings), frozenset()
        plan = self.plan
        self._seen |= frozenset(plan.references)
        self._request(
            "load",
            f"importing {plan.target_module}.py",
            sources=dict(plan.sources),
            target_module=plan.target_module,
            patches=[list(p) for p in plan.patches],
        )

    def _request(self, op: str, what: str, **args):
        self._send(op, what, **args)
        return self._receive(what)

    def _send(self, op: str, what: str, **args) -> None:
        if self.limits.component_timeout_s - self.used_s <= 0:
            raise SandboxFatal(
                f"this component used up its {self.limits.component_timeout_s:g} s time budget before {what}"
            )
        try:
            send_frame(self._sock, dumps({"op": op, "args": args}))
        except (ConnectionError, BrokenPipeError, OSError):
            status = self.stop()
            raise SandboxFatal(f"your code {_describe_exit(status, self.limits)} during {what}") from None

    def _receive(self, what: str):
        """The answer to the request just sent; the wait counts against the component's budget."""
        remaining = self.limits.component_timeout_s - self.used_s
        timeout = max(min(self.limits.call_timeout_s, remaining), 0.001)
        started = time.monotonic()
        try:
            self._sock.settimeout(timeout)
            data = recv_frame(self._sock, self.limits.max_reply_mb << 20)
        except (socket.timeout, TimeoutError):
            self.stop()
            raise SandboxFatal(f"killed after {timeout:g} s in {what} (an endless loop, or far too slow?)") from None
        except (EOFError, ConnectionError, BrokenPipeError):
            status = self.stop()
            raise SandboxFatal(f"your code {_describe_exit(status, self.limits)} during {what}") from None
        except ValueError as exc:  # frame over the size limit
            self.stop()
            raise SandboxFatal(f"during {what}: {exc}") from None
        finally:
            self.used_s += time.monotonic() - started
        try:
            reply = loads(data)  # only JSON's plain types and plain tensors: see child.loads
        except Exception as exc:
            self.stop()
            raise SandboxFatal(f"during {what} the child sent back something unreadable ({exc})") from None
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self.stop()
            raise SandboxFatal(f"during {what} the child sent back a malformed reply")
        if not reply["ok"]:
            raise StudentError(str(reply.get("error", "unknown error")))
        return reply.get("value")

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
        return Questions(reads, {name: self._states[name] for _, loads_ in reads for name in loads_})

    def ask(self, questions: "Questions", wait: bool = True) -> None:
        """Ask questions recorded while grading another submission, in one round trip, before anyone waits.

        The same checks on the same case ask the same questions of every submission that behaves
        alike; asking them up front saves running the checks once just to learn what they will ask.
        ``wait=False``: return once they are sent, so the grader builds and runs the reference while
        the child works; the answer is read when the memo is next needed.
        """
        self._settle()
        self._states.update(questions.states)
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

    def call(self, function: str, *args):
        """``function(*args)`` in the child; an argument may be a ``ModuleArg`` (a module built there).

        The result is plain data: tensors, numbers, strings, lists and dicts with string keys.
        """
        encoded = [_module_argument(a) if isinstance(a, ModuleArg) else a for a in args]
        step = {"op": "call", "args": {"target": function, "args": encoded}}
        return _field(self._answer(None, step, f"{function}(...)"), "output")

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

    def _load(self, module: "StudentModule", state_dict: dict, name: str) -> None:
        """``module.loads`` already ends with ``name``: raise if that load fails (assume not, while collecting)."""
        self._states[name] = state_dict
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

    def _answer(self, module: "StudentModule | None", step: dict, what: str):
        program = (module.spec, module.loads) if module is not None else (None, ())
        key = ("step", program, fingerprint(step))
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
            programs.append({"module": module, "steps": [step for step, _ in queue[(spec, loads_)].values()]})
        if self._sock is None:
            self.start()
        self._send("batch", what, states=states, programs=programs)
        self._in_flight = (keys, queue, what)
        if wait:
            self._settle()

    def _settle(self) -> None:
        """Read the answer to a batch sent earlier, if one is outstanding, into the memo."""
        if self._in_flight is None:
            return
        keys, queue, what = self._in_flight
        self._in_flight = None
        replies = self._receive(what)
        if type(replies) is not list or len(replies) != len(keys):
            self.stop()
            raise SandboxFatal(f"during {what} the child sent back a malformed reply")
        for program, reply in zip(keys, replies):
            self._remember(program, list(queue[program]), reply, what)

    def _remember(self, program: tuple, step_keys: list, reply, what: str) -> None:
        spec, loads_ = program
        try:
            build = _optional_text(reply["build"])
            if spec is not None:
                self._memo[("build", spec)] = _Failed(build) if build is not None else None
            if build is not None:
                return
            load_errors, steps = reply["loads"], reply["steps"]
            if len(load_errors) != len(loads_) or len(steps) != len(step_keys):
                raise ValueError("wrong number of answers")
            for count, error in enumerate(load_errors, start=1):
                error = _optional_text(error)
                self._memo[("load", spec, loads_[:count])] = _Failed(error) if error is not None else None
            for key, answer in zip(step_keys, steps):
                if answer["ok"] is True:
                    self._memo[key] = answer.get("value")
                else:
                    self._memo[key] = _Failed(str(answer.get("error", "unknown error")))
        except (KeyError, TypeError, ValueError):
            self.stop()
            raise SandboxFatal(f"during {what} the child sent back a malformed reply") from None

    def release(self) -> None:
        """The component is graded: hand its child to the next component if it is clean, else ``stop``."""
        if self.handover is None or self._sock is None:
            self.stop()
            return
        try:
            self._settle()  # a next case asked ahead that no check needed in the end
            state = self._request("reset", "forgetting this component")
        except (StudentError, SandboxFatal):
            self.stop()
            return
        limits = self.limits
        reusable = (
            isinstance(state, dict) and state.get("clean") is True
            and _number_below(state.get("cpu_s"), limits.cpu_s / 4)
            and _number_below(state.get("address_space_bytes"), (limits.memory_mb << 20) / 2)
        )
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
        return _end_child(self.zygote, pid, sock)


@dataclass(frozen=True)
class Questions:
    """Questions as recorded (program -> {memo key: (step, what)}), with the states they load."""

    queue: dict
    states: dict


def _summary(queue: dict) -> str:
    whats = list(dict.fromkeys(what for steps in queue.values() for _, what in steps.values()))
    return ", ".join(whats[:3]) + (f" and {len(whats) - 3} more" if len(whats) > 3 else "")


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


def _optional_text(value) -> str | None:
    if value is not None and type(value) is not str:
        raise TypeError("expected text")
    return value


def _field(value, name: str):
    """``value[name]`` of a child's answer, which must be a dict holding it."""
    if type(value) is not dict or name not in value:
        raise SandboxFatal(f"the child's answer has no {name!r}")
    return value[name]


@dataclass(frozen=True)
class ModuleArg:
    """A module to build in the child and pass to a student's function (``StudentComponent.call``).

    The child looks ``class_name`` up in the module under test, then in the other modules of its
    plan: a dependency of the component is its reference stand-in, anything else the student's.
    ``state_dict``, if given, is loaded (strictly) after the build.
    """

    class_name: str
    init: dict
    state_dict: dict | None = None


def _module_argument(value: ModuleArg) -> dict:
    """A ``ModuleArg`` as the child reads it (see ``child.MODULE_ARGUMENT``): plain, fingerprintable data."""
    return {"__module_argument__": {"target": value.class_name, "kwargs": dict(value.init),
                                    "state_dict": value.state_dict}}


@dataclass(frozen=True)
class RunResult:
    output: object
    inputs_changed: list
    input_grads: list | None = None
    param_grads: dict | None = None


@dataclass(frozen=True)
class ModuleDescription:
    parameters: dict  # name -> shape tuple
    state_dict: dict  # name -> shape tuple
    modules: list  # (name, type name, extra_repr)

    def count(self, prefix: str = "") -> int:
        """Number of parameters under ``prefix`` (all of them for "")."""
        total = 0
        for name, shape in self.parameters.items():
            if not prefix or name == prefix or name.startswith(prefix + "."):
                n = 1
                for s in shape:
                    n *= s
                total += n
        return total

    def module(self, name: str):
        """(type name, extra_repr) of submodule ``name``, or None if it does not exist."""
        for module_name, type_name, extra in self.modules:
            if module_name == name:
                return type_name, extra
        return None


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
        value = self.component._answer(self, {"op": "describe", "args": {}}, f"describing {self.class_name}")
        try:
            return ModuleDescription(
                parameters={n: tuple(s) for n, s in _field(value, "parameters")},
                state_dict={n: tuple(s) for n, s in _field(value, "state_dict")},
                modules=[tuple(m) for m in _field(value, "modules")],
            )
        except (TypeError, ValueError):
            raise SandboxFatal(f"describing {self.class_name}: the child sent back a malformed description") from None

    def load_state_dict(self, state_dict: dict, name: str | None = None) -> None:
        """Load ``state_dict`` (``name``: its fingerprint, if the caller has it already)."""
        name = name or fingerprint(state_dict)
        self.loads = self.loads + (name,)  # even if it fails: a failed load may have changed some weights
        self.component._load(self, state_dict, name)

    def run_each(self, inputs: list[list], **kwargs) -> list[RunResult]:
        """One forward pass per entry of ``inputs``; while collecting, all are queued before waiting."""
        return all_of(*[functools.partial(self.run, *args, **kwargs) for args in inputs])

    def run(self, *args, submodule: str = "", grad_output=None, **kwargs) -> RunResult:
        where = f"{self.class_name}.{submodule + '.' if submodule else ''}forward"
        if grad_output is not None:
            where += " / backward"
        step = {"op": "run", "args": {"args": list(args), "kwargs": kwargs, "submodule": submodule,
                                      "grad_output": grad_output}}
        value = self.component._answer(self, step, where)
        return RunResult(
            output=_field(value, "output"),
            inputs_changed=_field(value, "inputs_changed"),
            input_grads=value.get("input_grads"),
            param_grads=value.get("param_grads"),
        )
