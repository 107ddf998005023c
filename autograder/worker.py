"""One submission in a warm grading worker: what a batch worker does, on this machine or on Dask.

A local batch (``batch.py``) and a Dask batch (``cluster.py``) both grade with ``grade_one`` in a
process that keeps one ``Grader``, and both send back a ``GradedSubmission``. When a worker dies
under a submission, the parent makes that student's result with ``died`` from the checks'
``check_catalogue``, so the report has the same tests as a graded one.
"""
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from .intake.discover import Discovered
from .intake.safe_text import failure_message, safe_name_text
from .results import GradingReport

__all__ = ["GradedSubmission", "grade_one", "check_catalogue", "checks_of", "died"]


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
