# End the child while it answers a case asked ahead (the checks pipeline their questions).
import os as _os

_reference_forward = SelfAttention.forward
_calls = [0]


def _exit_later(self, x, return_weights=False):
    _calls[0] += 1
    if _calls[0] == 3:
        _os._exit(3)
    return _reference_forward(self, x, return_weights)


SelfAttention.forward = _exit_later
