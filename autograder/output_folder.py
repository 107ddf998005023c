"""What a batch leaves on disk and shows the TA: per-student records and feedback, grades.csv, the class table.

The output folder (``OutputFolder``) owns its layout, and with it who may read what:

    OUT/students/<student>/   what that student may see now: hand the folder out as it is
    OUT/staff/<student>/      course staff only: the full record, results.json, the staff page, feedback.md
    OUT/grades.csv, report.*, integrity.json   course staff only: the class

Only ``OutputFolder._hand_out`` writes under ``students/``, and it takes only the files named in
``HANDOUT_FILES`` (deny by default); whatever else is found there -- an older version's layout, a
file someone put there -- is moved to ``staff/`` before a batch and after every student. Student
folders live under ``students/``, so no student's name can collide with a class file.
Everything class-level is rebuilt from the per-student ``report.json`` files, so an interrupted and
resumed batch produces exactly what an uninterrupted one would.
"""
import csv
import io
import json
import os
import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .integrity import IntegrityEvent, by_student, honestly_graded
from .intake.safe_text import safe_name_text
from .pages import STAFF_PAGE, STUDENT_PAGE
from .results import REFERRAL, GradingReport, gradescope_results, json_text, not_graded_notice, write_atomically

__all__ = ["OutputFolder", "StudentRecord", "feedback_markdown", "grades_csv", "graded", "class_tables", "left_out", "regrade_command", "MAX_ROW",
           "HANDOUT_FILES", "STAFF_FILES"]

RECORD_FILE = "report.json"
RESULTS_FILE = "results.json"
FEEDBACK_FILE = "feedback.md"
GRADES_FILE = "grades.csv"
GUIDE_FILE = "README.txt"
STUDENTS_DIR = "students"  # hand out as is
STAFF_DIR = "staff"  # never hand out
# The only files a student's hand-out folder may hold: the student's view (pages.feedback, published=False).
HANDOUT_FILES = frozenset({STUDENT_PAGE})
# A student's staff files, in the order they are written; results.json last: it marks the student done.
STAFF_FILES = (RECORD_FILE, FEEDBACK_FILE, STAFF_PAGE, RESULTS_FILE)
SUPERSEDED_DIR = "superseded"  # under staff/<student>/: an older copy met while moving files out of students/

GUIDE = f"""What is in this folder (written by `autograder batch`)

{STUDENTS_DIR}/<student>/   Safe to hand out as it is: {", ".join(sorted(HANDOUT_FILES))}, the student's view
                     before results are published (public checks in full; of hidden checks only
                     how many there are). Nothing else is ever written there.
{STAFF_DIR}/<student>/      Course staff only: {STAFF_PAGE} (every check, hidden ones included),
                     {RESULTS_FILE} (Gradescope's schema, hidden tests included), {FEEDBACK_FILE}, {RECORD_FILE}.
{GRADES_FILE}, report.html, report.json, integrity.json   Course staff only: the class.
"""


@dataclass
class StudentRecord:
    """One student's outcome: who, from which submission, its status (and why), and the report."""

    student: str
    name: str
    email: str
    source: str
    status: str  # "graded", "needs_review" or "error" (see results.GradingReport)
    message: str  # why, when not "graded"
    report: GradingReport
    grading: dict = field(default_factory=dict)  # seconds, worker pid, peak memory: for the TA and benchmarks
    identity: str = ""  # who (``Submitter.identity``): the folder stays theirs when a resumed batch meets new names
    graded_as: str = ""  # the scheme and hand-in graded (``staleness.graded_as``): a resume regrades what changed

    def to_json(self) -> str:
        data = asdict(self)
        data["report"] = self.report.to_dict()
        return json_text(data)

    @classmethod
    def from_json(cls, text: str) -> "StudentRecord":
        data = json.loads(text)
        report = GradingReport.from_dict(data.pop("report"))
        return cls(report=report, **data)


class OutputFolder:
    """``OUT/``: class files at the top, ``students/<student>/`` to hand out, ``staff/<student>/`` to keep.

    A student is done when ``staff/<student>/results.json`` exists; it is written last, after
    ``report.json``, ``feedback.md`` and the pages, each by rename, so an interrupted batch leaves
    whole files only.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.students = self.path / STUDENTS_DIR
        self.staff = self.path / STAFF_DIR

    def prepare(self) -> int:
        """Make the folders, drop what a killed run left half-written, and move every file that does
        not belong in a hand-out folder to ``staff/`` (``upgrade``); return how many students' files moved."""
        moved = self.upgrade()
        self.students.mkdir(parents=True, exist_ok=True)
        self.staff.mkdir(parents=True, exist_ok=True)
        for stale in [*self.path.glob(".*.tmp"), *self.students.glob("*/.*.tmp"), *self.staff.glob("*/.*.tmp")]:
            stale.unlink(missing_ok=True)  # left by a killed run
        write_atomically(self.path / GUIDE_FILE, GUIDE)
        return moved

    def upgrade(self) -> int:
        """Move whatever is under ``students/`` and not a hand-out file to ``staff/``: the layout of an
        older version (every file in ``students/<student>/``) becomes today's, so a resumed batch keeps
        its results. Touches nothing when OUT does not exist. Returns the number of students moved."""
        if not self.students.is_dir():
            return 0
        moved = 0
        for entry in sorted(self.students.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                moved += self._keep_out(entry.name)
            elif not entry.name.startswith("."):  # a stray file: staff's to look at, never a hand-out
                self._move(entry, self.staff / entry.name)
        return moved

    def student_dir(self, key: str) -> Path:
        """The folder to hand to student ``key``: only ``HANDOUT_FILES``."""
        return self.students / key

    def staff_dir(self, key: str) -> Path:
        """Student ``key``'s staff-only files: the record, results.json, the staff page, feedback.md."""
        return self.staff / key

    def is_done(self, keys) -> bool:
        return all((self.staff_dir(k) / RESULTS_FILE).is_file() and (self.staff_dir(k) / RECORD_FILE).is_file()
                   for k in keys)

    def write_student(self, record: StudentRecord, hidden_visibility: str, figures: bool = True,
                      events: list[IntegrityEvent] | None = None) -> Path:
        """Write one student's files, each to its audience's folder; return the staff folder.
        ``events``: the class's integrity events (``integrity.json``), once the class is graded; the
        staff page lists those about this student (None: what the sandbox saw in this report)."""
        from .pages.feedback import render_student_pages  # matplotlib and jinja: not when a batch starts

        staff = self.staff_dir(record.student)
        write_atomically(staff / RECORD_FILE, record.to_json())
        write_atomically(staff / FEEDBACK_FILE, feedback_markdown(record, regrade_command(record, self.path)))
        handout = os.path.relpath(self.student_dir(record.student) / STUDENT_PAGE, staff)
        pages = render_student_pages(record, gradescope_results(record.report, hidden_visibility), pictures=figures,
                                     hidden_visibility=hidden_visibility, student_page_link=Path(handout).as_posix(),
                                     regrade_command=regrade_command(record, self.path),
                                     integrity=None if events is None else by_student(events).get(record.student, []))
        if pages.staff is not None:
            write_atomically(staff / STAFF_PAGE, pages.staff)
        self._hand_out(record.student, {STUDENT_PAGE: pages.student} if pages.student is not None else {})
        write_atomically(staff / RESULTS_FILE, json_text(pages.results))  # last: marks it done
        return staff

    def _hand_out(self, key: str, files: dict[str, str]) -> None:
        """The one door into ``students/<key>/``: afterwards it holds exactly ``files``, which may only
        be ``HANDOUT_FILES``; anything else found there is moved to ``staff/<key>/``, so the folder
        can be handed out as it is."""
        refused = sorted(set(files) - HANDOUT_FILES)
        if refused:
            raise ValueError(f"{', '.join(refused)} may not go to a student's hand-out folder (only "
                             f"{', '.join(sorted(HANDOUT_FILES))}); write it to staff_dir({key!r})")
        for name, text in files.items():
            write_atomically(self.student_dir(key) / name, text)
        for name in HANDOUT_FILES - set(files):  # not rendered this time: an older page would be out of date
            (self.student_dir(key) / name).unlink(missing_ok=True)
        self._keep_out(key)

    def _keep_out(self, key: str) -> int:
        """Move every entry of ``students/<key>/`` that is not a hand-out file to ``staff/<key>/``
        (results.json last, so a move cut short leaves the student not done, and the next run
        finishes it); return 1 if anything moved."""
        folder = self.student_dir(key)
        if not folder.is_dir():
            return 0
        strays = [e for e in folder.iterdir() if e.name not in HANDOUT_FILES and not e.name.startswith(".")]
        strays.sort(key=lambda e: e.name == RESULTS_FILE)
        for entry in strays:
            self._move(entry, self.staff_dir(key) / entry.name)
        return int(bool(strays))

    @staticmethod
    def _move(entry: Path, target: Path) -> None:
        """``entry`` to ``target``, losing nothing: where ``target`` exists already, the older of the two
        files (or ``entry``, when either is not a plain file) goes to ``superseded/`` beside it."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            shelf = target.parent / SUPERSEDED_DIR
            shelf.mkdir(exist_ok=True)
            kept = shelf / f"{target.name}.{time.time_ns()}"
            plain = entry.is_file() and target.is_file() and not entry.is_symlink() and not target.is_symlink()
            if not (plain and entry.stat().st_mtime > target.stat().st_mtime):
                os.replace(entry, kept)
                return
            os.replace(target, kept)  # the copy in students/ is newer: it takes the name
        os.replace(entry, target)

    def record_files(self) -> dict[str, Path]:
        """Every finished student's ``report.json`` (``results.json`` beside it), by folder name: in
        ``staff/`` and in the layouts of older versions (``students/<student>/``, ``<student>/``),
        which are read as they are (``upgrade`` moves the first; the class report reads the second)."""
        found: dict[str, Path] = {}
        for pattern in (f"{STAFF_DIR}/*/{RECORD_FILE}", f"{STUDENTS_DIR}/*/{RECORD_FILE}", f"*/{RECORD_FILE}"):
            for path in sorted(self.path.glob(pattern)):
                if path.parent.is_dir() and (path.parent / RESULTS_FILE).is_file():
                    found.setdefault(path.parent.name, path)
        return found

    def records(self) -> list["StudentRecord"]:
        """Every finished student on disk, sorted by student; one whose record cannot be read is an
        ``error`` row saying so (grades.csv keeps a row for everyone)."""
        found = []
        for key, record_file in sorted(self.record_files().items()):
            if record_file.parent.parent != self.staff and record_file.parent.parent != self.students:
                continue  # the oldest layout (OUT/<student>/): the class report reads it, grades.csv never did
            try:
                found.append(StudentRecord.from_json(record_file.read_text(encoding="utf-8")))
            except Exception as error:  # noqa: BLE001 -- a damaged file costs its own row, not the class
                message = (f"{RECORD_FILE} could not be read ({type(error).__name__}); "
                           "regrade this student with --only")
                found.append(StudentRecord(student=key, name="", email="", source="", status="error",
                                           message=message, report=GradingReport.without_results(key, [], message)))
        return found

    def write_grades(self, components: list[str], events: list[IntegrityEvent] = ()) -> list["StudentRecord"]:
        """Rebuild ``grades.csv`` from every finished student on disk, with the batch's integrity
        ``events`` (``integrity.json``); return their records."""
        records = self.records()
        write_atomically(self.path / GRADES_FILE, grades_csv(records, components, events))
        return records

    @property
    def grades(self) -> Path:
        return self.path / GRADES_FILE


def regrade_command(record: StudentRecord, out) -> str:
    """The whole command that grades ``record``'s student again into ``out``, quoted for a shell: what
    a staff page and feedback.md print, so a TA can paste it as it is (add ``--config`` if the batch had one)."""
    submissions = str(Path(record.source).parent) if record.source else "SUBMISSIONS"
    return shlex.join(["autograder", "batch", submissions, "--out", str(out), "--only", record.student, "--regrade"])


def _points(value: float) -> str:
    return f"{round(value, 6):g}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def markdown_text(text: str) -> str:
    """Text shown as itself in Markdown: no link, image, HTML tag or emphasis can come from a submission."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def feedback_markdown(record: StudentRecord, regrade: str = "") -> str:
    """Readable feedback for course staff: failed checks first, each with its message; hidden checks included.
    Texts from the submission are escaped (``markdown_text``) outside the fenced outputs."""
    report = record.report
    md = markdown_text
    total = "not graded" if report.graded_nothing else f"{_points(report.score)} / {_points(report.max_score)}"
    lines = [f"# {record.student}: {total}", ""]
    if record.name or record.email:
        lines += [md(f"{record.name} {('<' + record.email + '>') if record.email else ''}".strip()), ""]
    lines += [f"Submission: {md(record.source)}. This file shows hidden checks too; it is for course staff.", ""]
    if report.graded_nothing:  # one box, as on every page: no list of checks that never ran
        lines += [f"**{md(not_graded_notice(report))}**", "",
                  "For course staff: once the hand-in is fixed, regrade it (or enter a grade yourself):", "",
                  "```text", (regrade or f"autograder batch SUBMISSIONS --out OUT --only {record.student} --regrade"
                              ).replace("```", "'''"), "```", ""]  # fenced as every output here: nothing ends it early
        if report.detail:
            lines += ["## For course staff: the grader's own error", "", "```text", report.detail.replace("```", "'''"), "```"]
        return "\n".join(lines).rstrip() + "\n"
    if record.status == "needs_review":
        lines += ["**Needs a person:** " + "; ".join(md(r) for r in report.review or [record.message]), ""]
    for note in report.notes:
        lines += [f"> {md(line)}" for line in note.splitlines()] + [""]
    if report.environment:
        lines += ["Environment problems (not coding mistakes):", ""] + [f"- {md(e)}" for e in report.environment] + [""]
    lines += ["| Component | Score |", "| --- | --- |"]
    lines += [f"| {name} | {_points(s)} / {_points(m)} |" for name, (s, m) in report.component_scores().items()]
    failed = _said_in_full_first([c for c in report.checks if not c.passed])
    passed = [c for c in report.checks if c.passed]
    lines += ["", f"## Failed checks ({len(failed)})", ""]
    for c in failed:
        hidden = " (hidden)" if c.visibility != "public" else ""
        lines += [f"### {c.name}{hidden}: 0 / {_points(c.max_score)}", ""]
        if c.output:
            lines += ["```text", c.output.replace("```", "'''"), "```", ""]
    lines += [f"## Passed checks ({len(passed)})", ""]
    lines += [f"- {c.name}: {_points(c.score)} / {_points(c.max_score)}" for c in passed]
    if report.detail:
        lines += ["", "## For course staff: the grader's own error", "", "```text", report.detail.replace("```", "'''"), "```"]
    return "\n".join(lines).rstrip() + "\n"


_REFERRED = re.compile(re.escape(REFERRAL) + r'"(.+)" \(shown there\)\.')


def _said_in_full_first(failed: list) -> list:
    """``failed`` with each "The same error as X (shown there)" right after X: a reader meets the
    error in full before the checks that refer to it (the pages group them the same way)."""
    names = {c.name for c in failed}
    followers: dict[str, list] = {}
    leading = []
    for check in failed:
        match = _REFERRED.match(check.output.split("\n", 1)[0])
        if match and match.group(1) in names and match.group(1) != check.name:
            followers.setdefault(match.group(1), []).append(check)
        else:
            leading.append(check)
    ordered = [c for check in leading for c in [check, *followers.pop(check.name, [])]]
    return ordered + [c for rest in followers.values() for c in rest]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet will not run: OWASP's advice for CSV injection (a leading quote)."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


MAX_ROW = "Points Possible"  # the second row of grades.csv: each column's maximum (as Canvas's gradebook has it)


def grades_csv(records: list[StudentRecord], components: list[str], events: list[IntegrityEvent] = ()) -> str:
    """One row per student, sorted: who (the folder, name and e-mail, and ``id``: who the batch knew them
    as, "canvas:123456", "sid:1815": two students of one name in an LMS's download differ there), one
    column per component, total, status and why, and the integrity events that need a person
    (``integrity.by_student``: an exit, an attack, a copy).

    The row after the heading states each column's maximum (``MAX_ROW``). A student who was not graded
    at all (``GradingReport.graded_nothing``) has empty scores, not zeros: a zero would be a grade.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    flagged = by_student(list(events))
    writer.writerow(["student", "name", "email", "id", *components, "total", "status", "reason", "integrity"])
    maxima = {}
    for record in records:
        for name, (_, most) in record.report.component_scores().items():
            maxima[name] = max(maxima.get(name, 0.0), most)
    writer.writerow([MAX_ROW, "", "", "", *(_points(maxima[n]) if n in maxima else "" for n in components),
                     _points(sum(maxima.get(n, 0.0) for n in components)), "", "the maximum of each column", ""])
    for record in sorted(records, key=lambda r: r.student):
        scores = record.report.component_scores()
        reason = record.message if record.status != "graded" else ""
        ungraded = record.report.graded_nothing
        writer.writerow([
            spreadsheet_safe(record.student), spreadsheet_safe(record.name), spreadsheet_safe(record.email),
            spreadsheet_safe(safe_name_text(record.identity)),  # a key made of names as they came: shown safely
            *("" if ungraded else _points(scores.get(name, (0.0, 0.0))[0]) for name in components),
            "" if ungraded else _points(record.report.score), record.status,
            spreadsheet_safe(reason.replace("\n", " ")), spreadsheet_safe("; ".join(flagged.get(record.student, []))),
        ])
    return buffer.getvalue()


def graded(records: list[StudentRecord]) -> list[StudentRecord]:
    """The students graded honestly (``integrity.honestly_graded``): their checks ran, and none was
    lost to an exit or an attack. The only ones class statistics may count."""
    return [r for r in records if honestly_graded(r.report)]


def left_out(records: list[StudentRecord]) -> str:
    """Who the statistics leave out, and why, in words ("1 not graded, 1 with an integrity event"), or ""."""
    ungraded = sum(r.report.graded_nothing for r in records)
    flagged = len(records) - len(graded(records)) - ungraded
    parts = [f"{ungraded} not graded"] * bool(ungraded) + [f"{flagged} with an integrity event"] * bool(flagged)
    return ", ".join(parts)


def score_distribution(records: list[StudentRecord], bins: int = 10) -> list[tuple[str, int]]:
    """(label, count) per band of the total in percent, graded students only; full marks get their own band."""
    counts = [0] * (bins + 1)
    width = 100 // bins
    for record in graded(records):
        maximum = record.report.max_score or 1.0
        percent = 100.0 * record.report.score / maximum
        counts[bins if percent >= 100 - 1e-9 else min(int(percent // width), bins - 1)] += 1
    labels = [f"{i * width}–{(i + 1) * width}%" for i in range(bins)] + ["100%"]
    return list(zip(labels, counts))


def failure_rates(records: list[StudentRecord]) -> list[tuple[str, int, int]]:
    """(check name, failed, out of) for each check, most-failed first; graded students only."""
    failed: dict[str, int] = {}
    seen: dict[str, int] = {}
    for record in graded(records):
        for c in record.report.checks:
            seen[c.name] = seen.get(c.name, 0) + 1
            failed[c.name] = failed.get(c.name, 0) + (not c.passed)
    return sorted(((n, failed[n], seen[n]) for n in seen), key=lambda t: (-t[1] / t[2], t[0]))


def class_tables(records: list[StudentRecord], top: int = 25):
    """Two rich tables: the score distribution, and the checks the class failed most."""
    from rich.table import Table

    counted = len(graded(records))
    distribution = Table(title=f"Score distribution (n = {counted} graded"
                               + (f"; left out: {left_out(records)})" if counted < len(records) else ")"))
    distribution.add_column("total")
    distribution.add_column("students", justify="right")
    distribution.add_column("")
    peak = max([count for _, count in score_distribution(records)] + [1])
    for label, count in score_distribution(records):
        distribution.add_row(label, str(count), "█" * round(30 * count / peak))

    checks = Table(title=f"Checks the class failed (fraction of the n = {counted} graded students)")
    checks.add_column("check")
    checks.add_column("failed", justify="right")
    checks.add_column("of", justify="right")
    checks.add_column("fraction", justify="right")
    rates = [r for r in failure_rates(records) if r[1] > 0]
    for name, count, total in rates[:top]:
        checks.add_row(name, str(count), str(total), f"{count / total:.0%}")
    if len(rates) > top:
        checks.caption = f"{len(rates) - top} more checks failed by fewer students"
    if not rates:
        checks.caption = "no check failed"
    return distribution, checks


def relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
