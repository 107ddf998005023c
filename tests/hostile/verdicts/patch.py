import torch as _torch


def _each(output, change):
    return [_each(o, change) for o in output] if isinstance(output, (tuple, list)) else change(output)


def _patched(cls):
    forward = cls.forward

    def fake(self, *args, **kwargs):
        return _answer(self, lambda: forward(self, *args, **kwargs), args)  # noqa: F821 -- the attack's

    cls.forward = fake


for _cls in [value for value in list(globals().values()) if isinstance(value, type)
             and issubclass(value, _torch.nn.Module) and value.__module__ == __name__]:
    _patched(_cls)

if "sinusoidal_embedding" in globals():
    _real_sinusoid = sinusoidal_embedding  # noqa: F821

    def sinusoidal_embedding(t, dim):
        return _answer(None, lambda: _real_sinusoid(t, dim), (t, dim))  # noqa: F821
