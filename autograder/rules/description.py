"""A module's description, as the sandboxed child gives it: the child's own ``describe.py``.

That file is the one definition (a child can import nothing outside its package); here the grader
imports it, and the release ships that file itself in this one's place
(``check_support/rules/description.py``), so the rules read the same description on every side.
"""
from ..sandbox.child.describe import describe, describe_module

__all__ = ["describe", "describe_module"]
