"""What a module is made of, said once for every side: its parameters and state, and each submodule's
class, the torch.nn classes it is and their constructor settings.

The sandboxed child answers a "describe" step with ``describe``; the public rules read the same
description of the student's module in check.py (``rules/description.py``) and of the reference in
the grader. It lives here, in the child's package, because a child can import nothing outside it;
the release ships this very file as ``check_support/rules/description.py``. Standard library and
torch only; plain JSON data out (dicts keyed by name, lists for shapes and names).
"""
import torch

MAX_EXTRA_REPR = 200  # characters of a submodule's extra_repr() kept


def setting_value(value):
    """A constructor setting as JSON data (tuples as lists); None for anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return list(value)
    return None


def describe_module(name: str, module: torch.nn.Module) -> dict:
    """Name, class, the torch.nn classes it is (a ``GroupNorm32`` is a GroupNorm), their settings and
    its ``extra_repr()`` (empty where the student's raises)."""
    torch_bases, config = [], {}
    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn.modules") and cls is not torch.nn.Module:
            torch_bases.append(cls.__name__)
            for constant in getattr(cls, "__constants__", ()):
                config.setdefault(constant, setting_value(getattr(module, constant, None)))
    if hasattr(module, "bias") and torch_bases:
        config["bias"] = isinstance(getattr(module, "bias"), torch.Tensor)
    try:
        extra = str(module.extra_repr())[:MAX_EXTRA_REPR]
    except Exception:  # noqa: BLE001 -- a student's extra_repr that raises
        extra = ""
    return {"name": name, "type": type(module).__name__, "torch": torch_bases, "config": config, "extra_repr": extra}


def describe(module: torch.nn.Module) -> dict:
    """Parameters and state (name -> shape), buffers, frozen parameters, and every submodule
    (name -> ``describe_module``), in ``named_modules()`` order. A lazy parameter has no shape to say
    until a first forward: said as what it is, never as torch's error about reading its shape."""
    lazy = [name for name, p in module.named_parameters() if torch.nn.parameter.is_lazy(p)]
    if lazy:
        raise ValueError(f"{', '.join(lazy[:3])}{' ...' if len(lazy) > 3 else ''}: a lazy parameter (nn.LazyConv2d, "
                         "nn.LazyLinear), whose shape is known only after a first forward; the contract's layers "
                         "are built with their sizes: nn.Conv2d(in_channels, out_channels, ...), nn.Linear(...)")
    return {
        "parameters": {name: list(p.shape) for name, p in module.named_parameters()},
        "state_dict": _state_once(module),
        "buffers": [name for name, _ in module.named_buffers()],
        "frozen": [name for name, p in module.named_parameters() if not p.requires_grad],
        "modules": {name: describe_module(name, m) for name, m in module.named_modules()},
    }


def _state_once(module: torch.nn.Module) -> dict:
    """The state's names and shapes, each tensor once, under its first name: ``state_dict`` lists a
    submodule held twice (``self.downs = nn.ModuleList([self.down1, self.down2])`` to loop over) under
    both names, though it adds no parameter (``named_parameters`` lists it once)."""
    found, seen = {}, set()
    for name, tensor in module.state_dict(keep_vars=True).items():
        key = (tensor.data_ptr(), tuple(tensor.shape), tensor.stride(), tensor.dtype) if tensor.numel() else None
        if key is not None and key in seen:
            continue
        seen.add(key)
        found[name] = list(tensor.shape)
    return found
