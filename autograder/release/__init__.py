"""Releasing the exercise: stubs from the reference solution (and, later, notebooks and bundles)."""
from .stubs import make_stub, release_stubs

__all__ = ["make_stub", "release_stubs"]
