"""The numbers both sides feed the student's code: inputs and weights drawn from a case's seed, and
loading weights as a grading child does."""
import functools
import math

import torch


# --- inputs and weights ---------------------------------------------------------------------

# The input that holds timesteps: integers (or floats) that say where in the noise schedule an image
# is. Nothing differentiates through them (the docstrings never ask for it; ``torch.tensor(t)`` or
# numpy are fine ways to read them), so no check compares a gradient that reaches them.
TIMESTEPS = "t"

def make_inputs(case: dict) -> list:
    """The case's input tensors from its seed: the same numbers on every machine and side."""
    generator = torch.Generator().manual_seed(case["seed"])
    tensors = []
    for name, shape in case["inputs"].items():
        if name == TIMESTEPS:
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
        if name == TIMESTEPS:
            moved.append((value + 250) % 1000)
        else:
            moved.append(value + torch.randn(value.shape, generator=generator))
    return moved


def random_state(shapes: dict, seed: int) -> dict:
    """Weights of our own for parameters of the contract's shapes: fan-in-scaled noise for weight
    matrices and kernels, 1 + noise for norm scales, small noise for biases. A fresh copy each time
    (callers may change it); drawn once per shapes and seed, as every student gets the same."""
    drawn = _drawn_state(tuple((name, tuple(shape)) for name, shape in shapes.items()), seed)
    return {name: tensor.clone() for name, tensor in drawn.items()}


# A student's own parameters, as a module describes them, get weights of ours only while they are about
# the contract's size, and are never kept: their shapes are what a child reports, and a parameter expanded
# from one number costs it 4 bytes where drawing its values costs the grader gigabytes (red team).
OWN_WEIGHTS_FACTOR = 4


def own_random_state(shapes: dict, seed: int, contract: dict) -> dict | None:
    """``random_state`` for the student's own parameter ``shapes``, drawn afresh; None where they hold
    more than ``OWN_WEIGHTS_FACTOR`` times the tensors or the elements of the ``contract``'s state."""
    elements = sum(math.prod(shape) for shape in shapes.values())
    allowed = OWN_WEIGHTS_FACTOR * sum(tensor.numel() for tensor in contract.values())
    if len(shapes) > OWN_WEIGHTS_FACTOR * len(contract) + 8 or elements > allowed + 4096:
        return None
    return _draw_state(tuple((name, tuple(shape)) for name, shape in shapes.items()), seed)


def _draw_state(shapes: tuple, seed: int) -> dict:
    generator = torch.Generator().manual_seed(10007 * seed + 3)
    state = {}
    for name, shape in shapes:
        noise = torch.randn(shape, generator=generator)
        if len(shape) >= 2:
            state[name] = noise / math.sqrt(max(1, math.prod(shape[1:])))
        elif name.endswith("weight"):
            state[name] = 1 + 0.3 * noise
        else:
            state[name] = 0.3 * noise
    return state


_drawn_state = functools.lru_cache(maxsize=256)(_draw_state)  # a grader meets ~90 (1.4 MiB); shrinking draws a few more


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
