"""One child at a time for one component, seen from the parent: fork it (or take one handed over),
send a request as one frame, wait for the answer within the component's ``Budget``, and kill it.

Framing is ``child/codec.py``'s and every answer is checked by ``replies.envelope``. A child that
hangs, dies, sends a frame over ``max_reply_mb``, more than ``max_memo_mb`` of answers in all, or
too many progress notes is stopped and the request raises ``SandboxFatal``.
"""
import socket
import time

from ..config import Limits
from . import replies
from .budget import Budget, Pace
from .child.codec import dumps, recv_frame, send_frame
from .errors import MalformedReply, ReplyTooLarge, SandboxFatal
from .handover import Handover
from .zygote_client import Zygote, describe_exit, end_child

MAX_PROGRESS_NOTES = 200  # "now running file X" notes a child may send before one answer


def child_settings(limits: Limits, device: str = "cpu") -> dict:
    """How the zygote makes a child: where its tensors live, one thread, and its rlimits."""
    return {
        "device": device,
        "threads": 1,
        "limits": {
            "cpu_s": limits.cpu_s,
            "address_space_bytes": limits.memory_mb << 20,
            "file_size_bytes": limits.file_size_mb << 20,
            "open_files": limits.open_files,
            "processes": limits.processes,
        },
    }


class ChildConnection:
    """The socket to the child serving one component, and what the parent knows of that child.

    ``importing`` is the innermost student file whose top-level code runs now (from the child's
    ``replies.Progress`` notes): the one to blame if an answer never comes. ``seen`` is every
    reference the child has held, ever, so a handed-over child never serves a component whose
    reference it must not have seen. ``serving`` names the component's symbols, for messages and tests.
    """

    def __init__(self, zygote: Zygote, limits: Limits, budget: Budget, device: str = "cpu", serving: tuple = ()):
        self.zygote = zygote
        self.limits = limits
        self.budget = budget
        self.device = device
        self.serving = serving
        self.pid: int | None = None
        self.sock: socket.socket | None = None
        self.importing: str | None = None
        self.seen: frozenset = frozenset()
        self.generation = -1  # the zygote's generation when this child was forked
        self.received_bytes = 0  # of the answers kept (the memo's): capped at ``max_memo_mb`` per component

    @property
    def open(self) -> bool:
        return self.sock is not None

    def alive(self) -> bool:
        """Open, and no child ended since this one was forked (that ended it too: ``Zygote.generation``)."""
        return self.sock is not None and not self.zygote.outlived(self.generation)

    def connect(self, handover: Handover | None, must_not_have_seen: frozenset, references) -> None:
        """A child handed over by the previous component if one may serve here, else a fresh fork."""
        self.importing = None
        handed_over = handover.take(must_not_have_seen) if handover is not None else None
        if handed_over is not None:
            self.pid, self.sock, self.seen, self.generation = handed_over
        else:
            (self.pid, self.sock), self.seen = self.zygote.fork(child_settings(self.limits, self.device)), frozenset()
            self.generation = self.zygote.generation  # after the fork: one that restarts the zygote moves it
        self.seen |= frozenset(references)

    def request(self, op: str, what: str, pace: Pace, **args):
        self.send(op, what, pace, **args)
        return self.receive(what, pace)

    def send(self, op: str, what: str, pace: Pace, **args) -> None:
        refused = self.budget.exhausted(pace)
        if refused:
            raise SandboxFatal(f"{refused} before {what}")
        try:
            send_frame(self.sock, dumps({"op": op, "args": args}))
        except (ConnectionError, BrokenPipeError, OSError):
            status = self.stop()
            raise SandboxFatal(f"your code {describe_exit(status, self.limits)} during {what}") from None

    def receive(self, what: str, pace: Pace):
        """The answer to the request just sent; the wait counts against the component's budget.

        Before it, the child may say which student file's code starts and ends (``replies.Progress``);
        the innermost file still running is ``importing`` -- the one to blame if the answer never comes.
        """
        timeout = max(self.budget.timeout(pace), 0.001)
        started = time.monotonic()
        running: list[str] = []
        for _ in range(MAX_PROGRESS_NOTES):
            answer = self.receive_frame(what, timeout, started, pace)
            if not isinstance(answer, replies.Progress):
                self.importing = None
                return answer
            if answer.running:
                running.append(answer.name)
            elif answer.name in running:
                running.remove(answer.name)
            self.importing = running[-1] if running else None
        self.stop()
        raise MalformedReply(what, "too many progress notes")

    def receive_frame(self, what: str, timeout: float, started: float, pace: Pace):
        timed_out = False
        try:
            data = recv_frame(self.sock, self.limits.max_reply_mb << 20, deadline=started + timeout)
        except (socket.timeout, TimeoutError):
            timed_out = True
            self.stop()
            if self.budget.suspect(pace):
                raise SandboxFatal(f"stopped after {timeout:g} s in {what}: this code hung before "
                                   f"({self.budget.first_hang}), so each later call gets only a short time") from None
            killed = f"killed after {timeout:g} s in {what}"
            self.budget.first_hang = self.budget.first_hang or killed
            raise SandboxFatal(f"{killed} (an endless loop, or far too slow?)") from None
        except (EOFError, ConnectionError, BrokenPipeError, OSError):
            status = self.stop()
            raise SandboxFatal(f"your code {describe_exit(status, self.limits)} during {what}") from None
        except ValueError as exc:  # frame over the size limit
            self.stop()
            raise ReplyTooLarge(f"during {what}: {exc}") from None
        finally:
            self.budget.record(time.monotonic() - started, timed_out, pace)
        self.received_bytes += replies.kept_bytes(data)
        if self.received_bytes > self.limits.max_memo_mb << 20:
            self.stop()
            raise SandboxFatal(f"during {what}: your code's answers add up to more than {self.limits.max_memo_mb} MiB")
        try:
            return replies.envelope(data, what)
        except MalformedReply:
            self.stop()
            raise

    def hand_over(self, handover: Handover) -> None:
        """Give the (clean) child to the next component; this connection is closed after it."""
        handover.give(self.pid, self.sock, self.seen, self.generation)
        self.pid = self.sock = None

    def stop(self):
        """Kill the child and everything it started; return its exit status (None if none was running)."""
        if self.sock is None:
            return None
        pid, sock, self.sock, self.pid = self.pid, self.sock, None, None
        return end_child(self.zygote, pid, sock, self.generation)
