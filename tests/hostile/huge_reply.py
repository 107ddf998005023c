# Replies as large as the rules let a child make: a 3 MB error, millions of small JSON items.
_calls = [0]


def _huge(self, x, return_weights=False):
    _calls[0] += 1
    if _calls[0] % 2:
        raise RuntimeError("a" * 3_000_000 + " (" * 100_000)
    return [[0.5] * 1000] * 3000


SelfAttention.forward = _huge
