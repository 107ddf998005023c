"""Passing one submission's child from component to component, only while that is safe."""
import socket

from .zygote_client import Zygote, end_child


class Handover:
    """The child one component of a submission leaves for the next, when it may.

    A fresh child costs ~12 ms of CPU (fork, exit, and first touches of torch's memory), eight
    times a submission. So a component that ends normally resets its child (``op_reset``: its
    modules forgotten) and hands it on -- only if the child reports that nothing outside those
    modules changed, and it is far from its CPU and memory limits. Otherwise the child is killed
    and the next component forks a fresh one, as after any crash. Children never pass between
    submissions: a ``Handover`` lives for one submission's grading.

    That report comes from student code, so it is believed only for honest code; hostile code
    could keep objects across components. So a child is also never handed to a component whose
    reference it has held as a stand-in (``plan.must_not_have_seen``): what one component's code
    can keep for a later one is then nothing that the later one's own file could not reach.
    """

    def __init__(self, zygote: Zygote):
        self.zygote = zygote
        self._child: tuple[int, socket.socket, frozenset, int] | None = None
        self.prefer_fallback: set = set()  # modules whose top-level code hung: later components skip it

    def take(self, must_not_have_seen: frozenset = frozenset()) -> tuple[int, socket.socket, frozenset, int] | None:
        """The waiting child, the references it has held and its ``Zygote.generation``, unless it held one
        of ``must_not_have_seen`` or was ended with another child."""
        if self._child is not None and self.zygote.outlived(self._child[3]):
            self.close()
        if self._child is not None and self._child[2] & must_not_have_seen:
            self.close()
        child, self._child = self._child, None
        return child

    def give(self, pid: int, sock: socket.socket, seen: frozenset, generation: int) -> None:
        self.close()
        self._child = (pid, sock, seen, generation)

    def close(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            end_child(self.zygote, *child[:2], child[3])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
