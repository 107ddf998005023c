"""What a component's forward returns, in the words of the feedback: one output or several, named.

Kept apart from ``common.py`` so that ``diagnose.py``, which ``common.py`` calls, needs nothing of it.
"""

OUTPUT_NAMES = {
    "DownBlock": ["downsampled output down(h)", "skip output h"],
    "SelfAttention": ["output", "attention weights"],
}


def as_list(output) -> list:
    return list(output) if isinstance(output, (tuple, list)) else [output]


def output_names(component: str, count: int) -> list[str]:
    names = OUTPUT_NAMES.get(component, [])
    return (names + [f"output {i}" for i in range(len(names), count)])[:count] if count > 1 else ["output"]
