# Outputs no check expects: a number, a string, a dict, None, a 0-d tensor, nested lists, ints, bools.
import torch as _torch

_kinds = [lambda x: 3, lambda x: "done", lambda x: {"out": x}, lambda x: None, lambda x: _torch.tensor(1.0),
          lambda x: [[x, [x]], x], lambda x: x.long(), lambda x: x > 0, lambda x: (x, x, x, x, x),
          lambda x: x[..., :0], lambda x: x.reshape(-1)]
_calls = [0]


def _odd(self, x, return_weights=False):
    _calls[0] += 1
    return _kinds[_calls[0] % len(_kinds)](x)


SelfAttention.forward = _odd
