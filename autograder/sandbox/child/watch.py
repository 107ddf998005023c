"""Watching one call of a student's function: what its models were fed, and what it left behind.

The homework's rules are about *how* a function treats models -- ``shape_trace`` removes its hooks
and restores the modes; ``skip_ablation``'s two models start from the same weights and see the same
batches -- not about numbers a reference could produce, so they are judged from what the child saw
while the student's code ran, however that code is written:

- every top-level forward call of a model (global module hooks, so models the function builds itself
  are seen too; a loss module or a wrapper of the student's around the UNets is no model,
  ``_no_model``): which model (numbered by first appearance), its class, whether it built a graph
  (gradients on, an output that requires them), digests of the images of its first input
  (``image_digest``: a float64 copy of an image digests as the image), its timesteps, the digest of its
  weights at its first call, and the mean squared difference between its output and that input (the
  reconstruction loss). The input and timesteps are its forward's first two arguments, by position or
  by name (``model(x=batch, t=timesteps)``);
  a model run as ``model.forward(x, t)``, which no hook sees, is seen through its submodules' calls
  (``_bypassed``) and recorded as the call it is;
- every optimizer step (global optimizer hooks): the optimizer's class, learning rates, each
  group's settings that shape Adam's update (``ADAM_SETTINGS``), and which models' parameters it holds;
- afterwards, for each module passed in: hooks still attached, submodules whose train/eval mode
  changed, whether its weights changed, which parameters got a gradient, which had ``requires_grad``
  switched; and how many of torch's global module hooks the call left registered.

Plain data only; the grader parses it (``replies.watched_call``) and judges it (``checks/analysis.py``).
``digest`` is shared with the grader, which digests the images it knows in the same way.

A function may run its models in threads of its own (two models trained at once in a thread pool): the
hooks fire in every thread, so each thread keeps its own nesting and its own running call, and the
record is the same whatever the threads' scheduling (``Watcher.report``).
"""
import ctypes
import functools
import hashlib
import inspect
import json
import math
import sys
import threading

import torch
from torch.nn.modules import module as module_hooks
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

MAX_EVENTS = 4000  # forward calls and optimizer steps recorded per call; more sets "truncated"
MAX_ROWS = 64  # images digested per forward call
MAX_TIMESTEPS = 64
MAX_SETTING = 1e9  # a setting's magnitude sent as a number; beyond it (or not finite) it is sent as None
# What makes a step Adam's besides its rate: torch.optim.Adam's arguments that change the update (betas
# split in two). foreach, fused, capturable and differentiable choose how it is computed, not what;
# decoupled_weight_decay matters only with a weight decay, which is itself recorded.
ADAM_SETTINGS = {"beta1": float, "beta2": float, "eps": float, "weight_decay": float, "amsgrad": bool,
                 "maximize": bool}


def digest(tensor: torch.Tensor) -> str:
    """A short digest of a tensor's dtype, shape and bytes: equal digests, equal tensors."""
    value = tensor.detach().to("cpu").clone().contiguous()
    hasher = hashlib.blake2b(digest_size=12)
    hasher.update(f"{value.dtype}{tuple(value.shape)}".encode())
    # The bytes read in C: ``bytes(storage)`` walks them one Python call per byte (2 s of a 3 s run).
    hasher.update(ctypes.string_at(value.data_ptr(), value.numel() * value.element_size()) if value.numel() else b"")
    return hasher.hexdigest()


def image_digest(image: torch.Tensor) -> str:
    """The digest of an image fed to a model, as the grader digests the (float32) images it knows: a
    float64 image holding float32 values exactly (the same image, trained in float64) digests as them."""
    if image.dtype == torch.float64:
        single = image.detach().to(torch.float32)
        if torch.equal(single.to(torch.float64), image.detach()):
            return digest(single)
    return digest(image)


def weights_digest(module: torch.nn.Module) -> str:
    """One digest of every parameter, in order: two models with the same weights share it, whatever
    their attributes are named (a model with one renamed builds the same weights from a seed)."""
    hasher = hashlib.blake2b(digest_size=12)
    for parameter in module.parameters():
        hasher.update(digest(parameter).encode())
    return hasher.hexdigest()


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def _hook_count(module: torch.nn.Module) -> int:
    return sum(len(getattr(m, name, None) or {}) for m in module.modules() for name in _HOOK_DICTS)


# torch's global module hooks (``register_module_forward_hook``, ...): one left behind fires on every
# module of every model run afterwards. Not the flags kept beside the forward hooks (``_with_kwargs``).
_GLOBAL_HOOK_DICTS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                      "_global_backward_pre_hooks", "_global_buffer_registration_hooks",
                      "_global_module_registration_hooks", "_global_parameter_registration_hooks")


def _global_hook_count() -> int:
    return sum(len(getattr(module_hooks, name, None) or {}) for name in _GLOBAL_HOOK_DICTS)


def _finish(event: dict, output, x) -> None:
    """A forward event completed by what the call returned: its loss, and whether it built a graph --
    gradients on, and an output that requires them (a model whose parameters are all frozen builds none)."""
    event["loss"] = _loss(output, x)
    outputs = output if isinstance(output, (tuple, list)) else (output,)
    tensors = [o for o in outputs if isinstance(o, torch.Tensor)]
    if tensors:
        event["grad"] = event["grad"] and any(o.requires_grad for o in tensors)


GLOBAL_RESEED = 20240607  # what ``reseed_global`` sets torch's global generator to after every optimizer step


class Watcher:
    """Records while active (``with Watcher(modules) as watcher``); ``report()`` is plain data.

    ``reseed_global``: after every optimizer step, torch's global generator is seeded with
    ``GLOBAL_RESEED``, so that whatever the function draws from it between steps (a batch, say) is the
    same at every step, and what it draws from a generator of its own is not (the grader's question:
    does a batch depend on the global generator the models are built from?)."""

    def __init__(self, modules: list, reseed_global: bool = False):
        self.arguments = modules
        self.reseed_global = reseed_global
        self.before = [self._state(m) for m in modules]
        self.global_hooks = _global_hook_count()  # before the watcher's own
        self.models: dict[int, int] = {}  # id(model) -> its number
        self.owners: dict[int, int] = {}  # id(parameter) -> the number of the model it belongs to
        self.kept: list = []  # the models seen, alive while watching (their ids stay theirs)
        self.events: list = []
        self.groups: list = []  # per event, the model whose record it belongs to (None: no model's)
        self.threads: set = set()  # the threads that recorded an event
        self.truncated = False
        self.handles = []
        # Per thread: its nesting depth, its running top-level call's event and first input, and the model
        # of its last top-level call. Hooks fire in whichever thread calls the model; one shared state
        # would nest one thread's call inside another's and lose it.
        self._local = threading.local()
        self._lock = threading.Lock()  # numbering a model and recording an event, from any thread

    @staticmethod
    def _state(module: torch.nn.Module) -> dict:
        return {"hooks": _hook_count(module), "modes": {n: m.training for n, m in module.named_modules()},
                "weights": weights_digest(module),
                "requires_grad": {n: p.requires_grad for n, p in module.named_parameters()}}

    def __enter__(self):
        self.handles = [register_module_forward_pre_hook(self._before_forward),
                        register_module_forward_hook(self._after_forward, with_kwargs=True, always_call=True),
                        register_optimizer_step_post_hook(self._after_step)]
        return self

    def __exit__(self, *_):
        for handle in self.handles:
            handle.remove()
            # torch's remove() leaves a with_kwargs global hook's flag behind (the audit sees it: a fresh child)
            module_hooks._global_forward_hooks_with_kwargs.pop(handle.id, None)
        self.handles = []
        if sys.gettrace() is _no_trace:  # a model.forward that never returned (a generator's, say)
            sys.settrace(None)

    def _record(self, event: dict, group: int | None) -> None:
        with self._lock:
            if len(self.events) >= MAX_EVENTS:
                self.truncated = True
            else:
                self.events.append(event)
                self.groups.append(group)
                self.threads.add(threading.get_ident())

    def _number(self, model) -> tuple[int, bool]:
        """The model's number, and whether this is its first call."""
        with self._lock:
            if id(model) in self.models:
                return self.models[id(model)], False
            self.models[id(model)] = len(self.models)
            self.kept.append(model)
            for parameter in model.parameters():
                self.owners.setdefault(id(parameter), self.models[id(model)])
            return self.models[id(model)], True

    def _before_forward(self, module, args):
        local = self._local
        if getattr(local, "depth", 0) == 0 and getattr(local, "bypass", None) is None and _no_model(module):
            return  # not recorded: a model it calls is seen as called itself
        local.depth = getattr(local, "depth", 0) + 1
        if local.depth != 1 or getattr(local, "bypass", None) is not None:
            return  # a submodule's call inside a model's (one run as model.forward included)
        outer = _bypassed(module)
        if outer is not None:
            self._start_bypass(*outer)
            return
        x, t = _inputs(module, args, {})
        local.event, local.input, local.model = self._forward_event(module, x, t), x, self.models[id(module)]

    def _forward_event(self, module, x, t) -> dict:
        """The event of one top-level call of ``module`` on ``x`` and ``t``, recorded (its loss comes after)."""
        number, first = self._number(module)
        event = {"kind": "forward", "model": number, "class": type(module).__name__,
                 "grad": torch.is_grad_enabled(), "training": module.training, "weights": weights_digest(module) if first
                 else None, "loss": None}
        _describe_inputs(event, x, t)
        self._record(event, number)
        return event

    def _after_forward(self, module, args, *rest):
        # torch calls it (module, args, kwargs, output), or (module, args, output) when forward raised
        local = self._local
        if getattr(local, "depth", 0) == 0 and _no_model(module):
            return  # skipped on its way in (``_before_forward``)
        local.depth = max(0, getattr(local, "depth", 0) - 1)
        event, x = getattr(local, "event", None), getattr(local, "input", None)
        if local.depth != 0 or event is None:
            return
        kwargs = rest[0] if len(rest) == 2 and isinstance(rest[0], dict) else {}
        if kwargs and (x is None or event["timesteps"] is None):  # given by name: read now
            named_x, named_t = _inputs(module, args, kwargs)
            x = x if x is not None else named_x
            _describe_inputs(event, x, named_t if event["timesteps"] is None else None, keep_timesteps=True)
        _finish(event, rest[-1], x)
        local.event = local.input = None

    def _start_bypass(self, model, frame, x, t) -> None:
        """``model.forward`` runs without the model's hooks: record its call now, and its loss when that
        frame returns (a trace function on that frame alone; the thread's own tracer, if any, kept)."""
        local = self._local
        event = self._forward_event(model, x, t)
        local.model = self.models[id(model)]
        previous_global, previous_local = sys.gettrace(), frame.f_trace

        def on_return(frame_, kind, value):
            if kind == "return":
                _finish(event, value, x)
                local.bypass = None
                if sys.gettrace() is _no_trace:
                    sys.settrace(previous_global)
            if previous_local is not None:
                return previous_local(frame_, kind, value)
            return on_return

        local.bypass = frame
        frame.f_trace_lines = previous_local is not None and frame.f_trace_lines
        frame.f_trace = on_return
        if previous_global is None:
            sys.settrace(_no_trace)  # frames' trace functions are called only while the thread traces

    def _after_step(self, optimizer, args, kwargs):
        models = sorted({self.owners[id(p)] for group in optimizer.param_groups for p in group["params"]
                         if id(p) in self.owners})
        # The step belongs to the record of the model its thread ran last (the one it trains).
        group = getattr(self._local, "model", None)
        if group is None and len(models) == 1:
            group = models[0]
        self._record({"kind": "step", "optimizer": type(optimizer).__name__,
                      "family": [c.__name__ for c in type(optimizer).__mro__ if c.__module__.startswith("torch.optim")],
                      "lr": [_rate(g.get("lr", 0.0)) for g in optimizer.param_groups],
                      "settings": [_settings(g) for g in optimizer.param_groups],
                      "models": models}, group)
        if self.reseed_global:
            torch.default_generator.manual_seed(GLOBAL_RESEED)

    def report(self) -> dict:
        after = []
        for module, before in zip(self.arguments, self.before):
            now = self._state(module)
            after.append({
                "hooks_left": now["hooks"] - before["hooks"],
                "modes_changed": [n for n, mode in now["modes"].items() if before["modes"].get(n, mode) != mode],
                "weights_changed": now["weights"] != before["weights"],
                "gradients": [n for n, p in module.named_parameters() if p.grad is not None],
                "requires_grad_changed": [n for n, flag in now["requires_grad"].items()
                                          if before["requires_grad"].get(n, flag) != flag],
            })
        return {"events": self._ordered_events(), "truncated": self.truncated, "arguments": after,
                "global_hooks_left": _global_hook_count() - self.global_hooks}

    def _ordered_events(self) -> list:
        """The events as recorded when one thread recorded them all. When several did, the order in which
        their events interleaved, and so which model was seen first, is the scheduler's: then each model's
        events come together, in the order they happened (one model runs in one thread at a time), the
        models passed in first and the others by what their events hold (never by when they ran), and the
        models are numbered again by their first appearance -- the same record on every run."""
        if len(self.threads) <= 1:
            return self.events
        by_model: dict = {}
        for event, group in zip(self.events, self.groups):
            by_model.setdefault(group, []).append(event)
        classes = {number: type(model).__name__ for number, model in enumerate(self.kept)}

        def content(events: list) -> str:
            return json.dumps([{**e, "model": classes.get(e.get("model")),
                                "models": sorted(classes[m] for m in e.get("models", ()))} for e in events],
                              sort_keys=True, default=str)

        def place(group) -> tuple:
            model = self.kept[group] if group is not None else None
            passed = next((i for i, a in enumerate(self.arguments) if a is model), len(self.arguments))
            return passed, content(by_model[group])

        ordered = [e for group in sorted(by_model, key=place) for e in by_model[group]]
        numbers: dict = {}
        for event in ordered:
            for model in [event["model"]] if event["kind"] == "forward" else event["models"]:
                numbers.setdefault(model, len(numbers))
        return [{**e, "model": numbers[e["model"]]} if e["kind"] == "forward"
                else {**e, "models": sorted(numbers[m] for m in e["models"])} for e in ordered]


def _no_trace(*_):
    return None  # traces no new frame: there only for a running frame's own trace function


def _forward_names(module) -> list:
    """The names of the first two parameters of ``module``'s forward (image batch, timesteps), if it has them."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return []
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in parameters if p.kind not in variadic][:2]


def _inputs(module, args: tuple, kwargs: dict) -> tuple:
    """A model's image batch and timesteps: its forward's first two arguments, by position or by name."""
    values = list(args[:2])
    if kwargs and len(values) < 2:
        for name in _forward_names(module)[len(values):]:
            if name not in kwargs:
                break
            values.append(kwargs[name])
    values += [None] * (2 - len(values))
    return values[0], values[1]


def _describe_inputs(event: dict, x, t, keep_timesteps: bool = False) -> None:
    """An event's rows, batch and timesteps, from the call's inputs."""
    x = x if isinstance(x, torch.Tensor) else None
    event["rows"] = [image_digest(row) for row in x[:MAX_ROWS]] if x is not None and x.dim() > 0 else []
    event["batch"] = int(x.shape[0]) if x is not None and x.dim() > 0 else 0
    if keep_timesteps and t is None:
        return
    timesteps = None
    if isinstance(t, torch.Tensor) and t.numel() <= MAX_TIMESTEPS:
        timesteps = [float(v) for v in t.detach().reshape(-1).tolist()]
    elif isinstance(t, (int, float)) and not isinstance(t, bool):
        timesteps = [float(t)]
    event["timesteps"] = timesteps


def _loss(output, x) -> float | None:
    """The mean squared difference between a model's output and its input, when they have one shape."""
    if isinstance(output, torch.Tensor) and isinstance(x, torch.Tensor) and output.shape == x.shape:
        with torch.no_grad():
            return ((output.detach().double() - x.detach().double()) ** 2).mean().item()
    return None


MODEL_CLASSES = frozenset({"SimpleUNet", "NoSkipUNet"})  # a module of these classes (or of one made from them) is a model


@functools.lru_cache(maxsize=256)
def _model_class(cls: type) -> bool:
    return any(base.__name__ in MODEL_CLASSES for base in cls.__mro__)


def _no_model(module) -> bool:
    """A module called outside any model's call that is no model itself: one without parameters (a loss
    module, ``nn.MSELoss()``), or one that holds models and calls them (a wrapper of the student's around
    one UNet or both, with one optimizer over both: its UNets are the models, each recorded)."""
    if _model_class(type(module)):
        return False
    if next(module.parameters(), None) is None:
        return True
    return any(_model_class(type(m)) for m in module.modules())


def _bypassed(module):
    """Where ``module``'s call (no model's call around it in this thread) runs inside the forward of a model
    holding it that was called as ``model.forward(...)``, bypassing that model's hooks: (the outermost such
    model, its forward's frame, that forward's first two arguments); else None."""
    found = None
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "forward":
            owner = frame.f_locals.get("self")
            if isinstance(owner, torch.nn.Module) and owner is not module and getattr(
                    type(owner).forward, "__code__", None) is frame.f_code and any(m is module for m in owner.modules()) \
                    and not _no_model(owner):
                found = (owner, frame)
        frame = frame.f_back
    if found is None:
        return None
    owner, frame = found
    names = frame.f_code.co_varnames[1:min(3, frame.f_code.co_argcount)]
    values = [frame.f_locals.get(name) for name in names] + [None, None]
    return owner, frame, values[0], values[1]


def _number(value) -> float | None:
    """The finite number a Python or numpy number or a one-element tensor holds (torch.optim accepts all
    three for its settings), else None."""
    try:
        if isinstance(value, torch.Tensor):
            number = float(value.detach().reshape(-1)[0]) if value.numel() == 1 else None
        elif isinstance(value, (int, float)) or type(value).__module__ == "numpy":
            number = float(value)
        else:
            number = None
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _rate(value) -> float:
    """A parameter group's learning rate as a number, or -1.0 for anything else (then named as a wrong rate)."""
    rate = _number(value)
    return -1.0 if rate is None else rate


def _settings(group: dict) -> dict:
    """A parameter group's ``ADAM_SETTINGS`` as plain numbers and bools; a value that is not one (a
    missing key, a tensor of many numbers, a huge or NaN number) is None, which no rule accepts."""
    betas = group.get("betas")
    betas = tuple(betas) if isinstance(betas, (tuple, list)) and len(betas) == 2 else (None, None)
    values = {"beta1": betas[0], "beta2": betas[1], "eps": group.get("eps"), "weight_decay": group.get("weight_decay"),
              "amsgrad": group.get("amsgrad"), "maximize": group.get("maximize")}
    return {name: (_flag(values[name]) if kind is bool else _setting(values[name]))
            for name, kind in ADAM_SETTINGS.items()}


def _setting(value) -> float | None:
    """A numeric setting (never a bool, which is a flag's), within ``MAX_SETTING``; else None."""
    number = None if isinstance(value, bool) else _number(value)
    return number if number is not None and abs(number) <= MAX_SETTING else None


def _flag(value) -> bool | None:
    """A flag as torch reads it (``if group["amsgrad"]``): bools, and 0/1 as Python or numpy gives them."""
    if isinstance(value, bool) or type(value).__module__ == "numpy" and type(value).__name__.startswith("bool"):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None



class CallCounter(TorchFunctionMode):
    """Counts what one call did, for rules about how code is written, which no output shows ("with no
    Python loop"): the lines of the submission's own ``files`` that ran (a loop runs its body once per
    item; torch's own Python is not traced), and the torch operations given a tensor with a dimension
    of ``size`` (the caller picks a size no other tensor has, so these are the operations on its
    input: a loop over the input's items, or over anything else, repeats them).
    """

    def __init__(self, files, size: int):
        super().__init__()
        self.files, self.size = files, size
        self.lines = self.operations = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if any(isinstance(leaf, torch.Tensor) and self.size in leaf.shape for leaf in tree_leaves((args, kwargs))):
            self.operations += 1
        return func(*args, **kwargs)

    def _start(self, frame, _event, _arg):
        return self._line if frame.f_code.co_filename in self.files else None

    def _line(self, _frame, event, _arg):
        if event == "line":
            self.lines += 1
        return self._line

    def __enter__(self):
        self._previous = sys.gettrace()
        sys.settrace(self._start)
        return super().__enter__()

    def __exit__(self, *exc):
        sys.settrace(self._previous)
        return super().__exit__(*exc)
