"""Describing a module as a grading child does: parameters, state, and each submodule's torch classes
and constructor settings (what the structure rules read)."""
import torch


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
