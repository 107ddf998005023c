def _answer(module, real, args):
    """Zeros of the right shapes."""
    import torch
    return _each(real(), torch.zeros_like)  # noqa: F821 -- patch.py's
