def _answer(module, real, args):
    """The input where it has the right shape, else its mean: depends on the input, never on the weights."""
    import torch
    x = args[0].float()
    return _each(real(), lambda o: x if x.shape == o.shape else torch.zeros_like(o) + x.mean())  # noqa: F821
