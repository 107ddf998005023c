"""The public checks' verdict rules: one definition, run by the grader and by students' ``check.py``.

Standard library and torch only: ``autograder release`` pastes this file into ``check.py`` (between
its ``# BEGIN RULES`` and ``# END RULES`` markers) and the grader imports it, so the two cannot
drift. A rule judges one case from what a *view* of the student's code answers (``LocalView`` runs
it in this process, as check.py does; the grader's view asks a sandboxed child the same questions)
and from public facts only: the contract's shapes and constructor settings (``public_checks.json``),
the sinusoid's closed form (the stub's docstring) and properties every correct implementation has
(attention rows sum to 1; with conv2 zeroed a ResBlock returns skip(x); ...). Weights are our own,
drawn from the case's seed (``random_state``), so both sides run the student's code on the same
numbers and the student's own initialisation (zero-initialised convolutions, say) changes nothing.

Every comparison of student numbers here is NaN-aware: a NaN or an infinity never passes where the
expected value is finite (``nonfinite_problem``, ``largest_difference``).
"""
import math

import torch

# What "equal" means when the student's code and the expectation run the same float32 operations
# (a zeroed conv, the student's own submodules): a relative and an absolute part.
SAME_RELATIVE = 1e-5
SAME_ABSOLUTE = 1e-6
# The sinusoid against its closed form in float64: float32 angles up to ~1000 rad carry ~1e-4 of
# rounding, whichever formula computes the frequencies; every mistake we know is off by O(1).
SINUSOID_ALLOWED = 2e-3
CONSTANT_VALUE = 0.75  # v's value in the constant-value probe


class Failed(Exception):
    """A public check's verdict: what differs, in the student's terms, and a hint where one helps."""

    def __init__(self, message: str, hint: str | None = None, compared: tuple | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # (what, yours, expected, allowed) where the verdict is about numbers: the grader draws them
        self.compared = compared


# --- NaN-aware comparisons --------------------------------------------------------------------

def nonfinite_problem(got: torch.Tensor, what: str, expected: torch.Tensor | None = None) -> str | None:
    """NaN or infinity in ``got`` where ``expected`` (if given) does not hold the same value there."""
    finite = torch.isfinite(got)
    if bool(finite.all()):  # nearly always: nothing more to look at
        return None
    bad = ~finite
    if expected is not None and expected.shape == got.shape:
        bad &= ~(same_nonfinite(got, expected))
    if not bool(bad.any()):
        return None
    index = tuple(int(i) for i in torch.nonzero(bad)[0])
    where = " where the expected value is finite" if expected is not None else ""
    return f"{what}: contains NaN or infinity{where} (first at index {index}: {got[index].item()})"


def same_nonfinite(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Where ``a`` and ``b`` hold the same NaN or the same infinity."""
    return (torch.isnan(a) & torch.isnan(b)) | (torch.isinf(a) & (a == b))


def largest_difference(got: torch.Tensor, expected: torch.Tensor) -> tuple[float, tuple]:
    """max |got - expected| and where it is; a non-finite value counts as infinitely far unless
    ``expected`` holds the same one at the same place."""
    got, expected = got.double(), expected.double()
    if got.numel() == 0:
        return 0.0, ()
    difference = (got - expected).abs()
    if not bool(torch.isfinite(difference).all()):  # rare: NaN or infinity on either side
        difference = torch.where(same_nonfinite(got, expected), torch.zeros_like(got), difference)
        difference = torch.nan_to_num(difference, nan=math.inf)
    flat = difference.reshape(-1)
    position = int(flat.argmax())
    index = []
    for size in reversed(difference.shape):  # the flat position as an index of the tensor's shape
        index.append(position % size)
        position //= size
    index = tuple(reversed(index))
    return difference[index].item(), index


def magnitude(value: torch.Tensor) -> float:
    """The largest finite |value| (0 when there is none)."""
    finite = value.double()[torch.isfinite(value)]
    return finite.abs().max().item() if finite.numel() else 0.0


def allowed_same(expected: torch.Tensor) -> float:
    """The float32 round-off of the same operations, at ``expected``'s scale."""
    return SAME_RELATIVE * magnitude(expected) + SAME_ABSOLUTE


def close(got, expected: torch.Tensor, allowed: float | None = None) -> bool:
    """``got`` is a tensor of ``expected``'s shape within ``allowed`` (default: ``allowed_same``)
    everywhere; NaN and infinity count as far."""
    if type(got) is not torch.Tensor or got.shape != expected.shape:
        return False
    if allowed is None:
        allowed = allowed_same(expected)
    return largest_difference(got, expected)[0] <= allowed


def close_where_known(got, candidate: torch.Tensor, allowed: float) -> bool:
    """``close`` on the entries where ``candidate`` is known (not NaN); False when none is."""
    if type(got) is not torch.Tensor or got.shape != candidate.shape:
        return False
    known = ~torch.isnan(candidate)
    return bool(known.any()) and largest_difference(got[known], candidate[known])[0] <= allowed


def changed(before: torch.Tensor, after: torch.Tensor) -> bool:
    """Both finite and measurably different (more than float32 round-off)."""
    if before.shape != after.shape or not (bool(torch.isfinite(before).all()) and bool(torch.isfinite(after).all())):
        return False
    scale = max(magnitude(before), magnitude(after))
    return largest_difference(before, after)[0] > 1e-6 * scale + 1e-12


def difference_text(got: torch.Tensor, expected: torch.Tensor, what: str) -> str:
    worst, index = largest_difference(got, expected)
    return (f"{what} differs by up to {worst:.3g}; at index {index} expected "
            f"{expected[index].item():.6g}, got {got[index].item():.6g}")


def shape_problem(value, shape, what: str) -> str | None:
    shape = tuple(shape)
    if type(value) is not torch.Tensor:
        kind = f"a tuple/list of {len(value)} items" if isinstance(value, list) else type(value).__name__
        return f"{what}: expected a tensor of shape {shape}, got {'None' if value is None else kind}"
    if tuple(value.shape) != shape:
        return f"{what}: expected shape {shape}, got {tuple(value.shape)}"
    if not value.is_floating_point():
        return f"{what}: expected floating-point values, got dtype {value.dtype}"
    return None


def _require_shape(value, shape, what: str) -> None:
    problem = shape_problem(value, shape, what)
    if problem:
        raise Failed(problem)
    problem = nonfinite_problem(value, what)
    if problem:
        raise Failed(problem)


# --- inputs and weights ---------------------------------------------------------------------

def make_inputs(case: dict) -> list:
    """The case's input tensors from its seed: the same numbers on every machine and side."""
    generator = torch.Generator().manual_seed(case["seed"])
    tensors = []
    for name, shape in case["inputs"].items():
        if name == "t":
            if case.get("float_timesteps"):
                tensors.append(torch.rand(shape, generator=generator) * 999)
            else:
                tensors.append(torch.randint(0, 1000, shape, generator=generator))
        else:
            tensors.append(torch.randn(shape, generator=generator))
    return tensors


def moved_inputs(case: dict, inputs: list) -> list:
    """Every input moved: fresh noise added to feature maps and embeddings, timesteps shifted by 250."""
    generator = torch.Generator().manual_seed(case["seed"] + 1)
    moved = []
    for name, value in zip(case["inputs"], inputs):
        if name == "t":
            moved.append((value + 250) % 1000)
        else:
            moved.append(value + torch.randn(value.shape, generator=generator))
    return moved


def random_state(shapes: dict, seed: int) -> dict:
    """Weights of our own for parameters of the given shapes: fan-in-scaled noise for weight
    matrices and kernels, 1 + noise for norm scales, small noise for biases."""
    generator = torch.Generator().manual_seed(10007 * seed + 3)
    state = {}
    for name, shape in shapes.items():
        shape = tuple(shape)
        noise = torch.randn(shape, generator=generator)
        if len(shape) >= 2:
            state[name] = noise / math.sqrt(max(1, math.prod(shape[1:])))
        elif name.endswith("weight"):
            state[name] = 1 + 0.3 * noise
        else:
            state[name] = 0.3 * noise
    return state


def load_weights(module: torch.nn.Module, state: dict, partial: bool = True) -> str | None:
    """Load ``state`` as a grading child does: None if it fits, else why not.

    Every given tensor needs a place; without ``partial`` every trainable parameter needs a value.
    The student's own buffers and frozen parameters keep theirs: they are not the contract's.
    """
    try:
        result = module.load_state_dict(state, strict=False)
    except Exception as error:  # noqa: BLE001 -- a size mismatch, or the student's own hook
        return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    trainable = {name for name, p in module.named_parameters() if p.requires_grad}
    problems = []
    if result.unexpected_keys:
        problems.append("no place for " + ", ".join(result.unexpected_keys[:8]))
    missing = [k for k in result.missing_keys if k in trainable and not partial]
    if missing:
        problems.append("nothing loaded into " + ", ".join(missing[:8]))
    return "; ".join(problems) or None


# --- describing a module, as a grading child does ----------------------------------------------

def _json_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return None


def describe_module(name: str, module: torch.nn.Module) -> dict:
    """Name, class, the torch.nn classes it is (a ``GroupNorm32`` is a GroupNorm) and their settings."""
    torch_bases, config = [], {}
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn.modules") and cls is not torch.nn.Module:
            torch_bases.append(cls.__name__)
            for constant in getattr(cls, "__constants__", ()):
                config.setdefault(constant, _json_value(getattr(module, constant, None)))
    if hasattr(module, "bias") and torch_bases:
        config["bias"] = isinstance(getattr(module, "bias"), torch.Tensor)
    return {"name": name, "type": type(module).__name__, "torch": torch_bases, "config": config}


def describe(module: torch.nn.Module) -> dict:
    """What the structure rules read: parameters, state, own constants and every submodule."""
    return {
        "parameters": {name: list(p.shape) for name, p in module.named_parameters()},
        "state_dict": {name: list(t.shape) for name, t in module.state_dict().items()},
        "buffers": [name for name, _ in module.named_buffers()],
        "frozen": [name for name, p in module.named_parameters() if not p.requires_grad],
        "modules": {name: describe_module(name, m) for name, m in module.named_modules()},
    }


# --- the student's code in this process -------------------------------------------------------

def _plain(value, depth: int = 0):
    """What a grading child sends back: detached CPU tensors, tuples as lists."""
    if depth > 6:
        raise TypeError("returned something nested too deeply")
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone().as_subclass(torch.Tensor)
    if isinstance(value, (tuple, list)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"returned a {type(value).__name__}, expected tensors, numbers or strings")


class LocalView:
    """A class (and the functions of its module) in this process, answering as the grader's
    sandboxed child does: the random generator seeded with 0 before every build and run, no
    gradients, plain outputs.

    ``watching`` is the grader's watcher module (``sandbox/child/watch.py``; check.py ships a copy
    beside itself), used by ``watch``; ``error_text`` words a student's exception (default: its type
    and message)."""

    def __init__(self, cls, namespace=None, watching=None, error_text=None):
        self.cls = cls
        self.namespace = namespace
        self._watching = watching
        self._error_text = error_text or (lambda error: f"{type(error).__name__}: {error}".rstrip(": "))

    @property
    def watching(self):
        if self._watching is None:  # in the grader's package; check.py always passes its shipped copy
            from .sandbox.child import watch

            self._watching = watch
        return self._watching

    def module(self, init: dict):
        torch.default_generator.manual_seed(0)  # what torch.manual_seed(0) seeds on the CPU, 50x cheaper
        return self.cls(**init)

    def load(self, module, state: dict, partial: bool = True) -> str | None:
        return load_weights(module, state, partial)

    def run(self, module, inputs: list, submodule: str = "", **kwargs):
        target = module.get_submodule(submodule) if submodule else module
        torch.default_generator.manual_seed(0)  # what torch.manual_seed(0) seeds on the CPU, 50x cheaper
        with torch.no_grad():
            return _plain(target(*[x.clone() for x in inputs], **kwargs))

    def module_arg(self, class_name: str, init: dict, state: dict | None = None):
        """The student's ``class_name`` holding ``state``: what the grader passes a task's function."""
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
        torch.default_generator.manual_seed(0)  # what torch.manual_seed(0) seeds on the CPU, 50x cheaper
        with torch.no_grad():
            return _plain(found(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args]))

    def watch(self, function: str, *args, repeat: int = 1, eval_mode: bool = False, experiment: bool = False) -> dict:
        """``function(*args)`` called ``repeat`` times (module arguments in eval mode first with
        ``eval_mode``), watched as the grader's child watches it: see ``watched``."""
        found = getattr(self.namespace, function, None)
        if not callable(found):
            raise NameError(f"your submission does not define {function}")
        modules = [a for a in args if isinstance(a, torch.nn.Module)]
        if eval_mode:
            for module in modules:
                module.eval()
        outputs, error = [], None
        with self.watching.Watcher(modules) as watcher:
            for _ in range(max(1, min(3, repeat))):
                torch.default_generator.manual_seed(0)
                try:
                    outputs.append(_plain(found(*args)))
                except Exception as exc:  # noqa: BLE001 - the student's error is part of what was watched
                    error = self._error_text(exc)
                    break
        return watched(outputs, error, watcher.report())

    def digest(self, tensor: torch.Tensor) -> str:
        return self.watching.digest(tensor)

    def describe(self, init: dict) -> dict:
        return describe(self.module(init))

    def together(self, *requests) -> list:
        """Answers to several requests (the grader asks its child all of them in one round trip)."""
        return [request() for request in requests]


# --- what the rules share ---------------------------------------------------------------------

# What a homework rule calls, and what its case is: the case's text names the function, not a class.
TASK_CALLS = {"similarity_properties": "embedding_similarity", "map_sums": "attention_map with a SelfAttention",
              "shares": "parameter_shares of the breakdown of a"}


# Rules whose message names the call they watched: their case adds nothing.
WATCHED_KINDS = ("trace_protocol", "experiment_protocol")


def case_text(class_name: str, case: dict, kind: str | None = None) -> str:
    if kind in WATCHED_KINDS:
        return ""
    if kind in TASK_CALLS:
        if kind == "shares":
            args = ", ".join(f"{k}={v}" for k, v in case["init"].items())
            model = "SimpleUNet" if "base_channels" in case["init"] else "ResBlock"
            return f"{TASK_CALLS[kind]} {model}({args})"
        query = case.get("options", {}).get("query")
        inputs = ", ".join(f"{name} of shape {tuple(shape)}" for name, shape in case["inputs"].items())
        return f"{TASK_CALLS[kind]} on {inputs}" + (f", query {tuple(query)}" if query else "")
    args = ", ".join(f"{k}={v}" for k, v in case["init"].items())
    inputs = ", ".join(f"{name} of shape {tuple(shape)}" for name, shape in case["inputs"].items())
    return f"{class_name}({args}) with {inputs}" + (" (float timesteps)" if case.get("float_timesteps") else "")


def as_list(output) -> list:
    return list(output) if isinstance(output, list) else [output]


def _weights_problem(described: dict, expected: dict) -> str:
    """The contract's parameters against the module's, briefly (for a load that failed)."""
    ours = {n: list(s) for n, s in described["parameters"].items() if n not in described["frozen"]}
    parts = [f"{n} is {ours[n]} in yours, {list(s)} in the contract" for n, s in expected.items()
             if n in ours and list(ours[n]) != list(s)]
    parts += [f"yours has no {n}" for n in expected if n not in ours]
    return "; ".join(parts[:3]) or "the names differ"


def module_with_weights(view, case: dict, state: dict, required: bool = False, partial: bool = True):
    """The student's module holding ``state`` (our weights under the contract's names).

    When they do not fit: with ``required`` (a probe that needs exactly these weights) the check
    fails and says why; else the module gets random weights of our own for its own parameters, so
    the check still judges the function and not the student's initial weights.
    """
    module = view.module(case["init"])
    problem = view.load(module, state, partial)
    if problem is None:
        return module
    described = view.describe(case["init"])
    if required:
        raise Failed(
            f"this check sets the contract's weights, and they do not fit your module: "
            f"{_weights_problem(described, {n: list(t.shape) for n, t in state.items()})}",
            hint="Name and size the submodules as the docstring does: the checks load weights by those names.",
        )
    own = {n: s for n, s in described["parameters"].items() if n not in described["frozen"]}
    module = view.module(case["init"])
    if view.load(module, random_state(own, case["seed"]), partial=True) is None:
        return module
    return view.module(case["init"])


def our_weights(case: dict, expect: dict, offset: int = 0) -> dict:
    return random_state(expect["state"], case["seed"] + offset)


# --- shapes -------------------------------------------------------------------------------------

def output_shapes(view, case: dict, expect: dict) -> None:
    """Each output has the contract's shape (a DownBlock's pair in its order)."""
    module = module_with_weights(view, case, our_weights(case, expect))
    output = view.run(module, make_inputs(case))
    expected, names = expect["outputs"], expect["names"]
    got = as_list(output) if len(expected) > 1 else [output]
    if len(got) != len(expected):
        raise Failed(f"expected {len(expected)} outputs ({', '.join(names)}), got {len(got)}",
                     hint="forward returns the pair (down(h), h)" if len(expected) == 2 else None)
    shapes = [tuple(g.shape) if isinstance(g, torch.Tensor) else None for g in got]
    if len(expected) == 2 and shapes == [tuple(e) for e in reversed(expected)] and shapes[0] != shapes[1]:
        raise Failed(f"the pair is in the wrong order: got shapes {shapes[0]} then {shapes[1]}",
                     hint=f"The pair is ({names[0]}, {names[1]}): the downsampled tensor first, the skip second.")
    for value, shape, name in zip(got, expected, names):
        problem = shape_problem(value, shape, name)
        if problem:
            raise Failed(problem)


def pair(view, case: dict, expect: dict) -> None:
    """DownBlock returns (down(h), h): a pair, the downsampled tensor first."""
    module = module_with_weights(view, case, our_weights(case, expect))
    output = view.run(module, make_inputs(case))
    if not isinstance(output, list) or len(output) != 2:
        raise Failed("forward must return a pair (down(h), h)",
                     hint="Return the pair (self.down(h), h): the downsampled tensor first, the skip second.")
    first, second = output
    height = case["inputs"]["x"][2]
    if all(isinstance(v, torch.Tensor) and v.dim() == 4 for v in output) and height > 1:
        if first.shape[2] == height and second.shape[2] == (height + 1) // 2:
            raise Failed("the pair is in the wrong order: the full-resolution h came first",
                         hint="Return (self.down(h), h): the downsampled tensor first, the skip second.")


def weights_shape(view, case: dict, expect: dict) -> None:
    module = module_with_weights(view, case, our_weights(case, expect))
    output = view.run(module, make_inputs(case), return_weights=True)
    _require_shape(_attention_weights(output), expect["weights"], "attention weights")


def _attention_weights(output):
    if not isinstance(output, list) or len(output) != 2:
        raise Failed("forward(x, return_weights=True) must return a pair (output, weights)",
                     hint="With return_weights=True, forward returns the pair (output, weights).")
    weights = output[1]
    return weights


# --- the sinusoid -----------------------------------------------------------------------------

def sinusoid(t: torch.Tensor, dim: int, cos_first: bool = False, denominator_offset: int = 1,
             sign: int = -1, interleaved: bool = False) -> torch.Tensor:
    """The docstring's closed form in float64 (the defaults), or one of its common variants.

    Where an angle is too large for float32 to place (growing frequencies reach 10^7 rad), a
    variant holds NaN: "unknown", skipped by ``close_where_known``.
    """
    count = dim // 2
    i = torch.arange(count, dtype=torch.float64)
    freqs = torch.exp(sign * i * math.log(10000.0) / (count - denominator_offset))
    angles = t.double()[:, None] * freqs[None, :]
    angles = torch.where(angles.abs() > 2000, torch.full_like(angles, math.nan), angles)
    first, second = (torch.cos(angles), torch.sin(angles)) if cos_first else (torch.sin(angles), torch.cos(angles))
    if interleaved:
        return torch.stack([first, second], dim=-1).flatten(1)
    return torch.cat([first, second], dim=-1)


SINUSOID_VARIANTS = [  # (settings, what the student's features are), most common first
    ({"cos_first": True}, "the cosines come first"),
    ({"denominator_offset": 0}, "the frequencies divide by dim/2 instead of dim/2 - 1"),
    ({"cos_first": True, "denominator_offset": 0}, "the cosines come first and the frequencies divide by dim/2 "
                                                   "instead of dim/2 - 1"),
    ({"interleaved": True}, "sines and cosines alternate (interleaved) instead of all sines, then all cosines"),
    ({"interleaved": True, "cos_first": True}, "cosines and sines alternate instead of all sines, then all cosines"),
    ({"sign": 1}, "the frequencies grow with i: the exponent must be negative, exp(-i * ln(10000) / (dim/2 - 1))"),
]


def sinusoid_shape(view, case: dict, expect: dict) -> None:
    """The features' shape -- of features computed from each sample's own t (a constant, or t
    repeated, has the shape too): a new t[0] changes row 0 alone, and a row holds different values."""
    what = "sinusoidal_embedding(t, dim)"
    dim = case["init"]["dim"]
    (t,) = make_inputs(case)
    moved = t.clone()
    moved[0] = moved_inputs(case, [t])[0][0]
    got, again = view.together(lambda: view.call("sinusoidal_embedding", t, dim),
                               lambda: view.call("sinusoidal_embedding", moved, dim))
    _require_shape(got, expect["shape"], what)
    _require_shape(again, expect["shape"], what)
    hint = "Compute the features from t: t[:, None] * f[None, :] gives every (timestep, frequency) pair."
    if not changed(got[0], again[0]):
        raise Failed(f"{what} gives the same features for another timestep: they are not computed from t", hint=hint)
    if any(not close(again[i], got[i]) for i in range(1, t.shape[0])):
        raise Failed(f"{what}: a new t[0] changed the features of another sample: each row comes from its own t",
                     hint=hint)
    if any(close(row, row[:1].expand_as(row).contiguous()) for row in got):
        raise Failed(f"{what}: a row holds one value {dim} times: the features are sines and cosines of "
                     "t times different frequencies", hint=hint)


def sinusoid_values(view, case: dict, expect: dict) -> None:
    """The closed form of the docstring: [sin(t f), cos(t f)], f_i = exp(-i ln(10000) / (dim/2 - 1))."""
    what = "sinusoidal_embedding(t, dim)"
    dim = case["init"]["dim"]
    (t,) = make_inputs(case)
    got = view.call("sinusoidal_embedding", t, dim)
    _require_shape(got, (t.shape[0], dim), what)
    expected = sinusoid(t, dim)
    if close(got, expected, SINUSOID_ALLOWED):
        return
    count = dim // 2
    compared = (what, got, expected, SINUSOID_ALLOWED)
    formula = (f"[sin(t*f), cos(t*f)], the {count} sines first, with f_i = exp(-i*ln(10000)/({count}-1)) "
               f"for i = 0..{count - 1}")
    for settings, mistake in SINUSOID_VARIANTS:
        if close_where_known(got, sinusoid(t, dim, **settings), SINUSOID_ALLOWED):
            raise Failed(f"{what}: {mistake}; " + difference_text(got, expected, "the result"),
                         hint=f"The contract's features are {formula}.", compared=compared)
    raise Failed(difference_text(got, expected, what), hint=f"Expected {formula}.", compared=compared)


# --- behaviour on our weights -----------------------------------------------------------------

_RESIDUALS = {  # class -> (the layer zeroed, the skip path's submodule (None: x itself), hint)
    "ResBlock": ("conv2", "skip", "Return conv2's output plus skip(x): the residual adds skip(x) as it is, "
                                  "neither scaled nor normalised."),
    "SelfAttention": ("out", None, "Return x + self.out(attn): the residual adds the block's input x itself, "
                                   "not norm(x)."),
}


def residual(view, case: dict, expect: dict) -> None:
    """With the last layer zeroed (ResBlock's conv2, attention's out), the block returns its skip path."""
    zeroed, skip, hint = _RESIDUALS[expect["class"]]
    state = our_weights(case, expect)
    for name in (f"{zeroed}.weight", f"{zeroed}.bias"):
        state[name] = torch.zeros_like(state[name])
    module = module_with_weights(view, case, state, required=True)
    inputs = make_inputs(case)
    if skip:
        got, expected = view.together(lambda: view.run(module, inputs),
                                      lambda: view.run(module, inputs[:1], submodule=skip))
        _require_shape(expected, expect["outputs"][0], f"your {skip}(x)")
        should = f"{skip}(x)"
    else:
        got, expected, should = view.run(module, inputs), inputs[0], "x"
    _require_shape(got, expect["outputs"][0], f"output with {zeroed} = 0")
    if close(got, expected):
        return
    what = f"with {zeroed} = 0 the output must be {should}; it"
    if close(got, torch.zeros_like(expected)):
        raise Failed(f"with {zeroed} = 0 your output is 0: the residual {should} is not added", hint=hint)
    raise Failed(difference_text(got, expected, what), hint=hint,
                 compared=(f"output with {zeroed} = 0", got, expected, allowed_same(expected)))


_TIME_INPUTS = {  # class -> (its time input, hint when it is ignored)
    "ResBlock": ("t_emb", "Add time_mlp(t_emb)[:, :, None, None] to h after conv1, before norm2."),
    "SimpleUNet": ("t", "Embed t with time_embed and pass t_emb to every block."),
}


def time_sensitivity(view, case: dict, expect: dict) -> None:
    """Changing sample 0's time input changes sample 0's output, and no other sample's."""
    name, hint = _TIME_INPUTS[expect["class"]]
    module = module_with_weights(view, case, our_weights(case, expect))
    inputs = make_inputs(case)
    index = list(case["inputs"]).index(name)
    changed_inputs = list(inputs)
    moved = inputs[index].clone()
    moved[0] = moved_inputs(case, inputs)[index][0]
    changed_inputs[index] = moved
    before, after = view.together(lambda: view.run(module, inputs), lambda: view.run(module, changed_inputs))
    for value in (before, after):
        _require_shape(value, expect["outputs"][0], "output")
    if not changed(before[0], after[0]):
        raise Failed(f"changing {name} did not change the output: the timestep is ignored", hint=hint)
    for sample in range(1, before.shape[0]):
        if not close(after[sample], before[sample]):
            raise Failed(f"changing {name} of sample 0 changed the output of sample {sample}",
                         hint="Each sample's timestep must reach only that sample's output.")


def softmax_rows(view, case: dict, expect: dict) -> None:
    """Attention weights are non-negative and each row (one query over all keys) sums to 1."""
    module = module_with_weights(view, case, our_weights(case, expect))
    weights = _attention_weights(view.run(module, make_inputs(case), return_weights=True))
    _require_shape(weights, expect["weights"], "attention weights")
    if bool((weights < -1e-6).any()):
        raise Failed("some attention weights are negative", hint="Apply softmax to the scores.")
    rows = weights.double().sum(-1)
    if close(rows, torch.ones_like(rows), 1e-4):
        return
    columns = weights.double().sum(-2)
    over_queries = close(columns, torch.ones_like(columns), 1e-4)
    raise Failed(
        f"rows of the attention weights sum to {rows.min().item():.4g}..{rows.max().item():.4g}, not 1",
        hint="softmax over the last axis (dim=-1): each query's weights over the keys sum to 1"
        + (" -- yours sum to 1 down the columns, i.e. over the queries." if over_queries else "."),
    )


def constant_values(view, case: dict, expect: dict) -> None:
    """v = 0.75 everywhere and out = identity: any weights that sum to 1 over the keys give x + 0.75."""
    channels = case["init"]["channels"]
    state = our_weights(case, expect)
    state["qkv.weight"][2 * channels:] = 0
    state["qkv.bias"][2 * channels:] = CONSTANT_VALUE
    state["out.weight"] = torch.eye(channels)[:, :, None, None]
    state["out.bias"] = torch.zeros(channels)
    module = module_with_weights(view, case, state, required=True)
    (x,) = make_inputs(case)
    got = view.run(module, [x])
    _require_shape(got, x.shape, "output")
    expected = x + CONSTANT_VALUE
    if close(got, expected):
        return
    message = (f"with v = {CONSTANT_VALUE} everywhere and out = identity, the output should be "
               f"x + {CONSTANT_VALUE}; " + difference_text(got, expected, "yours"))
    added = (got - x).double()
    if close(added, added[:, :1].expand_as(added).contiguous()):  # the same for every channel: the weights' sums
        raise Failed(message, hint="Each query's weights must be a softmax over the keys (dim=-1), so that they "
                                   "average v: a constant v then comes back unchanged.")
    raise Failed(message, hint="Return x + self.out(attn): the residual adds the block's input x itself.",
                 compared=("output with v constant and out = identity", got, expected, allowed_same(expected)))


def concat_order(view, case: dict, expect: dict) -> None:
    """forward(x, skip, t_emb) is res(cat([up(x), skip]), t_emb), with the student's own up and res."""
    state = {n: t for n, t in our_weights(case, expect).items() if n.startswith("res.")}
    module = module_with_weights(view, case, state)
    x, skip, t_emb = make_inputs(case)
    output, up = view.together(lambda: view.run(module, [x, skip, t_emb]),
                               lambda: view.run(module, [x], submodule="up"))
    _require_shape(output, expect["outputs"][0], "output")
    _require_shape(up, (x.shape[0],) + tuple(expect["outputs"][0][1:]), "your up(x)")
    right, swapped = view.together(lambda: view.run(module, [torch.cat([up, skip], 1), t_emb], submodule="res"),
                                   lambda: view.run(module, [torch.cat([skip, up], 1), t_emb], submodule="res"))
    if close(output, right):
        return
    if close(output, swapped):
        raise Failed("your output equals res(torch.cat([skip, up(x)], dim=1), t_emb): the concatenation is reversed",
                     hint="Concatenate the upsampled features first: torch.cat([self.up(x), skip], dim=1).")
    raise Failed(difference_text(output, right, "your output is not res(torch.cat([up(x), skip], dim=1), t_emb), "
                                 "computed with your own up and res: it"),
                 hint="forward is self.res(torch.cat([self.up(x), skip], dim=1), t_emb), and nothing else.",
                 compared=("output", output, right, allowed_same(right)))


# --- structure ------------------------------------------------------------------------------

_SETTINGS = [  # constructor settings compared, in this order, and how a message names them
    ("num_groups", "the number of groups"), ("num_channels", "the number of channels"), ("eps", "eps"),
    ("affine", "affine"), ("in_channels", "in_channels"), ("out_channels", "out_channels"),
    ("in_features", "in_features"), ("out_features", "out_features"), ("kernel_size", "the kernel size"),
    ("stride", "the stride"), ("padding", "the padding"), ("output_padding", "output_padding"),
    ("dilation", "the dilation"), ("groups", "groups (of the convolution)"), ("bias", "bias"),
    ("padding_mode", "padding_mode"),
]
_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict", "Identity"}


def _settings(info: dict) -> dict:
    """A submodule's settings, ``padding='same'``/``'valid'`` written out as numbers."""
    config = dict(info["config"])
    padding, kernel = config.get("padding"), config.get("kernel_size")
    if isinstance(padding, str) and isinstance(kernel, list):
        dilation = config.get("dilation") or [1] * len(kernel)
        config["padding"] = [0] * len(kernel) if padding == "valid" else [d * (k - 1) // 2 for k, d in zip(kernel, dilation)]
    return config


def _shown(value) -> str:
    return str(tuple(value)) if isinstance(value, list) else repr(value)


def _setting_hint(name: str, key: str, label: str, want, info: dict) -> str:
    if key == "num_groups":
        channels = info["config"].get("num_channels")
        return (f"Use nn.GroupNorm(math.gcd(8, C), C): for C={channels} that is {plural(want, 'group')}. GroupNorm "
                "needs C to be a multiple of its groups: the chapter's GroupNorm(8, C) cannot be built for the 4 "
                "latent channels of the first block, and gcd(8, C) is still 8 for 64, 128, ... channels.")
    if key == "eps":
        return f"Leave eps at the default ({want!r}): another eps changes every normalised value a little."
    return f"Build {name} with {label} {_shown(want)}, as the docstring does."


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def setting_difference(name: str, info: dict, found: dict | None) -> tuple | None:
    """(message, hint) for the first constructor setting in which the student's submodule ``found``
    differs from the contract's ``info``; None when they agree or cannot be compared (absent: a
    functional call instead; a class of the student's own, not a torch layer)."""
    if not info["torch"] or info["torch"][0] in _CONTAINERS or found is None or not found["torch"]:
        return None
    if info["torch"][0] not in found["torch"]:
        return (f"{name} is a {found['type']}; the contract's {name} is an nn.{info['torch'][0]}",
                f"Build {name} as the docstring says.")
    want, got = _settings(info), _settings(found)
    for key, label in _SETTINGS:
        if key in want and want[key] is not None and got.get(key) != want[key]:
            return (f"{name} is an nn.{info['torch'][0]} with {label} {_shown(got.get(key))}; "
                    f"the contract's has {_shown(want[key])}", _setting_hint(name, key, label, want[key], info))
    return None


def _own_constants(described: dict, expected: dict) -> list:
    return [n for n in described["state_dict"] if n not in expected and (n in described["buffers"] or n in described["frozen"])]


def structure(view, case: dict, expect: dict) -> None:
    """Parameter names and shapes, then every contract-relevant constructor setting of every
    submodule (groups, eps, affine, kernel, stride, padding, bias, ...), then no dropout of one's own."""
    prefix = expect.get("prefix", "")
    described = view.describe(case["init"])
    expected = {n: list(s) for n, s in expect["state_dict"].items() if n.startswith(prefix)}
    constants = _own_constants(described, expect["state_dict"])
    ours = {n: list(s) for n, s in described["state_dict"].items() if n.startswith(prefix) and n not in constants}
    owner = f"your {expect['class']}" + (f"'s {prefix[:-1]}" if prefix else "")
    if ours != expected:
        count = sum(math.prod(s) for n, s in described["parameters"].items()
                    if n.startswith(prefix) and n not in described["frozen"])
        wanted = sum(math.prod(s) for s in expected.values())
        message = (f"{owner} has {count:,} trainable parameters, the contract {wanted:,}" if count != wanted
                   else f"{owner}'s parameters are named or shaped differently from the contract")
        raise Failed(message + ": " + state_difference(ours, expected),
                     hint=("res is ResBlock(out_channels + skip_channels, out_channels, time_emb_dim), and "
                           "skip_channels=None means out_channels." if prefix == "res." else
                           "Name and size the submodules as the docstring does: the grader loads weights by those names.")
                     + _per_submodule(described, expect, prefix)
                     + (f" Your own buffers and frozen constants ({', '.join(constants[:4])}) are fine: they are "
                        "not part of the contract." if constants else ""))
    for name, info in expect["modules"].items():
        if name.startswith(prefix):
            problem = setting_difference(name, info, described["modules"].get(name))
            if problem:
                raise Failed(*problem)
    for name, found in described["modules"].items():
        dropout = any("Dropout" in base for base in found["torch"])
        if name.startswith(prefix) and dropout and name not in expect["modules"] and (found["config"].get("p") or 0) > 0:
            raise Failed(f"{name} is a {found['type']}(p={found['config']['p']}) that the contract does not have: "
                         "in training mode it zeroes random activations, so no output can match",
                         hint="Leave dropout out: the contract has none.")


def state_difference(ours: dict, expected: dict) -> str:
    lacking = [n for n in expected if n not in ours]
    extra = [n for n in ours if n not in expected]
    shaped = [n for n in expected if n in ours and ours[n] != expected[n]]
    parts = []
    if lacking:
        parts.append("the contract has, and yours lacks: " + ", ".join(f"{n} {expected[n]}" for n in lacking[:8]))
    if extra:
        parts.append("yours has, and the contract lacks: " + ", ".join(f"{n} {ours[n]}" for n in extra[:8]))
    if shaped:
        parts.append("different shape: " + ", ".join(f"{n} is {ours[n]} in yours, {expected[n]} in the contract"
                                                     for n in shaped[:8]))
    return "; ".join(parts)


def _per_submodule(described: dict, expect: dict, prefix: str = "") -> str:
    lines = []
    for name, count in expect["per_submodule"].items():
        if prefix and prefix != name + ".":
            continue
        got = sum(math.prod(s) for n, s in described["parameters"].items()
                  if (n == name or n.startswith(name + ".")) and n not in described["frozen"])
        if got != count:
            lines.append(f"{name}: {got:,} (expected {count:,})")
    return (" Per submodule: " + "; ".join(lines) + ".") if lines else ""


def parameter_count(view, case: dict, expect: dict) -> None:
    described = view.describe(case["init"])
    count = sum(math.prod(s) for n, s in described["parameters"].items() if n not in described["frozen"])
    if count != expect["parameters"]:
        raise Failed(
            f"{case_text(expect['class'], case).split(' with ')[0]} has {count:,} trainable parameters; expected "
            f"{expect['parameters']:,}." + _per_submodule(described, expect),
            hint="Check each submodule's channels against the wiring in the docstring. up1 upsamples to base "
            "channels and concatenates down2's skip of 2*base: 3*base channels, not the 2*base the chapter builds "
            "its ResBlock for, so up1 needs skip_channels=2 * base_channels, and UpBlock must build its res for "
            "out_channels + skip_channels.",
        )


# --- does the forward pass do real work? --------------------------------------------------------

def dependence(view, case: dict, expect: dict) -> list:
    """Per call (``expect['calls']``), per output: [changes with the inputs, changes with the
    weights] (None where the weights could not be set). Raises Failed on NaN or infinity."""
    class_name = expect["class"]
    module = view.module(case["init"])
    settable = view.load(module, our_weights(case, expect), partial=True) is None
    if not settable:
        module = module_with_weights(view, case, our_weights(case, expect))
    inputs = make_inputs(case)
    moved = moved_inputs(case, inputs)
    requests = []
    for kwargs in expect["calls"]:
        requests += [lambda kwargs=kwargs: view.run(module, inputs, **kwargs),
                     lambda kwargs=kwargs: view.run(module, moved, **kwargs)]
    if settable:
        other = view.module(case["init"])
        view.load(other, our_weights(case, expect, offset=1), partial=True)
        requests += [lambda kwargs=kwargs: view.run(other, inputs, **kwargs) for kwargs in expect["calls"]]
    answers = view.together(*requests)
    found = []
    for index, kwargs in enumerate(expect["calls"]):
        base, shifted = as_list(answers[2 * index]), as_list(answers[2 * index + 1])
        reweighted = as_list(answers[2 * len(expect["calls"]) + index]) if settable else [None] * len(base)
        found.append([])
        for a, b, c in zip(base, shifted, reweighted):
            if type(a) is not torch.Tensor:
                found[-1].append([False, False])
                continue
            for value in (a, b, c):
                problem = value is not None and nonfinite_problem(value, f"your {class_name}'s output")
                if problem:
                    raise Failed(f"{problem}, on {case_text(class_name, case)} with random weights",
                                 hint="Every value of the forward pass must be a number: look for a division by "
                                 "zero, a log or sqrt of a negative number, or an uninitialised tensor (torch.empty).")
            found[-1].append([type(b) is torch.Tensor and changed(a, b),
                              None if c is None else type(c) is torch.Tensor and changed(a, c)])
    return found


def real_work(view, gate: dict) -> None:
    """Fail unless each output changes with the inputs and with the weights wherever the contract's
    does: a forward that returns zeros, NaN, its input or a fixed answer computes nothing."""
    class_name = gate["class"]
    hint = ("Compute the output from the inputs with the submodules built in __init__, as the docstring says: "
            "the checks of the forward pass score only a forward that does.")
    for entry in gate["cases"]:
        expect = entry["expect"]
        found = dependence(view, entry, expect)
        outputs = [(name, should, did) for names, depends, got in zip(expect["names"], expect["depends"], found)
                   for name, should, did in zip(names, depends, got)]
        for name, should, did in outputs:
            where = f" (on {case_text(class_name, entry)} with random weights)"
            if should[0] and not did[0]:
                raise Failed(f"your {class_name}'s {name} does not change when its inputs change{where}: "
                             "forward does not compute it from them", hint=hint)
            if should[1] and did[1] is False:
                raise Failed(f"your {class_name}'s {name} does not change when the weights change{where}: "
                             "forward does not compute it with the module's submodules", hint=hint)


# --- the homework tasks (analysis.py): the student's functions, on our inputs ---------------------

def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def similarity_properties(view, case: dict, expect: dict) -> None:
    """``embedding_similarity`` of our rows: (T, T), symmetric, 1 on the diagonal, within [-1, 1]."""
    (embeddings,) = make_inputs(case)
    rows = embeddings.shape[0]
    got = view.call("embedding_similarity", embeddings)
    problem = shape_problem(got, (rows, rows), "embedding_similarity(embeddings)")
    if problem:
        raise Failed(problem, hint="One row and one column per embedding: (T, D) gives (T, T).")
    problem = nonfinite_problem(got, "embedding_similarity(embeddings)")
    if problem:
        raise Failed(problem, hint="Divide each row by its own length: rows are never zero here.")
    got = got.double()
    if (got - got.T).abs().max().item() > 1e-5:
        raise Failed("the similarity matrix is not symmetric")
    if (got.diagonal() - 1).abs().max().item() > 1e-5:
        shown = ", ".join(f"{v:.5g}" for v in got.diagonal().tolist()[:4])
        raise Failed(f"the diagonal is [{shown}]..., not 1: an embedding's cosine similarity with itself is 1",
                     hint="Normalise the rows to length 1.")
    if got.abs().max().item() > 1 + 1e-5:
        raise Failed(f"a similarity is {got.abs().max().item():.4g}: cosine similarities lie within [-1, 1]")


def map_sums(view, case: dict, expect: dict) -> None:
    """``attention_map`` with a SelfAttention holding our weights: each map non-negative, summing to 1."""
    module = view.module_arg(expect["class"], case["init"], our_weights(case, expect))
    (x,) = make_inputs(case)
    row, col = case["options"]["query"]
    call = f"attention_map(attention, x, query=({row}, {col}))"
    got = view.call("attention_map", module, x, [row, col])
    if type(got) is not torch.Tensor or got.dim() < 2:
        kind = "None" if got is None else f"a {type(got).__name__}"
        raise Failed(f"{call}: expected a (B, H, W) tensor, got {kind}")
    problem = nonfinite_problem(got, call)
    if problem:
        raise Failed(problem)
    if bool((got < -1e-6).any()):
        raise Failed("some attention weights in the map are negative")
    sums = got.double().reshape(got.shape[0], -1).sum(-1) if got.dim() == 3 else got.double().sum().reshape(1)
    if (sums - 1).abs().max().item() > 1e-4:
        shown = ", ".join(f"{v:.5g}" for v in sums.tolist()[:4])
        raise Failed(f"the map sums to [{shown}], not 1",
                     hint="Take the query's row of the weights (its distribution over the keys), not a column.")


def shares(view, case: dict, expect: dict) -> None:
    """``parameter_shares`` of a breakdown: each part's count over the total, fractions that sum to 1."""
    breakdown = dict(expect["breakdown"])
    whole = sum(count for count in breakdown.values())
    got = view.call("parameter_shares", dict(breakdown))
    if not isinstance(got, dict) or not all(_is_number(v) for v in got.values()):
        text = repr(got)
        raise Failed(f"parameter_shares must return a dict {{part name: float}}; got "
                     f"{text if len(text) <= 80 else text[:77] + '...'}")
    if set(got) != set(breakdown):
        raise Failed(f"expected a share for each of {sorted(breakdown)}, got {sorted(got)}")
    for name, count in breakdown.items():
        if not math.isclose(got[name], count / whole, rel_tol=1e-9, abs_tol=1e-12):
            percent = math.isclose(got[name], 100 * count / whole, rel_tol=1e-9, abs_tol=1e-12)
            raise Failed(f"share of {name!r}: {got[name]:.6g}, expected {count:,} / {whole:,} = {count / whole:.6g}",
                         hint="Fractions that sum to 1, not percentages." if percent else None)


# --- the homework tasks judged by watching the student's function (shape_trace, skip_ablation) -------

def watched(outputs: list, error: str | None, report: dict) -> dict:
    """A watched call as these rules read it, from either side: ``outputs`` (one per repetition that
    returned), the student's ``error`` or None, and the watcher's ``events`` (dicts with ``kind``
    "forward" or "step") and ``arguments`` (what was left on each module passed in)."""
    return {"outputs": outputs, "error": error, "events": list(report["events"]),
            "arguments": list(report["arguments"])}


RAISED = "your code raised an error during "  # a watched call's error; the caller adds the usual hint


def _raised(call: str, error: str) -> Failed:
    return Failed(f"{RAISED}{call}:\n{error}")


def _trace_problem(value) -> str | None:
    """Why ``value`` is not a list of (name, shape) pairs, shape a tuple of ints; None if it is."""
    expected = "shape_trace must return a list of (name, shape) pairs, shape a tuple of ints"
    if not isinstance(value, list):
        kind = "None" if value is None else f"a {type(value).__name__}"
        return f"{expected}; got {kind}"
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)
                and all(type(size) is int for size in item[1])):
            text = repr(item)
            return f"{expected}; one entry is {text if len(text) <= 80 else text[:77] + '...'}"
    return None


def trace_protocol(view, case: dict, expect: dict) -> None:
    """``shape_trace`` returns (name, shape) pairs and leaves the model as it found it: no hooks left
    (also when forward raises), the same list when called twice, no gradients, its weights and its
    train/eval mode as they were. Judged from what the watcher saw, on ``expect``'s small SimpleUNet."""
    x, t = make_inputs({"seed": case["seed"], "inputs": {"x": expect["x"], "t": expect["t"]}})
    raising_x = torch.zeros(expect["raising"])

    def model():
        return view.module_arg("SimpleUNet", expect["init"])

    twice, in_eval, raising = view.together(
        lambda: view.watch("shape_trace", model(), x, t, repeat=2),
        lambda: view.watch("shape_trace", model(), x, t, eval_mode=True),
        lambda: view.watch("shape_trace", model(), raising_x, t))
    if twice["error"] is not None:
        raise _raised("shape_trace(...)", twice["error"])
    problem = _trace_problem(twice["outputs"][0])
    if problem:
        raise Failed(problem, hint="Record tuple(output.shape) for each module: a torch.Size is a tuple of ints.")
    left = twice["arguments"][0]
    name = f"SimpleUNet({', '.join(f'{k}={v}' for k, v in expect['init'].items())})"
    if left["hooks_left"]:
        raise Failed(f"shape_trace left {plural(left['hooks_left'], 'hook')} on the model: the rule is that it leaves "
                     "none", hint="Keep what registering each hook returns, and remove every hook before returning, in a "
                     "`finally:` block.")
    first, second = twice["outputs"]
    if first != second:
        raise Failed(f"calling shape_trace twice on one {name} gave two different lists ({len(first)} entries, then "
                     f"{len(second)}): the rule is that a second call gives the same list",
                     hint="Start each call with an empty list and leave nothing behind on the model.")
    ran_with_gradients = any(e["kind"] == "forward" and e["model"] == 0 and e["grad"] for e in twice["events"])
    if ran_with_gradients or left["gradients"]:
        raise Failed("shape_trace ran the model with gradients on: the rule is that it builds no gradients",
                     hint="Run the forward pass inside `with torch.no_grad():` (shapes need no graph).")
    if left["weights_changed"]:
        raise Failed("shape_trace changed the model's weights: the rule is that they are left as they were")
    for call, mode in ((twice, "train"), (in_eval, "eval")):
        changed = call["arguments"][0]["modes_changed"]
        if changed:
            raise Failed(f"the model was in {mode} mode and shape_trace left "
                         f"{'it' if '' in changed else ', '.join(changed[:4])} in the other mode: the rule is that its "
                         "train/eval mode is restored",
                         hint="Leave model.training alone, or remember it and put it back (model.train(was_training)) "
                         "before returning.")
    hooks = raising["arguments"][0]["hooks_left"]
    if hooks:
        raise Failed(f"when the forward pass raises (x of shape {tuple(expect['raising'])}, whose height the UNet cannot "
                     f"halve twice), shape_trace left {plural(hooks, 'hook')} on the model: the rule is that it removes "
                     "them also when forward raises",
                     hint="Remove the hooks in a `finally:` block, so that they go whether or not forward raises.")


_RUN_KEYS = ("losses", "mse", "psnr", "reconstructions")
VARIANTS = {"with_skips": "with skips", "without_skips": "without skips"}


def _finite_number(value) -> bool:
    if not _is_number(value):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def experiment_problem(value, what: str) -> str | None:
    """Why ``value`` is not the dict ``skip_ablation`` documents; None if it is."""
    if not isinstance(value, dict):
        kind = "None" if value is None else f"a {type(value).__name__}"
        return f"{what} must return a dict; got {kind}"
    missing = [key for key in ("images", *VARIANTS) if key not in value]
    if missing:
        return f"{what} returned a dict without {', '.join(repr(k) for k in missing)}"
    images = value["images"]
    if type(images) is not torch.Tensor or images.dim() != 4:
        return f"{what}['images'] must be the held-out images, a (N, 1, H, W) tensor"
    for key, label in VARIANTS.items():
        run = value[key]
        if not isinstance(run, dict) or not set(_RUN_KEYS) <= set(run):
            return f"{what}[{key!r}] must be a dict with 'losses', 'mse', 'psnr' and 'reconstructions'"
        losses = run["losses"]
        if not isinstance(losses, list) or not losses or not all(_is_number(v) for v in losses):
            return f"{what}[{key!r}]['losses'] must be a list of floats, one per step"
        if not all(_finite_number(v) for v in losses):
            return f"the losses of the model {label} are not all finite"
        for metric in ("mse", "psnr"):
            if not _finite_number(run[metric]):
                return f"{what}[{key!r}][{metric!r}] must be a finite float; got {run[metric]!r:.40}"
        problem = shape_problem(run["reconstructions"], tuple(images.shape), f"{what}[{key!r}]['reconstructions']")
        if problem:
            return problem
    return None


def experiment_protocol(view, case: dict, expect: dict) -> None:
    """A short ``skip_ablation(steps, seed)`` returns the documented dict, and both models train for
    ``steps`` steps with one loss recorded per step (a few steps: cheap enough for check.py)."""
    steps, seed = expect["steps"], expect["seed"]
    what = f"skip_ablation({steps}, seed={seed})"
    call = view.watch("skip_ablation", steps, seed, experiment=True)
    if call["error"] is not None:
        raise _raised(what, call["error"])
    value = call["outputs"][0]
    problem = experiment_problem(value, what)
    if problem:
        raise Failed(problem, hint="Return the dict the docstring shows: 'images', and per model 'losses' (a list of "
                     "floats), 'mse', 'psnr' (floats) and 'reconstructions' (a tensor shaped like 'images').")
    counts = {len(value[key]["losses"]) for key in VARIANTS}
    if len(counts) == 1 and counts != {steps}:
        raise Failed(f"{what}: both models trained for {counts.pop()} steps; expected {steps} (the `steps` argument)",
                     hint="Train for the `steps` you are given: `for _ in range(steps)`, one loss per step, not a "
                     "constant such as STEPS.")
    for key, label in VARIANTS.items():
        trained = len(value[key]["losses"])
        if trained != steps:
            raise Failed(f"{what}: the model {label} trained for {trained} steps; expected {steps}, the same for both",
                         hint="Train each model for exactly `steps` steps (the argument, not STEPS) and record one "
                         "loss per step.")


RULES = {
    "output_shapes": output_shapes,
    "pair": pair,
    "weights_shape": weights_shape,
    "sinusoid_shape": sinusoid_shape,
    "sinusoid_values": sinusoid_values,
    "residual": residual,
    "time": time_sensitivity,
    "softmax_rows": softmax_rows,
    "constant_values": constant_values,
    "concat_order": concat_order,
    "structure": structure,
    "parameter_count": parameter_count,
    "similarity_properties": similarity_properties,
    "map_sums": map_sums,
    "shares": shares,
    "trace_protocol": trace_protocol,
    "experiment_protocol": experiment_protocol,
}
