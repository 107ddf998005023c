"""Rules on the forward pass of the blocks: output shapes, the sinusoid's formula, and behaviour on our
own weights that every correct implementation has (a zeroed conv2 leaves skip(x), attention rows sum
to 1, the timestep changes the output, the concatenation order)."""
import math

import torch

from .cases import as_list, module_with_weights, our_weights
from .inputs import make_inputs, moved_inputs
from .tensors import (Failed, _require_shape, allowed_same, changed, close, close_where_known, difference_text,
                      shape_problem)

# The sinusoid against its closed form in float64: float32 angles up to ~1000 rad carry ~1e-4 of
# rounding, whichever formula computes the frequencies; every mistake we know is off by O(1).
SINUSOID_ALLOWED = 2e-3
CONSTANT_VALUE = 0.75  # v's value in the constant-value probe


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
    small = _small_timesteps_features(view, dim)
    for settings, mistake in SINUSOID_VARIANTS:
        if _names(settings, got, t, dim, small):
            raise Failed(f"{what}: {mistake}; " + difference_text(got, expected, "the result"),
                         hint=f"The contract's features are {formula}.", compared=compared)
    raise Failed(difference_text(got, expected, what), hint=f"Expected {formula}.", compared=compared)


# Where every variant's angles can be placed (growing frequencies reach 10^4 per unit of t): the features
# there name a mistake that the case's own timesteps, up to 999, show only in columns no variant knows.
SMALL_TIMESTEPS = torch.tensor([0.01, 0.1, 1.0, 3.0])


def _small_timesteps_features(view, dim: int):
    """The student's features of ``SMALL_TIMESTEPS``, to name a mistake (the verdict is the case's); None
    where that call raises."""
    try:
        return view.call("sinusoidal_embedding", SMALL_TIMESTEPS.clone(), dim)
    except Exception:  # noqa: BLE001 -- the student's error on other timesteps: no name, same verdict
        return None


def _names(settings: dict, got, t: torch.Tensor, dim: int, small) -> bool:
    """Whether the variant ``settings`` is what the student computed: it gives ``got`` for the case's ``t``
    wherever it is known, and it or ``small`` (the features of ``SMALL_TIMESTEPS``) holds entries that
    tell it from the formula."""
    variant = sinusoid(t, dim, **settings)
    if not close_where_known(got, variant, SINUSOID_ALLOWED):
        return False
    if close_where_known(got, variant, SINUSOID_ALLOWED, unlike=sinusoid(t, dim)):
        return True
    return small is not None and close_where_known(small, sinusoid(SMALL_TIMESTEPS, dim, **settings), SINUSOID_ALLOWED,
                                                   unlike=sinusoid(SMALL_TIMESTEPS, dim))


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


def _offsets_normalised_away(view, case: dict) -> bool:
    """Whether the student's ResBlock normalises each channel on its own after the time is added (``norm2``
    with one channel per group): it then subtracts each channel's mean, and the per-channel time offset with
    it, whatever the code adds -- the cases are chosen where the contract's norm keeps the offset
    (``strategies.time_sensitive``), not the student's (red team: "the timestep is ignored", about a
    ResBlock that adds it exactly as the hint says)."""
    try:
        config = view.describe(case["init"])["modules"].get("norm2", {}).get("config", {})
    except Exception:  # noqa: BLE001 -- a module that cannot be described: judged as it runs
        return False
    groups = config.get("num_groups")
    return type(groups) is int and groups > 1 and groups == config.get("num_channels")


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
        if expect["class"] == "ResBlock" and _offsets_normalised_away(view, case):
            return  # the time cannot show through such a norm: its group count is the structure check's to charge
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


def _constant_v_run(view, case: dict, expect: dict, value: float, x: torch.Tensor):
    """The student's SelfAttention with v = ``value`` everywhere and out = identity, on ``x``."""
    channels = case["init"]["channels"]
    state = our_weights(case, expect)
    state["qkv.weight"][2 * channels:] = 0
    state["qkv.bias"][2 * channels:] = value
    state["out.weight"] = torch.eye(channels)[:, :, None, None]
    state["out.bias"] = torch.zeros(channels)
    got = view.run(module_with_weights(view, case, state, required=True), [x])
    _require_shape(got, x.shape, "output")
    return got


def constant_values(view, case: dict, expect: dict) -> None:
    """v = 0.75 everywhere and out = identity: any weights that sum to 1 over the keys give x + 0.75.

    On a failure, which part is wrong is told apart by a second run with v = 0: whatever the weights,
    attention then adds nothing, so an output other than x is the residual's fault, and x means the
    weights do not sum to 1 (a softmax over the wrong axis, or none)."""
    (x,) = make_inputs(case)
    got = _constant_v_run(view, case, expect, CONSTANT_VALUE, x)
    expected = x + CONSTANT_VALUE
    if close(got, expected):
        return
    message = (f"with v = {CONSTANT_VALUE} everywhere and out = identity, the output should be "
               f"x + {CONSTANT_VALUE}; " + difference_text(got, expected, "yours"))
    if close(_constant_v_run(view, case, expect, 0.0, x), x):  # the residual is right: the weights' sums are not
        raise Failed(message, hint="Each query's weights must be a softmax over the keys (dim=-1), so that they "
                                   "average v: a constant v then comes back unchanged.")
    raise Failed(message, hint="Return x + self.out(attn): the residual adds the block's input x itself (with v = 0 "
                 "attention adds nothing, and your output is still not x).",
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
