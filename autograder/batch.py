"""Grade a class: discover the submissions, grade them in N worker processes, write every result atomically.

Each worker builds one ``Grader`` (one fork server, one ``import torch``) and grades many
submissions with torch limited to one thread, so N workers use N cores and start-up is paid N times,
not once per student. The parent never imports torch; it only hands out submissions, writes files
(through ``report.OutputFolder``: each student's hand-out folder and staff files; at the end
grades.csv and the class report, ``report.html``) and shows progress.

Whatever a submission does, the batch goes on: a grading that fails, or a worker that dies under
it, becomes that student's zero with the reason (``GradingReport.without_results``), and the exit
status says some could not be graded. Ctrl-C, SIGTERM and SIGHUP (a closed terminal, a dropped SSH
session) stop the workers and every child they started; rerunning the command resumes.
"""
import signal
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from types import SimpleNamespace

from .config import GradingConfig, load_config
from .contract import GRADED
from .intake.discover import Discovered, Discovery, discover, held_by
from .errors import AutograderError, ExitCode
from .integrity import IntegrityEvent, by_student, honestly_graded, read_integrity, sandbox_events
from .intake.safe_text import failure_message, safe_name_text, safe_text
from .machine import require_device, usable_cores
from .output_folder import OutputFolder, StudentRecord, class_tables, relative
from .results import GradingReport
from .staleness import graded_as, scheme_digest
from .worker import WATCH_INTERVAL_S, GradedSubmission, WorkerProcess, checks_of, overdue_limit

__all__ = ["grade_batch", "BatchSummary", "GradedSubmission"]  # GradedSubmission: from worker.py


@dataclass
class BatchSummary:
    """Who was graded, who needs a person and who could not be graded; owns the exit status."""

    discovery: Discovery
    graded: list[str] = field(default_factory=list)
    needs_review: list[tuple[str, str]] = field(default_factory=list)  # (student, why)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (student, why it could not be graded)
    already_done: list[str] = field(default_factory=list)
    graded_as: dict = field(default_factory=dict)  # id(item) -> ``staleness.graded_as`` of its hand-in now
    outcomes: list[GradedSubmission] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    earned: float = 0.0
    possible: float = 0.0
    full_marks: int = 0
    counted: int = 0  # students in the statistics: graded ones (not those nothing could be graded on)
    # Statuses of every student in the output folder (this run's and earlier runs'), once it is written:
    # the exit status describes the class on disk, as grades.csv and the closing list do.
    on_disk: list[str] = field(default_factory=list)

    def record(self, item: Discovered, outcome: GradedSubmission) -> None:
        self.outcomes.append(outcome)
        if outcome.status == "error":
            self.errors.append((item.key, outcome.message))
        elif outcome.status == "needs_review":
            self.needs_review.append((item.key, outcome.message))
        else:
            self.graded.append(item.key)
        report = outcome.report
        if not honestly_graded(report):  # statistics count honestly graded students only, as the class report's do
            return
        self.counted += 1
        self.earned += report.score
        self.possible += report.max_score or 0.0
        self.full_marks += report.max_score > 0 and report.score >= report.max_score

    def progress(self) -> str:
        text = (f"mean {100 * self.earned / max(self.possible, 1e-9):.0f}% · full marks {self.full_marks}/{self.counted}"
                if self.counted else "nobody graded yet")
        if self.needs_review:
            text += f" · {len(self.needs_review)} need review"
        if self.errors:
            text += f" · {len(self.errors)} ungradable"
        return text

    @property
    def exit_code(self) -> int:
        if self.errors or self.interrupted or "error" in self.on_disk:
            return ExitCode.FAILURES
        return ExitCode.NEEDS_REVIEW if self.needs_review or "needs_review" in self.on_disk else ExitCode.OK


# --- the parent side -----------------------------------------------------------------------------

def _run(items: list[Discovered], config: GradingConfig, jobs: int, on_outcome, figures: bool = True,
         device: str = "cpu") -> None:
    """Hand ``items`` to ``jobs`` workers in order; call ``on_outcome`` for each as it finishes."""
    pending = list(enumerate(items))[::-1]
    # Each worker keeps about one core busy, two with the experiment's early child (Grader.early_start):
    # only where the cores allow it, else the early child only contends.
    count = min(jobs, len(items))
    early_start = 2 * count <= usable_cores()
    workers = [WorkerProcess(config, figures, device, early_start) for _ in range(count)]
    try:
        for worker in workers:
            if pending:
                worker.give(*pending.pop())
        while any(w.task is not None for w in workers):
            by_handle = {}
            for w in workers:
                by_handle[w.connection] = w
                by_handle[w.sentinel] = w
            limit_s = overdue_limit(config)
            for worker in workers:
                worker.watch(limit_s)
            timeout = min([WATCH_INTERVAL_S, *(worker.seconds_left(limit_s) for worker in workers)])
            for handle in wait(list(by_handle), timeout=timeout):
                worker = by_handle[handle]
                if worker not in workers:
                    continue
                # read everything the worker sent before looking at whether it died
                while worker.connection.poll():
                    try:
                        kind, payload = worker.receive()
                    except (EOFError, OSError):
                        break  # the sentinel reports the death
                    if kind != "done":
                        continue
                    worker.task = None
                    on_outcome(payload[0])
                    if pending:
                        worker.give(*pending.pop())
                if handle is worker.connection or worker.alive:
                    continue
                worker.process.wait()
                if not worker.ready:
                    raise AutograderError(
                        f"a grading worker could not start (exit code {worker.exitcode}); "
                        "run `autograder grade` on one submission to see why"
                    )
                outcome = worker.lost(overdue_limit(config))
                worker.stop()
                workers.remove(worker)
                if outcome is not None:
                    on_outcome(outcome)
                if pending:
                    replacement = WorkerProcess(config, figures, device, early_start)
                    workers.append(replacement)
                    replacement.give(*pending.pop())
    finally:
        for worker in workers:
            worker.stop()


class _HangUp(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop as Ctrl-C does."""


def _interrupt(signum, frame):
    raise _HangUp(signal.Signals(signum).name)


def component_columns(config: GradingConfig) -> list[str]:
    return [name for name in GRADED if any(s.points > 0 for s in config.components.get(name, {}).values())]


def write_grades(out: Path, config: GradingConfig):
    """Rebuild OUT/grades.csv from every finished student on disk."""
    return OutputFolder(out).write_grades(component_columns(config))


def grade_batch(submissions, out, *, jobs: int = 1, regrade: bool = False, only: str | None = None,
                config=None, assignment: str | None = None, console=None, progress: bool = True,
                figures: bool = True, scheduler: str | None = None, device: str = "cpu") -> BatchSummary:
    """Grade every submission under ``submissions`` into ``out``; see the module docstring.

    ``config``: a GradingConfig, a path to grading_config.yaml, or None for the default.
    ``only``: regrade just this student (a folder name under OUT/students/ or OUT/staff/, or the submission's file name).
    ``figures``: pictures in the feedback pages (False: the pages in text only, faster).
    ``scheduler``: a Dask scheduler's address: grade on its workers (``cluster.py``) instead of
    ``jobs`` local worker processes; OUT is written here either way.
    ``device``: where student modules run; one this machine lacks raises before anything is written.
    Raises AutograderError for problems with the arguments; per-student problems are results.
    """
    from rich.console import Console

    if not isinstance(jobs, int) or jobs < 1:
        raise AutograderError(f"expected jobs to be a whole number >= 1 but got jobs={jobs!r}")
    if scheduler is None:  # on a cluster the workers' devices count: each worker's grader checks its own
        require_device(device)
    config = config if isinstance(config, GradingConfig) else load_config(config)
    folder = OutputFolder(out)
    console = console or Console()
    started = time.monotonic()
    on_disk = folder.records()
    found = discover(submissions, assignment=assignment, held=held_by(on_disk))
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        summary = BatchSummary(discovery=found)
        inside = [i for i in found.submissions if i.source.resolve() == folder.path.resolve()]
        found.submissions = [i for i in found.submissions if i not in inside]
        found.skipped += [(safe_name_text(i.source.name), "the output folder (--out)") for i in inside]
        console.print(found.describe(), highlight=False, markup=False)
        items = found.submissions
        if only is not None:
            items = [i for i in items if only in {s.key for s in i.submitters} | {i.source.name, i.source.stem}]
            if not items:
                known = ", ".join(i.key for i in found.submissions[:20])
                raise AutograderError(f"no submission for --only {only!r} in {found.root}; students found: {known or 'none'}")
        moved = folder.upgrade()  # an older version's layout: its results count as done, nothing is lost
        if moved:
            console.print(f"moved the staff-only files of {moved} students from {relative(folder.students)}/ to "
                          f"{relative(folder.staff)}/ (an output folder of an older version): {relative(folder.students)}/ "
                          "now holds only what students may see", highlight=False, markup=False)
        scheme = scheme_digest(config)
        summary.graded_as = {id(i): graded_as(i.source, scheme) for i in items}
        recorded = {r.student: r.graded_as for r in on_disk}
        done = [i for i in items if folder.is_done(s.key for s in i.submitters)]
        stale = [i for i in done
                 if any(recorded.get(s.key, "") not in ("", summary.graded_as[id(i)]) for s in i.submitters)]
        again = {id(i) for i in stale} | {id(i) for i in items} - {id(i) for i in done}
        todo = [i for i in items if regrade or only is not None or id(i) in again]
        summary.already_done = [i.key for i in items if i not in todo]
        if summary.already_done:
            console.print(f"{len(summary.already_done)} already graded in {out} (pass --regrade to grade them again)")
        if stale and not regrade and only is None:
            console.print(f"{len(stale)} graded again: their hand-in or the grading scheme (points, checks, reference) "
                          f"changed since they were graded: {', '.join(i.key for i in stale[:20])}"
                          + (" ..." if len(stale) > 20 else ""), highlight=False, markup=False)
        folder.prepare()
        try:
            _grade_all(todo, folder, config, jobs, summary, console, progress, figures, scheduler, device)
        except KeyboardInterrupt as stop:
            summary.interrupted = True
            why = f" ({stop})" if isinstance(stop, _HangUp) else ""
            console.print(f"interrupted{why}: {len(summary.outcomes)} of {len(todo)} done; "
                          "rerun the same command to grade the rest")
        summary.seconds = time.monotonic() - started
        report = write_class_report(folder, config, summary, jobs, figures)  # first: it finds the integrity events
        events = _integrity_events(folder, report)
        records = folder.write_grades(component_columns(config), events)
        summary.on_disk = [r.status for r in records]
        _mark_similar(folder, records, events, config, figures)
        for table in class_tables(records):
            console.print(table)
        _say_who_needs_a_person(summary, records, console, events)
        console.print(f"graded {len(summary.graded)}, need review {len(summary.needs_review)}, could not grade "
                      f"{len(summary.errors)}, already done {len(summary.already_done)} in {summary.seconds:.1f} s "
                      f"-> {relative(folder.grades)}", highlight=False)
        console.print(report if isinstance(report, str) else f"class report: {relative(report)}",
                      highlight=False, markup=False)
        return summary
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        found.cleanup()


def write_class_report(folder: OutputFolder, config: GradingConfig, summary: BatchSummary, jobs: int,
                       figures: bool) -> Path | str:
    """OUT/report.html, OUT/report.json and OUT/integrity.json (issue 14) from every student on disk,
    like grades.csv; the HTML's path, or a warning to print when it could not be written."""
    from .pages import write_class_report as write

    run = {"graded": len(summary.graded), "needs_review": len(summary.needs_review), "errors": len(summary.errors),
           "already_done": len(summary.already_done), "seconds": round(summary.seconds, 1), "jobs": jobs,
           "interrupted": summary.interrupted}
    try:
        return write(folder.path, config, run, pictures=figures)
    except Exception as error:  # noqa: BLE001 -- the grades are still to be written; say so and go on
        return f"warning: the class report could not be written ({type(error).__name__}: {error})"


def _integrity_events(folder: OutputFolder, report: Path | str) -> list[IntegrityEvent]:
    """The batch's integrity events: OUT/integrity.json, which the class report has just written (the
    one list every reader takes); without it, what the sandbox saw in each student's record."""
    from .pages.class_report import INTEGRITY_JSON

    if not isinstance(report, str):
        try:
            return read_integrity((folder.path / INTEGRITY_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    return [e for r in folder.records() for e in sandbox_events(r.student, r.report)]


def catalogue_of(outcome: GradedSubmission) -> list[tuple]:
    """The checks of ``outcome``'s report as a catalogue: what a zero report for the same student needs."""
    return [(c.component, c.check_id, c.name, c.max_score, c.visibility) for c in outcome.report.checks]


def _written(folder: OutputFolder, record: StudentRecord, outcome: GradedSubmission, catalogue: list[tuple],
             config: GradingConfig, figures: bool) -> GradedSubmission:
    """Write ``record``; the fault barrier of the parent for one student.

    Anything that fails while writing (a page, a picture, a text no writer takes) makes this student
    ``error`` with the reason, written in plain text without pictures -- and with ``results.json``, so
    a resume does not meet the same crash again (``--regrade`` or ``--only`` tries again). The class goes on.
    """
    try:
        folder.write_student(record, config.gradescope.hidden_visibility, figures=figures)
        return outcome
    except Exception as error:  # noqa: BLE001 -- one student's data must never stop the class
        message = failure_message("the grader could not write this student's results", error) + \
            "; regrade it with --only after looking at the submission"
    report = GradingReport.without_results(safe_name_text(record.report.submission), checks_of(catalogue), message,
                                           detail=safe_text(traceback.format_exc(), 16000))
    failed = StudentRecord(student=record.student, name=safe_name_text(record.name), email=safe_name_text(record.email),
                           source=safe_text(record.source, 1000), status="error", message=message, report=report,
                           grading=record.grading, identity=record.identity, graded_as=record.graded_as)
    folder.write_student(failed, config.gradescope.hidden_visibility, figures=False)
    return GradedSubmission(outcome.index, report, outcome.seconds, outcome.worker_pid, outcome.worker_peak_rss_kb,
                            outcome.zygote_peak_rss_kb)


def _mark_similar(folder: OutputFolder, records: list[StudentRecord], events: list[IntegrityEvent], config: GradingConfig,
                  figures: bool) -> None:
    """Write again the pages of the students in a similarity event, so that their staff pages name
    it too: similarity is known only once the whole class is graded. (A page that cannot be drawn is
    ``render_student_pages``'s to handle, as in the first writing.)"""
    together = {s for e in events if len(e.students) > 1 and e.needs_a_person for s in e.students}
    for record in records:
        if record.student in together:
            folder.write_student(record, config.gradescope.hidden_visibility, figures=figures, events=events)


def _say_who_needs_a_person(summary: BatchSummary, records: list[StudentRecord], console,
                            events: list[IntegrityEvent]) -> None:
    """The closing list, over every student on disk like grades.csv and the integrity events: after a
    resume, a student left ``needs_review`` or ``error`` by an earlier run still needs a person."""
    needs_review = [(r.student, r.message) for r in records if r.status == "needs_review"]
    if needs_review:
        console.print(f"needs review ({len(needs_review)}): a person should look at these "
                      "(status needs_review in grades.csv):", highlight=False, markup=False)
        for student, why in needs_review:
            console.print(f"  {student}: {why}", highlight=False, markup=False)
    flagged = by_student(events)
    if flagged:
        console.print(f"integrity events ({len(flagged)} students): a person should look at these, apart from honest "
                      "mistakes (the integrity column of grades.csv; integrity.json):", highlight=False, markup=False)
        for student, sentences in sorted(flagged.items()):
            console.print(f"  {student}: {'; '.join(sentences)}", highlight=False, markup=False)
    listed = {student for student, _ in summary.errors}
    errors = summary.errors + [(r.student, r.message) for r in records if r.status == "error" and r.student not in listed]
    for student, why in errors:
        console.print(f"could not grade {student}: {why}", highlight=False, markup=False)


def _grade_all(todo, folder: OutputFolder, config, jobs, summary: BatchSummary, console, show_progress,
               figures: bool = True, scheduler: str | None = None, device: str = "cpu") -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if not todo:
        return
    columns = (TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    live = show_progress and console.is_terminal
    with Progress(*columns, console=console, disable=not live, transient=False) as bar:
        task = bar.add_task("grading", total=len(todo), stats="")

        def on_outcome(outcome: GradedSubmission) -> None:
            item = todo[outcome.index]
            for submitter in item.submitters:
                record = StudentRecord(
                    student=submitter.key, name=submitter.name, email=submitter.email, source=summary.discovery.shown(item.source),
                    status=outcome.status, message=outcome.message, report=outcome.report,
                    grading={"seconds": round(outcome.seconds, 3), "worker_pid": outcome.worker_pid,
                             "worker_peak_rss_kb": outcome.worker_peak_rss_kb,
                             "zygote_peak_rss_kb": outcome.zygote_peak_rss_kb},
                    identity=submitter.identity, graded_as=summary.graded_as.get(id(item), ""))
                outcome = _written(folder, record, outcome, catalogue_of(outcome), config, figures)
            summary.record(item, outcome)
            bar.update(task, advance=1, stats=summary.progress())
            if show_progress and not live:  # a log, not a terminal (nohup, CI, cron): one plain line each
                report = outcome.report
                console.print(f"[{len(summary.outcomes)}/{len(todo)}] {item.key}: {report.score:g}/{report.max_score:g} "
                              f"{outcome.status} ({outcome.seconds:.1f} s) · {summary.progress()}",
                              highlight=False, markup=False)

        if scheduler is None:
            _run(todo, config, jobs, on_outcome, figures, device)
        else:
            from .cluster import run_on_cluster  # the only import of Dask: a local batch never needs it

            run_on_cluster(todo, config, scheduler, on_outcome, figures, device)
