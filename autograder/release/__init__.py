"""Releasing the exercise: stubs, the student release (notebook, public checks), nbgrader and Gradescope."""
from .stubs import make_stub, release_stubs, solution_lines
from .student import release_nbgrader, release_student

__all__ = ["make_stub", "release_stubs", "solution_lines", "release_student", "release_nbgrader"]
