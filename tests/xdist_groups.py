"""Keeps ``--dist loadgroup`` grouping under pytest 9.2: a plugin that conftest.py registers.

pytest-xdist 3.8 sends a group to one worker by renaming each marked item to ``NODEID@GROUP``
(``item._nodeid = ...``). pytest 9.2 keeps a node's id in ``item._id``, so that rename is lost and
every group is spread over both workers: each worker then builds the group's module fixture (a
graded class, the nbgrader course, a Gradescope deployment) again, minutes each
(pytest-dev/pytest-xdist#1386). This sets the id xdist meant, after xdist's own hook, and only where
xdist's rename did not take: with a pytest or an xdist that does it right, it does nothing.
"""
import pytest


def _group(item) -> str | None:
    names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                    for mark in item.iter_markers("xdist_group")})
    return "_".join(names) or None


@pytest.hookimpl(trylast=True)  # after xdist's own rename, so that one that works is left alone
def pytest_collection_modifyitems(config, items):
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers under --dist loadgroup
        return
    try:
        from _pytest.nodeid import NodeId  # pytest >= 9.2 only; older ones have no ``_id`` and xdist works
    except ImportError:
        return

    for item in items:
        group = _group(item)
        if group and not item.nodeid.endswith("@" + group) and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{group}")
