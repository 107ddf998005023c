"""What a component's forward returns, in the words of the feedback: one output or several, named.

Kept apart from ``common.py`` so that ``diagnose.py``, which ``common.py`` calls, needs nothing of it.
``as_list`` is the rules' (one definition for the grader and check.py).
"""
from ..rules import as_list  # noqa: F401 -- re-exported for the checks

OUTPUT_NAMES = {
    "DownBlock": ["downsampled output down(h)", "skip output h"],
    "SelfAttention": ["output", "attention weights"],
}


def output_names(component: str, count: int) -> list[str]:
    names = OUTPUT_NAMES.get(component, [])
    return (names + [f"output {i}" for i in range(len(names), count)])[:count] if count > 1 else ["output"]
