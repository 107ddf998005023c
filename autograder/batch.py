"""Grade a class: discover the submissions, grade them in N worker processes, write every result atomically.

Each worker builds one ``Grader`` (one fork server, one ``import torch``) and grades many
submissions with torch limited to one thread, so N workers use N cores and start-up is paid N times,
not once per student. The parent never imports torch; it only hands out submissions, writes files
and draws the progress bar.

A student is done when ``OUT/<student>/results.json`` exists; it is written last, after
``report.json``, ``feedback.md`` and the feedback pages (``pages/``), each by rename, so an
interrupted batch leaves whole files and a rerun picks up where it stopped. ``grades.csv`` and the
class report (``report.html``, ``report.json``) are rebuilt from the files on disk at the end.

Whatever a submission does, the batch goes on: an exception while grading it, a broken zip, or a
worker that dies under it becomes that student's zero with the reason (otter's
``GradingResults.without_results``), and the batch's exit status says some could not be graded.
"""
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from .config import GradingConfig, load_config
from .contract import GRADED
from .discover import Discovered, Discovery, discover, materialise
from .errors import AutograderError, SubmissionError
from .report import FEEDBACK_FILE, RECORD_FILE, RESULTS_FILE, StudentRecord, class_tables, feedback_markdown, grades_csv, read_records
from .results import CheckResult, GradingReport, gradescope_results, write_atomically

__all__ = ["grade_batch", "BatchSummary", "Outcome"]

GRADES_FILE = "grades.csv"


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back for one submission."""

    index: int
    status: str  # "graded" or "error"
    message: str
    report: GradingReport
    seconds: float
    worker_pid: int
    worker_peak_rss_kb: int
    zygote_peak_rss_kb: int | None


@dataclass
class BatchSummary:
    """Counts for the TA and the exit status: 0 when every submission was graded, 1 when some could not be."""

    discovery: Discovery
    graded: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (student, why it could not be graded)
    already_done: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.errors or self.interrupted else 0


# --- the worker side -----------------------------------------------------------------------------

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


def _zero_report(grader, name: str, message: str) -> GradingReport:
    report = GradingReport(submission=name, notes=[f"Could not be graded: {message}"])
    for check_, settings_ in grader.checks:
        report.checks.append(CheckResult(
            component=check_.component, check_id=check_.id, name=check_.name, score=0.0,
            max_score=settings_.points, passed=False, output=message, visibility=settings_.visibility,
        ))
    return report


def _grade_one(grader, scratch: Path, index: int, item: Discovered, max_bytes: int) -> Outcome:
    from .sandbox.launcher import SandboxFatal

    started = time.perf_counter()
    status, message = "graded", ""
    try:
        folder = materialise(item, scratch, max_bytes)
        report = grader.grade(folder)
        report.submission = item.source.name
    except SubmissionError as error:  # e.g. a broken or oversized zip
        status, message = "error", str(error)
    except (Exception, SandboxFatal) as error:
        status, message = "error", f"the grader failed on this submission ({type(error).__name__}: {error})"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True, exist_ok=True)
    if status != "graded":
        report = _zero_report(grader, item.source.name, message)
    zygote = getattr(grader, "zygote", None)
    return Outcome(
        index=index, status=status, message=message, report=report,
        seconds=time.perf_counter() - started, worker_pid=os.getpid(),
        worker_peak_rss_kb=_peak_rss_kb(os.getpid()) or 0,
        zygote_peak_rss_kb=_tree_peak_rss_kb(zygote.process.pid) if zygote is not None else None,
    )


def _stop_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the grader, which kills the student's child


def _worker_main(connection, config: GradingConfig, figures: bool = True) -> None:
    """One worker: one Grader, many submissions. Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch

    torch.set_num_threads(1)
    from .grader import Grader

    scratch = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
    try:
        with Grader(config, figures=figures) as grader:
            connection.send(("ready", os.getpid()))
            while True:
                message = connection.recv()
                if message is None:
                    return
                index, item = message
                connection.send(("done", _grade_one(grader, scratch / "s", index, item,
                                                    config.limits.max_submission_mb << 20)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- the parent side -----------------------------------------------------------------------------

class _Worker:
    def __init__(self, context, config: GradingConfig, figures: bool = True):
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(theirs, config, figures), daemon=True)
        self.process.start()
        theirs.close()
        self.ready = False
        self.task: tuple[int, Discovered] | None = None

    def give(self, index: int, item: Discovered) -> None:
        self.task = (index, item)
        self.connection.send((index, item))

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.is_alive():
            try:
                self.connection.send(None)
            except (OSError, ValueError):
                pass
            self.process.join(timeout if self.task is None else 0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _died(index: int, item: Discovered, exitcode, config_for_zero: GradingConfig) -> Outcome:
    message = f"the grading worker died while grading this submission (exit code {exitcode}); regrade it with --only"
    return Outcome(index=index, status="error", message=message, report=_config_zero_report(config_for_zero, item, message),
                   seconds=0.0, worker_pid=0, worker_peak_rss_kb=0, zygote_peak_rss_kb=None)


def _config_zero_report(config: GradingConfig, item: Discovered, message: str) -> GradingReport:
    """A zero for every configured check, named by id (the parent does not load the checks' titles)."""
    report = GradingReport(submission=item.source.name, notes=[f"Could not be graded: {message}"])
    for component, checks in config.components.items():
        for check_id, settings_ in checks.items():
            report.checks.append(CheckResult(
                component=component, check_id=check_id, name=f"{component}: {check_id}", score=0.0,
                max_score=settings_.points, passed=False, output=message, visibility=settings_.visibility,
            ))
    return report


def _run(items: list[Discovered], config: GradingConfig, jobs: int, on_outcome, figures: bool = True) -> None:
    """Hand ``items`` to ``jobs`` workers in order; call ``on_outcome`` for each as it finishes."""
    context = multiprocessing.get_context("spawn")  # the parent may hold threads (rich); never fork it
    pending = list(enumerate(items))[::-1]
    workers = [_Worker(context, config, figures) for _ in range(min(jobs, len(items)))]
    try:
        for worker in workers:
            if pending:
                worker.give(*pending.pop())
        while any(w.task is not None for w in workers):
            by_handle = {}
            for w in workers:
                by_handle[w.connection] = w
                by_handle[w.process.sentinel] = w
            for handle in wait(list(by_handle)):
                worker = by_handle[handle]
                if worker not in workers:
                    continue
                # read everything the worker sent before looking at whether it died
                while worker.connection.poll():
                    try:
                        kind, payload = worker.connection.recv()
                    except (EOFError, OSError):
                        break  # the sentinel reports the death
                    if kind == "ready":
                        worker.ready = True
                        continue
                    worker.task = None
                    on_outcome(payload)
                    if pending:
                        worker.give(*pending.pop())
                if handle is worker.connection or worker.process.is_alive():
                    continue
                worker.process.join()
                if not worker.ready:
                    raise AutograderError(
                        f"a grading worker could not start (exit code {worker.process.exitcode}); "
                        "run `autograder grade` on one submission to see why"
                    )
                lost, worker.task = worker.task, None
                worker.stop()
                workers.remove(worker)
                if lost is not None:
                    on_outcome(_died(lost[0], lost[1], worker.process.exitcode, config))
                if pending:
                    replacement = _Worker(context, config, figures)
                    workers.append(replacement)
                    replacement.give(*pending.pop())
    finally:
        for worker in workers:
            worker.stop()


def _is_done(out: Path, item: Discovered) -> bool:
    return all((out / s.key / RESULTS_FILE).is_file() and (out / s.key / RECORD_FILE).is_file() for s in item.submitters)


def _write_student(out: Path, item: Discovered, outcome: Outcome, hidden_visibility: str, figures: bool = True) -> None:
    report = outcome.report
    for submitter in item.submitters:
        folder = out / submitter.key
        record = StudentRecord(student=submitter.key, name=submitter.name, email=submitter.email,
                               source=str(item.source), status=outcome.status, message=outcome.message, report=report,
                               grading={"seconds": round(outcome.seconds, 3), "worker_pid": outcome.worker_pid,
                                        "worker_peak_rss_kb": outcome.worker_peak_rss_kb,
                                        "zygote_peak_rss_kb": outcome.zygote_peak_rss_kb})
        write_atomically(folder / RECORD_FILE, record.to_json())
        write_atomically(folder / FEEDBACK_FILE, feedback_markdown(record))
        results = gradescope_results(report, hidden_visibility)
        results = _write_pages(folder, record, results, hidden_visibility, figures)
        write_atomically(folder / RESULTS_FILE, json.dumps(results, indent=2) + "\n")  # last: marks the student done


# --- issue 14: the pages people look at (autograder/pages/) ---------------------------------------

def _write_pages(folder: Path, record: StudentRecord, results: dict, hidden_visibility: str, figures: bool) -> dict:
    """feedback.html, feedback.staff.html, and results.json's outputs as HTML; on any trouble of
    ours, the plain results: a page is never worth a grade."""
    from .pages import write_student_pages

    try:
        return write_student_pages(folder, record, results, pictures=figures, hidden_visibility=hidden_visibility)
    except Exception as error:  # noqa: BLE001 -- reported in the student's notes below, the batch goes on
        results = dict(results)
        results["output"] += f"\n(the feedback pages could not be written: {type(error).__name__})"
        return results


def write_class_report(out: Path, config: GradingConfig, summary: "BatchSummary", jobs: int, figures: bool, console) -> None:
    """OUT/report.html and OUT/report.json from every student on disk, like grades.csv."""
    from .pages import write_class_report as write

    run = {"graded": len(summary.graded), "errors": len(summary.errors), "already_done": len(summary.already_done),
           "seconds": round(summary.seconds, 1), "jobs": jobs, "interrupted": summary.interrupted}
    try:
        path = write(out, config, run, pictures=figures)
    except Exception as error:  # noqa: BLE001 -- the grades are written; say so and go on
        console.print(f"warning: the class report could not be written ({type(error).__name__}: {error})",
                      highlight=False, markup=False)
        return
    console.print(f"class report: {path}", highlight=False, markup=False)


def component_columns(config: GradingConfig) -> list[str]:
    return [name for name in GRADED if any(s.points > 0 for s in config.components.get(name, {}).values())]


def write_grades(out: Path, config: GradingConfig) -> list[StudentRecord]:
    """Rebuild OUT/grades.csv from every finished student on disk."""
    records = read_records(out)
    write_atomically(out / GRADES_FILE, grades_csv(records, component_columns(config)))
    return records


def grade_batch(submissions, out, *, jobs: int = 1, regrade: bool = False, only: str | None = None,
                config=None, assignment: str | None = None, console=None, progress: bool = True,
                figures: bool = True) -> BatchSummary:
    """Grade every submission under ``submissions`` into ``out``; see the module docstring.

    ``config``: a GradingConfig, a path to grading_config.yaml, or None for the default.
    ``only``: regrade just this student (a folder name under OUT/, or the submission's file name).
    ``figures``: pictures in the feedback pages (False: the pages in text, faster).
    Raises AutograderError for problems with the arguments; per-student problems are results.
    """
    from rich.console import Console

    if not isinstance(jobs, int) or jobs < 1:
        raise AutograderError(f"expected jobs to be a whole number >= 1 but got jobs={jobs!r}")
    config = config if isinstance(config, GradingConfig) else load_config(config)
    out = Path(out)
    console = console or Console()
    started = time.monotonic()
    found = discover(submissions, assignment=assignment)
    try:
        summary = BatchSummary(discovery=found)
        inside = [i for i in found.submissions if i.source.resolve() == out.resolve()]
        found.submissions = [i for i in found.submissions if i not in inside]
        found.skipped += [(i.source.name, "the output folder (--out)") for i in inside]
        console.print(found.describe(), highlight=False, markup=False)
        items = found.submissions
        if only is not None:
            items = [i for i in items if only in {s.key for s in i.submitters} | {i.source.name, i.source.stem}]
            if not items:
                known = ", ".join(i.key for i in found.submissions[:20])
                raise AutograderError(f"no submission for --only {only!r} in {found.root}; students found: {known or 'none'}")
        todo = [i for i in items if regrade or only is not None or not _is_done(out, i)]
        summary.already_done = [i.key for i in items if i not in todo]
        if summary.already_done:
            console.print(f"{len(summary.already_done)} already graded in {out} (pass --regrade to grade them again)")
        out.mkdir(parents=True, exist_ok=True)
        for stale in [*out.glob(".*.tmp"), *out.glob("*/.*.tmp")]:  # left by a killed run; never read
            stale.unlink(missing_ok=True)
        try:
            _grade_all(todo, out, config, jobs, summary, console, progress, figures)
        except KeyboardInterrupt:
            summary.interrupted = True
            console.print(f"interrupted: {len(summary.graded) + len(summary.errors)} of {len(todo)} done; "
                          "rerun the same command to grade the rest")
        records = write_grades(out, config)
        summary.seconds = time.monotonic() - started
        for table in class_tables(records):
            console.print(table)
        for student, why in summary.errors:
            console.print(f"could not grade {student}: {why}", highlight=False, markup=False)
        console.print(f"graded {len(summary.graded)}, could not grade {len(summary.errors)}, "
                      f"already done {len(summary.already_done)} in {summary.seconds:.1f} s -> {out / GRADES_FILE}")
        write_class_report(out, config, summary, jobs, figures, console)
        return summary
    finally:
        found.cleanup()


def _grade_all(todo, out, config, jobs, summary, console, show_progress, figures: bool = True) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if not todo:
        return
    earned = [0.0, 0.0]
    full = [0]
    columns = (TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not show_progress, transient=False) as bar:
        task = bar.add_task("grading", total=len(todo), stats="")

        def on_outcome(outcome: Outcome) -> None:
            item = todo[outcome.index]
            _write_student(out, item, outcome, config.gradescope.hidden_visibility, figures)
            summary.outcomes.append(outcome)
            if outcome.status == "graded":
                summary.graded.append(item.key)
            else:
                summary.errors.append((item.key, outcome.message))
            earned[0] += outcome.report.score
            earned[1] += outcome.report.max_score or 0.0
            full[0] += outcome.report.max_score > 0 and outcome.report.score >= outcome.report.max_score
            done = len(summary.outcomes)
            stats = f"mean {100 * earned[0] / max(earned[1], 1e-9):.0f}% · full marks {full[0]}/{done}"
            if summary.errors:
                stats += f" · {len(summary.errors)} ungradable"
            bar.update(task, advance=1, stats=stats)

        _run(todo, config, jobs, on_outcome, figures)
