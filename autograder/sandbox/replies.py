"""Every reply a child sends, checked in one place before anything else reads it.

A child runs student code, so its replies are untrusted input: each parser here accepts exactly
the parts that were asked for -- one gradient per input asked, a description with the fields a
description has, text no longer than ``MAX_TEXT`` -- and raises ``MalformedReply`` for anything
else (a string where a tensor belongs, a list one item short). A malformed reply costs the check
and a fresh child; it can never crash the grader.

What a hostile child can still say and we cannot verify is its own account of what it saw:
``inputs_changed`` (whether forward modified its inputs) and the ``clean``/usage report of
``reset``. The first only decides that student's own ``inputs_unchanged`` check; the second is
never trusted alone (see ``handover.py``).
"""
import functools
import math
from dataclasses import dataclass

import torch

from ..intake.safe_text import MAX_TEXT, safe_text
from .child.codec import MAX_DIMS, MAX_SIZE, loads
from .child.watch import ADAM_SETTINGS, MAX_SETTING
from .errors import MalformedReply, StudentError

MAX_HEADER_BYTES = 4 << 20  # the JSON part of one reply: what grows when parsed
_SCALARS = (bool, int, float, str, type(None))


MAX_INT = 1 << 63


def _parser(parse):
    """Deny by default: whatever else a reply makes ``parse`` raise (an overflow, a recursion, a bug of
    ours on an odd value) is a MalformedReply -- a fresh child -- never an error of the grader's."""
    @functools.wraps(parse)
    def parsed(value, *args, **kwargs):
        try:
            return parse(value, *args, **kwargs)
        except (MalformedReply, StudentError):
            raise
        except Exception as exc:  # noqa: BLE001
            what = kwargs.get("what") or next((a for a in args if isinstance(a, str)), "a reply")
            raise MalformedReply(what, f"unreadable ({type(exc).__name__})") from None
    return parsed


def text(value, what: str) -> str:
    """A text from the child as safe text (``intake.safe_text``): the one door for the child's strings."""
    if type(value) is not str:
        raise MalformedReply(what, f"expected text, got {type(value).__name__}")
    return safe_text(value, MAX_TEXT)


def optional_text(value, what: str) -> str | None:
    return None if value is None else text(value, what)


def _dict(value, what: str, required=()) -> dict:
    if type(value) is not dict:
        raise MalformedReply(what, f"expected a mapping, got {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise MalformedReply(what, f"{missing[0]!r} is missing")
    return value


def _list(value, what: str, length: int | None = None) -> list:
    if type(value) is not list:
        raise MalformedReply(what, f"expected a list, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise MalformedReply(what, f"expected {length} items, got {len(value)}")
    return value


def plain(value, what: str, depth: int = 0):
    """A value student code returned: tensors, numbers, text, lists and string-keyed dicts of them."""
    if depth > 8:
        raise MalformedReply(what, "nested too deeply")
    if type(value) is torch.Tensor:
        return value
    if type(value) is int and not -MAX_INT <= value < MAX_INT:
        return _past_int64(value)
    if type(value) in _SCALARS:
        return safe_text(value, MAX_TEXT) if type(value) is str else value
    if type(value) is list:
        return [plain(v, what, depth + 1) for v in value]
    if type(value) is dict and "__tensor__" not in value:
        return {text(k, what): plain(v, what, depth + 1) for k, v in value.items()}
    raise MalformedReply(what, f"a {type(value).__name__} cannot be an answer")


def _past_int64(value: int) -> float:
    """An int past int64 that student code returned, read as the float nearest it (infinite past a float's
    range): no count or size is that large, and every later step may then do its arithmetic and write it
    as text (10**400 made ``math.isclose`` raise, and a sum of 4,300-digit counts ``str``: grader errors)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _tensor_or_none(value, what: str):
    if value is not None and type(value) is not torch.Tensor:
        raise MalformedReply(what, f"expected a tensor or nothing, got {type(value).__name__}")
    return value


# --- the envelope --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    """Not the answer yet: the top-level code of module ``name`` starts (``running``) or is done."""

    name: str
    running: bool


# Parsed JSON (lists, floats, strings as Python objects) takes up to ~16x its text: 4 MiB of small
# items became 64 MiB of objects when measured. A reply's JSON counts this much towards the memo bound.
JSON_GROWTH = 16


def kept_bytes(data: bytes) -> int:
    """What keeping a reply frame's parsed value costs the parent, about: raw tensor bytes as they
    are, the JSON header as the objects it becomes (``JSON_GROWTH``)."""
    header = int.from_bytes(data[:4], "big") if len(data) >= 4 else 0
    return len(data) + (JSON_GROWTH - 1) * min(header, len(data))


@_parser
def envelope(data: bytes, what: str):
    """The ``value`` of a reply frame (or a ``Progress`` note before it); ``StudentError`` when the
    child reports that student code raised."""
    try:
        reply = loads(data, MAX_HEADER_BYTES)
    except ValueError as exc:
        raise MalformedReply(what, f"unreadable: {safe_text(exc, 200)}") from None
    if type(reply) is dict and set(reply) == {"progress"}:
        name, running = _list(reply["progress"], what, 2)
        if type(running) is not bool:
            raise MalformedReply(what, "a progress note without true/false")
        return Progress(text(name, what), running)
    reply = _dict(reply, what, ("ok",))
    if type(reply["ok"]) is not bool:
        raise MalformedReply(what, "'ok' is not true or false")
    if not reply["ok"]:
        raise StudentError(text(reply.get("error", "unknown error"), what))
    return reply.get("value")


# --- one reply per kind of request -----------------------------------------------------------------

@dataclass(frozen=True)
class Loaded:
    missing: list  # contract symbols the submission does not define
    notes: list  # what the importer had to do (a module stood in for, top-level code skipped)


@_parser
def loaded(value, what: str) -> Loaded:
    value = _dict(value, what, ("missing", "notes"))
    return Loaded([text(s, what) for s in _list(value["missing"], what)],
                  [text(n, what) for n in _list(value["notes"], what)[:20]])


@dataclass(frozen=True)
class ResetState:
    clean: bool
    cpu_s: float
    address_space_bytes: int


@_parser
def reset_state(value, what: str) -> ResetState:
    value = _dict(value, what, ("clean", "cpu_s", "address_space_bytes"))
    clean, cpu, memory = value["clean"], _number(value["cpu_s"], what), _number(value["address_space_bytes"], what, (int,))
    if type(clean) is not bool or not 0 <= cpu < math.inf or memory < 0:
        raise MalformedReply(what, "a reset report with wrong types")
    return ResetState(clean, float(cpu), memory)


@dataclass(frozen=True)
class ProgramAnswer:
    """One program of a batch: its constructor's error, one error (or None) per load, one answer per step."""

    build_error: str | None
    load_errors: list
    steps: list  # per step: ("ok", value) or ("error", text)


@_parser
def program_answers(value, shapes: list[tuple[int, int]], what: str) -> list[ProgramAnswer]:
    """Answers to a batch; ``shapes`` says, per program asked, how many loads and steps it had."""
    answers = []
    for reply, (loads_asked, steps_asked) in zip(_list(value, what, len(shapes)), shapes):
        reply = _dict(reply, what, ("build",))
        build = optional_text(reply["build"], what)
        if build is not None:
            answers.append(ProgramAnswer(build, [], []))
            continue
        reply = _dict(reply, what, ("loads", "steps"))
        load_errors = [optional_text(e, what) for e in _list(reply["loads"], what, loads_asked)]
        steps = []
        for step in _list(reply["steps"], what, steps_asked):
            step = _dict(step, what, ("ok",))
            if step["ok"] is True:
                steps.append(("ok", step.get("value")))
            elif step["ok"] is False:
                steps.append(("error", text(step.get("error", "unknown error"), what)))
            else:
                raise MalformedReply(what, "a step's 'ok' is not true or false")
        answers.append(ProgramAnswer(None, load_errors, steps))
    return answers


@dataclass(frozen=True)
class RunResult:
    output: object
    inputs_changed: list  # the child's own account (see the module docstring)
    input_grads: list | None = None
    param_grads: dict | None = None
    intermediates: dict | None = None  # submodule name -> {"inputs": [...], "output": ...}


@_parser
def run_result(value, what: str, inputs: int, backward: bool, capture=()) -> RunResult:
    """A forward (and backward) run on ``inputs`` inputs: exactly the parts asked for."""
    required = ("output", "inputs_changed") + (("input_grads", "param_grads") if backward else ())
    value = _dict(value, what, required + (("intermediates",) if capture else ()))
    changed = _list(value["inputs_changed"], what, inputs)
    if not all(type(flag) is bool for flag in changed):
        raise MalformedReply(what, "inputs_changed holds something other than true/false")
    input_grads = param_grads = intermediates = None
    if backward:
        input_grads = [_tensor_or_none(g, what) for g in _list(value["input_grads"], what, inputs)]
        param_grads = {text(k, what): _tensor_or_none(g, what) for k, g in _dict(value["param_grads"], what).items()}
    if capture:
        intermediates = {}
        for name, record in _dict(value["intermediates"], what).items():
            record = _dict(record, what, ("inputs", "output"))
            intermediates[text(name, what)] = {"inputs": [plain(i, what) for i in _list(record["inputs"], what)],
                                               "output": plain(record["output"], what)}
    return RunResult(plain(value["output"], what), changed, input_grads, param_grads, intermediates)


@_parser
def call_result(value, what: str):
    return plain(_dict(value, what, ("output",))["output"], what)


@dataclass(frozen=True)
class CountedCall:
    """A call's output, and what it ran (``watch.CallCounter``)."""

    output: object
    lines: int  # lines of the submission's files
    operations: int  # torch operations given a tensor with a dimension of the size asked about


@_parser
def counted_call(value, what: str) -> CountedCall:
    value = _dict(value, what, ("output", "lines", "operations"))
    lines, operations = (_number(value[key], what, (int,)) for key in ("lines", "operations"))
    if lines < 0 or operations < 0:
        raise MalformedReply(what, "a negative count")
    return CountedCall(plain(value["output"], what), lines, operations)


@dataclass(frozen=True)
class Forward:
    """One top-level forward call the child saw (``sandbox/child/watch.py``)."""

    model: int  # models numbered by first appearance
    cls: str
    grad: bool  # gradients were on: a training step's forward
    training: bool
    rows: tuple  # digests of the first input's images
    batch: int
    timesteps: tuple | None
    weights: str | None  # the model's weights' digest, at its first call only
    loss: float | None  # mean squared difference between the output and the first input


@dataclass(frozen=True)
class Step:
    """One optimizer step the child saw."""

    optimizer: str
    family: tuple  # its torch.optim classes, most derived first
    lr: tuple
    settings: tuple  # per parameter group, a dict of ``watch.ADAM_SETTINGS`` (None: not a number or flag)
    models: tuple  # the models whose parameters it holds


@dataclass(frozen=True)
class Leftovers:
    """What a call left on one module passed to it."""

    hooks_left: int
    modes_changed: tuple
    weights_changed: bool
    gradients: tuple
    requires_grad_changed: tuple  # parameters whose requires_grad the call switched


@dataclass(frozen=True)
class WatchedCall:
    outputs: list  # one per repetition that returned
    error: str | None  # the student's error, if a repetition raised
    events: tuple  # Forward and Step, in order
    truncated: bool
    arguments: tuple  # Leftovers, per module argument
    global_hooks_left: int  # torch's global module hooks the call registered and left


def _number(value, what: str, kinds=(int, float)):
    """A JSON number as asked for; an int only within int64 (a float of it exists, no big-int work)."""
    if type(value) not in kinds:
        raise MalformedReply(what, f"expected a number, got {type(value).__name__}")
    if type(value) is int and not -MAX_INT <= value < MAX_INT:
        raise MalformedReply(what, "a number beyond int64")
    return value


def _texts(value, what: str, most: int = 10_000) -> tuple:
    return tuple(text(v, what) for v in _list(value, what)[:most])


def _settings(value, what: str) -> dict:
    """One parameter group's optimizer settings: exactly ``ADAM_SETTINGS``'s names, each a bool where a
    flag belongs, a finite number within ``MAX_SETTING`` where a number does, or None (the watcher's
    word for a value it could not read)."""
    value = _dict(value, what, tuple(ADAM_SETTINGS))
    if len(value) != len(ADAM_SETTINGS):
        raise MalformedReply(what, "optimizer settings with names not asked for")
    settings = {}
    for name, kind in ADAM_SETTINGS.items():
        setting = value[name]
        if setting is not None and kind is bool and type(setting) is not bool:
            raise MalformedReply(what, f"the optimizer's {name} is not true or false")
        if setting is not None and kind is float:
            setting = float(_number(setting, what))
            if not (math.isfinite(setting) and abs(setting) <= MAX_SETTING):
                raise MalformedReply(what, f"the optimizer's {name} is not a number within {MAX_SETTING:g}")
        settings[name] = setting
    return settings


def _event(value, what: str):
    value = _dict(value, what, ("kind",))
    if value["kind"] == "forward":
        value = _dict(value, what, ("model", "class", "grad", "training", "rows", "batch", "timesteps", "weights",
                                    "loss"))
        if type(value["grad"]) is not bool or type(value["training"]) is not bool:
            raise MalformedReply(what, "a forward event with wrong types")
        timesteps = value["timesteps"]
        return Forward(_number(value["model"], what, (int,)), text(value["class"], what), value["grad"],
                       value["training"], _texts(value["rows"], what), _number(value["batch"], what, (int,)),
                       None if timesteps is None else tuple(_number(v, what) for v in _list(timesteps, what)),
                       optional_text(value["weights"], what),
                       None if value["loss"] is None else float(_number(value["loss"], what)))
    if value["kind"] == "step":
        value = _dict(value, what, ("optimizer", "family", "lr", "settings", "models"))
        rates = tuple(float(_number(v, what)) for v in _list(value["lr"], what))
        return Step(text(value["optimizer"], what), _texts(value["family"], what), rates,
                    tuple(_settings(s, what) for s in _list(value["settings"], what, len(rates))),
                    tuple(_number(v, what, (int,)) for v in _list(value["models"], what)))
    raise MalformedReply(what, "an event of an unknown kind")


@_parser
def watched_call(value, what: str, arguments: int) -> WatchedCall:
    """A call watched by the child: its outputs or error, what its models saw, what it left behind."""
    value = _dict(value, what, ("outputs", "error", "watched"))
    watched = _dict(value["watched"], what, ("events", "truncated", "arguments", "global_hooks_left"))
    if type(watched["truncated"]) is not bool:
        raise MalformedReply(what, "'truncated' is not true or false")
    leftovers = []
    for entry in _list(watched["arguments"], what, arguments):
        entry = _dict(entry, what, ("hooks_left", "modes_changed", "weights_changed", "gradients",
                                    "requires_grad_changed"))
        if type(entry["weights_changed"]) is not bool:
            raise MalformedReply(what, "'weights_changed' is not true or false")
        leftovers.append(Leftovers(_number(entry["hooks_left"], what, (int,)), _texts(entry["modes_changed"], what),
                                   entry["weights_changed"], _texts(entry["gradients"], what),
                                   _texts(entry["requires_grad_changed"], what)))
    return WatchedCall([plain(o, what) for o in _list(value["outputs"], what)], optional_text(value["error"], what),
                       tuple(_event(e, what) for e in _list(watched["events"], what)), watched["truncated"],
                       tuple(leftovers), _number(watched["global_hooks_left"], what, (int,)))


@dataclass(frozen=True)
class SubmoduleInfo:
    name: str
    type: str  # the class's own name (``GroupNorm32``)
    torch: tuple  # the torch.nn classes it is, most derived first (``("GroupNorm",)``)
    config: dict  # their constructor settings (``num_groups``, ``eps``, ``kernel_size``, ...)
    extra_repr: str

    def is_a(self, torch_class: str) -> bool:
        return torch_class in self.torch


@dataclass(frozen=True)
class ModuleDescription:
    parameters: dict  # name -> shape tuple
    state_dict: dict  # name -> shape tuple
    buffers: tuple  # names of buffers (the student's own may be among them)
    modules: list  # SubmoduleInfo, in named_modules() order
    frozen: tuple = ()  # parameters with requires_grad=False: constants, like buffers

    def count(self, prefix: str = "") -> int:
        """Number of trainable parameters under ``prefix`` (all of them for "")."""
        if not prefix:
            return sum(self.trainable_by_child().values())
        frozen = frozenset(self.frozen)
        return sum(math.prod(shape) for name, shape in self.parameters.items()
                   if name not in frozen and (name == prefix or name.startswith(prefix + ".")))

    def trainable_by_child(self) -> dict[str, int]:
        """Trainable parameters per top-level submodule (its name; "" for the module's own), in one
        pass: a count per child, each over every parameter, made a model of many children cost
        minutes in the trusted process."""
        frozen = frozenset(self.frozen)
        counts: dict[str, int] = {}
        for name, shape in self.parameters.items():
            if name not in frozen:
                child = name.split(".", 1)[0] if "." in name else ""
                counts[child] = counts.get(child, 0) + math.prod(shape)
        return counts

    def module(self, name: str) -> SubmoduleInfo | None:
        return next((m for m in self.modules if m.name == name), None)


def _shapes(value, what: str) -> dict:
    """name -> shape (a list of sizes), as ``child/describe.py`` writes it."""
    found = {}
    for name, shape in _dict(value, what).items():
        shape = _list(shape, what)
        if len(shape) > MAX_DIMS or not all(type(s) is int and 0 <= s < MAX_SIZE for s in shape):
            raise MalformedReply(what, "a shape that is not a list of sizes")
        found[text(name, what)] = tuple(shape)
    return found


@_parser
def description(value, what: str) -> ModuleDescription:
    """The child's ``describe`` (``child/describe.py``): submodules keyed by name, in ``named_modules()`` order."""
    value = _dict(value, what, ("parameters", "state_dict", "buffers", "frozen", "modules"))
    modules = []
    for key, entry in _dict(value["modules"], what).items():
        entry = _dict(entry, what, ("name", "type", "torch", "config", "extra_repr"))
        name = text(entry["name"], what)
        if entry["name"] != key:  # both plain str here (``text`` checked the name; JSON keys are)
            raise MalformedReply(what, f"submodule {name!r} is listed under another name")
        config = {text(k, what): plain(v, what) for k, v in _dict(entry["config"], what).items()}
        modules.append(SubmoduleInfo(name, text(entry["type"], what),
                                     tuple(text(t, what) for t in _list(entry["torch"], what)), config,
                                     text(entry["extra_repr"], what)))
    return ModuleDescription(_shapes(value["parameters"], what), _shapes(value["state_dict"], what),
                             tuple(text(b, what) for b in _list(value["buffers"], what)), modules,
                             tuple(text(f, what) for f in _list(value["frozen"], what)))
