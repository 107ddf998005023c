"""unet-autograder: hidden, Hypothesis-driven checks of the UNet chapter's modules, run on isolated
student code. The public API is re-exported here; importing it stays cheap (torch loads on first use).
"""
import importlib

_EXPORTS = {
    "Grader": "grader",
    "grade_submission": "grader",
    "grade_batch": "batch",
    "grade_course": "nbgrader_course",
    "release_stubs": "release",
    "release_student": "release",
    "load_config": "config",
    "write_results_json": "results",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
