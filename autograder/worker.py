"""A warm grading worker and its watchdog: what grades a batch, on this machine or on Dask.

A ``WorkerProcess`` keeps one ``Grader`` (one torch import, one fork server) and grades many
submissions with ``grade_one``, sending back a ``GradedSubmission`` for each. A local batch
(``batch.py``) runs N of them; a Dask worker (``cluster.py``) runs one. Either way the process that
started it watches the time: one that holds a submission past ``overdue_limit`` is stopped
(``WorkerProcess.watch``), and when a worker dies under a submission the parent makes that student's
result with ``died`` from the checks' ``check_catalogue``, so the report has the same tests as a
graded one. The budget is enforced here once, for both kinds of batch.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import SimpleNamespace

from .config import GradingConfig
from .errors import AutograderError
from .intake.discover import Discovered
from .intake.safe_text import failure_message, safe_name_text
from .results import GradingReport

__all__ = ["GradedSubmission", "WorkerProcess", "grade_one", "check_catalogue", "checks_of", "died", "overdue_limit"]

# A worker may spend this much beyond twice the submission's time budget on one submission (the
# reference's side, shrinking, pictures) before it is stopped; the student is then ``error``.
OVERDUE_GRACE_S = 60.0
WATCH_INTERVAL_S = 2.0  # how often the parent looks for an overdue worker
KILL_AFTER_S = 10.0  # an overdue worker that has not unwound after SIGTERM this long gets SIGKILL


def overdue_limit(config: GradingConfig) -> float:
    return 2 * config.limits.submission_timeout_s + OVERDUE_GRACE_S


@dataclass(frozen=True)
class GradedSubmission:
    """What a worker sends back for one submission."""

    index: int
    report: GradingReport
    seconds: float
    worker_pid: int
    worker_peak_rss_kb: int
    zygote_peak_rss_kb: int | None

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def message(self) -> str:
        """Why the submission is not simply graded ("" when it is)."""
        if self.report.status == "graded":
            return ""
        reasons = self.report.review or [n.removeprefix("Could not be graded: ") for n in self.report.notes[:1]]
        return "; ".join(reasons)


def _peak_rss_kb(pid: int) -> int | None:
    """VmHWM (peak resident set) of ``pid`` from /proc, or None where that is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _tree_peak_rss_kb(root: int) -> int | None:
    """The largest peak RSS among ``root`` and its descendants (the fork server may sit inside a wrapper)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    family, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in family]
        family.update(children)
        frontier.extend(children)
    peaks = [p for p in map(_peak_rss_kb, family) if p is not None]
    return max(peaks) if peaks else None


def grade_one(grader, index: int, item: Discovered) -> GradedSubmission:
    started = time.perf_counter()
    try:
        if item.problem:  # discovery found it but it cannot be graded as it is: a row for a person
            report = GradingReport.without_results(item.source.name, grader.checks, item.problem, status="needs_review")
        else:
            report = grader.grade(item.source)
    except Exception as error:  # noqa: BLE001 -- grade() reports all it can; this is the last net
        report = GradingReport.without_results(safe_name_text(item.source.name), grader.checks,
                                               failure_message("the grader failed on this submission", error))
    report.submission = safe_name_text(item.source.name)
    zygote = getattr(grader, "zygote", None)
    return GradedSubmission(
        index=index, report=report, seconds=time.perf_counter() - started, worker_pid=os.getpid(),
        worker_peak_rss_kb=_peak_rss_kb(os.getpid()) or 0,
        zygote_peak_rss_kb=_tree_peak_rss_kb(zygote.process.pid) if zygote is not None else None,
    )


# --- the worker process ----------------------------------------------------------------------------

_told_to_stop = False


def _stop_on_sigterm(signum, frame):
    global _told_to_stop
    _told_to_stop = True  # code that catches SystemExit (Hypothesis does) must not make this a result
    raise SystemExit(128 + signum)  # unwinds through the grader, which kills the student's child


def serve(fd: int) -> None:
    """The worker process: one Grader, many submissions. Ctrl-C and hang-ups are the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    connection = Connection(fd)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch

    torch.set_num_threads(1)
    from .grader import Grader

    try:
        config, figures, device, early_start = connection.recv()
        try:
            grader = Grader(config, figures=figures, device=device, early_start=early_start)
        except AutograderError as error:  # the machine, not a student: one line for the parent to print
            connection.send(("cannot_start", str(error)))
            return
        with grader:
            connection.send(("ready", os.getpid(), check_catalogue(grader), grader.started_warm))
            while True:
                try:
                    message = connection.recv()
                except EOFError:  # the parent is gone (a Dask worker killed): nobody to grade for
                    return
                if message is None:
                    return
                index, item = message
                outcome = grade_one(grader, index, item)
                if _told_to_stop:
                    return
                try:
                    connection.send(("done", outcome))
                except OSError:  # the parent died while this one graded: nobody to tell
                    return
    finally:  # no child left to kill: a late SIGTERM (torch's slow exit) may simply end the process
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class WorkerProcess:
    """One grading worker process, seen from the process that started it.

    Started with ``subprocess`` and a socket pair rather than ``multiprocessing``: a Dask worker is
    a daemonic process, and multiprocessing refuses children there. ``sentinel`` (a pidfd) becomes
    readable when the process ends, for ``multiprocessing.connection.wait`` beside the connection.
    """

    def __init__(self, config: GradingConfig, figures: bool = True, device: str = "cpu", early_start: bool = False):
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parent.parent)  # as multiprocessing's spawn would: our code first
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        environment = dict(os.environ, PYTHONPATH=path)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from autograder.worker import serve; serve(int(sys.argv[1]))",
             str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=environment)
        theirs.close()
        self.connection = Connection(ours.detach())
        self.sentinel = os.pidfd_open(self.process.pid)
        self.connection.send((config, figures, device, early_start))
        self.ready = False
        self.catalogue: list[tuple] = []
        self.started_warm = False
        self.task: tuple[int, Discovered] | None = None
        self.since = time.monotonic()  # when the current task was given, or the worker became ready
        self.overdue_at: float | None = None  # when it was told to stop for taking too long

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def receive(self):
        """The next message, after taking in a "ready" one; raises AutograderError for "cannot_start".

        A result that comes after the worker was stopped as overdue is dropped (kind "late"): the
        student's result is the overdue one, whatever the stopped grading made of its interruption.
        """
        kind, *payload = self.connection.recv()
        if kind == "done" and self.overdue_at is not None:
            return "late", payload
        if kind == "ready":
            self.ready, self.since = True, time.monotonic()
            _, self.catalogue, self.started_warm = payload
        elif kind == "cannot_start":  # every worker would say the same: stop, say it once
            raise AutograderError(payload[0])
        return kind, payload

    def give(self, index: int, item: Discovered) -> None:
        self.task = (index, item)
        self.since = time.monotonic()
        self.connection.send((index, item))

    def watch(self, limit_s: float) -> None:
        """Stop a worker whose grading of one submission has taken more than ``limit_s``: the grader
        bounds what the student's code may take, this bounds everything else (the parent's own work
        on that student's data), so no submission can hold a worker for ever."""
        if self.task is None or not self.ready or not self.alive or time.monotonic() <= self._due(limit_s):
            return
        if self.overdue_at is None:
            self.overdue_at = time.monotonic()
            self.process.terminate()  # the worker unwinds and its grader kills the student's child
        else:
            self.process.kill()

    def _due(self, limit_s: float) -> float:
        """When ``watch`` acts next on the current task: stop it at its limit, then kill it if it has not ended."""
        return self.since + limit_s if self.overdue_at is None else self.overdue_at + KILL_AFTER_S

    def seconds_left(self, limit_s: float) -> float:
        """How long a wait may last before ``watch`` has something to do for this worker: a wait of
        ``WATCH_INTERVAL_S`` alone would let a grading run up to that much past its limit (and finish)."""
        if self.task is None or not self.ready or not self.alive:
            return WATCH_INTERVAL_S
        return min(WATCH_INTERVAL_S, max(0.01, self._due(limit_s) - time.monotonic()))

    def lost(self, limit_s: float) -> GradedSubmission | None:
        """After the process ended: its submission's result ("worker died" or "overdue"), if it held one."""
        lost, self.task = self.task, None
        if lost is None:
            return None
        return died(lost[0], lost[1], self.exitcode, self.catalogue, limit_s if self.overdue_at is not None else None)

    def start(self) -> None:
        """Wait until the worker is ready; a worker that cannot start is an AutograderError."""
        while not self.ready:
            if self._next() is None and not self.alive:
                self.process.wait()
                raise AutograderError(f"a grading worker could not start (exit code {self.exitcode}); "
                                      "run `autograder grade` on one submission to see why")

    def grade(self, index: int, item: Discovered, limit_s: float) -> GradedSubmission:
        """Grade one submission on a started worker, stopping it past ``limit_s``: its result whatever happens."""
        self.give(index, item)
        while True:
            self.watch(limit_s)
            message = self._next(self.seconds_left(limit_s))
            if message is not None and message[0] == "done":
                self.task = None
                return message[1][0]
            if message is None and not self.alive:
                self.process.wait()
                return self.lost(limit_s)

    def _next(self, timeout: float = WATCH_INTERVAL_S):
        """The next message within ``timeout``, or None (nothing came, or the worker is gone)."""
        if not wait([self.connection, self.sentinel], timeout=timeout) or not self.connection.poll():
            return None
        try:
            return self.receive()
        except (EOFError, OSError):  # it ended: the sentinel says so, or soon will
            self._join(KILL_AFTER_S)
            return None

    def stop(self, timeout: float = 5.0) -> None:
        if self.alive:
            try:
                self.connection.send(None)
            except (OSError, ValueError):
                pass
            self._join(timeout if self.task is None else 0)
        if self.alive:
            self.process.terminate()  # SIGTERM: the worker unwinds and its grader kills the child
            self._join(timeout)
        if self.alive:
            self.process.kill()
            self.process.wait()
        self.connection.close()
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None

    def _join(self, timeout: float) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass


def check_catalogue(grader) -> list[tuple]:
    """Every check as (component, id, name, points, visibility): what a zero report needs, for the parent."""
    return [(c.component, c.id, c.name, s.points, s.visibility) for c, s in grader.checks]


def checks_of(catalogue: list[tuple]) -> list[tuple]:
    return [(SimpleNamespace(component=c, id=i, name=n), SimpleNamespace(points=p, visibility=v))
            for c, i, n, p, v in catalogue]


def died(index: int, item: Discovered, exitcode, catalogue: list[tuple], overdue_s: float | None = None) -> GradedSubmission:
    message = f"the grading worker died while grading this submission (exit code {exitcode}); regrade it with --only"
    if overdue_s is not None:
        message = (f"grading this submission took more than {overdue_s:g} s (twice its time budget and a minute), "
                   "so it was stopped; look at it, then regrade it with --only")
    report = GradingReport.without_results(safe_name_text(item.source.name), checks_of(catalogue), message)
    return GradedSubmission(index=index, report=report, seconds=0.0, worker_pid=0, worker_peak_rss_kb=0,
                            zygote_peak_rss_kb=None)
