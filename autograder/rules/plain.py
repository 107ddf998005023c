"""What the student's code returned, as plain data: the sandboxed child's own ``plain.py``.

That file is the one definition (a child can import nothing outside its package); here the grader
imports it, and the release ships that file itself in this one's place (``check_support/rules/plain.py``),
so check.py reads a returned value (a numpy array, a ``np.float32``) exactly as the grader does.
"""
from ..sandbox.child.plain import NotPlain, plain

__all__ = ["NotPlain", "plain"]
