"""Issue 17, properties 3 and 4: the trusted process never fails on student data, and every cost
of one submission is bounded.

- Hostile strings (lone surrogates, NULs, terminal escapes, RTL overrides, a megabyte, HTML, CSV
  formulas, Markdown) enter through the real doors -- file and folder names (intake), a Gradescope
  export's metadata (discovery), the child's texts (``replies``) -- and go through every writer and
  page; what comes out is checked by ``unsafe``, written here from ``unicodedata``, not from the code.
- Parser bombs in a hand-in are recorded, never raised.
- A batch of a class with these attacks among honest students writes a grades.csv row for everyone,
  honest grades unchanged; a student whose results cannot be written is ``error`` with the reason,
  and a resume does not try again.
- A slow-but-legal submission stops at the submission's time budget; ``autograder grade`` writes
  results.json even then, and even when its pages fail.
"""
import csv
import io
import json
import os
import re
import shutil
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import batch as batch_module
from autograder import output_folder
from autograder.config import load_config
from autograder.intake.discover import discover
from autograder.errors import ConfigError
from autograder.grader import Grader
from autograder.intake import layout, read_submission
from autograder.intake.safe_text import MAX_NAME, MAX_TEXT, safe_text
from autograder.grading_data import caps
from autograder.pages.class_report import write_class_report
from autograder.pages.figures import picture_for_figure
from autograder.output_folder import MAX_ROW, OutputFolder, StudentRecord
from autograder.results import CheckResult, GradingReport
from autograder.sandbox import replies

from .conftest import SOLUTIONS

HOSTILE = [
    "\udcff\udcfe\ud800 lone surrogates",
    "nul\x00byte and \x1b[31mterminal escape\x1b[0m and a \r carriage return",
    "right-to-left \u202egnp.exe and \u2066isolates\u2069 and \u200bzero width",
    "<script>alert('x')</script><img src=x onerror=alert(1)>",
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "[click](javascript:alert(1)) **bold** ``` # heading | table |",
    "x" * 1_000_000,
]
_BIDI = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


def unsafe(text: str, limit: int | None = None) -> str | None:
    """Why ``text`` may not reach a writer (None: it may), judged by Unicode's own tables."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode (a lone surrogate)"
    for character in set(text):
        if unicodedata.category(character) == "Cc" and character not in "\n\t":
            return f"a control character {character!r}"
        if unicodedata.bidirectional(character) in _BIDI:
            return f"a bidirectional control {ascii(character)}"
    if limit is not None and len(text) > limit:
        return f"{len(text):,} characters, over {limit:,}"
    return None


def _strings(value, path="report"):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, f"{path} key")
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def assert_safe_report(report: GradingReport) -> None:
    """Every text of ``report`` is safe: what the worker hands to the writers."""
    problems = [(where, why) for where, text in _strings(report.to_dict())
                if (why := unsafe(text, 16_000))]
    assert not problems, problems[:5]


# --- the boundary itself -----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=300), st.integers(1, 400))
def test_safe_text_is_valid_printable_bounded_and_idempotent(text, limit):
    safe = safe_text(text, limit)
    assert unsafe(safe, limit) is None
    assert safe_text(safe, limit) == safe
    if unsafe(text) is None and len(text) <= limit:
        assert safe == text  # honest text passes unchanged


def test_values_student_code_gave_are_shown_without_ever_writing_them_out(monkeypatch):
    """A message that shows a student's value never writes out more than it shows: a uint8 tensor of
    sizes 6 is never summarised by torch (every element written: 600 bytes of memory each, for one byte
    of reply; red team), and a list of a million items is read six at a time."""
    import torch

    from autograder import rules

    written = []

    def refused(tensor, *args, **kwargs):
        written.append(tuple(tensor.shape))  # reprlib would swallow an exception raised here
        raise AssertionError("a whole tensor was written out")

    monkeypatch.setattr(torch.Tensor, "__repr__", refused)
    big = torch.zeros((6,) * 8, dtype=torch.uint8)
    values = [big, [big] * 3, {"steps": big, "more": list(range(10 ** 6))}, "x" * 10 ** 6, [[[[[1]]]]], 10 ** 30]
    for value in values:
        for limit in (40, 80, 200):
            assert len(rules.short(value, limit)) <= limit
    assert "shape (6, 6, 6, 6, 6, 6, 6, 6)" in rules.short(big)
    assert not written
    assert rules.short(torch.tensor([1.0, 2.0])) == "tensor([1.0, 2.0])"


def test_a_surrogate_escaped_byte_is_shown_as_the_byte():
    assert safe_text(os.fsdecode(b"caf\xe9.py")) == "caf\\xe9.py"


# --- intake: parser bombs and hostile names --------------------------------------------------------

def _notebook(cells) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})


def bombs_folder(root: Path) -> Path:
    """The reference, plus every kind of file that breaks a naive reader."""
    folder = root / os.fsdecode(b"bombs\xff\xfe \xe2\x80\xae=cmd")
    shutil.copytree(SOLUTIONS, folder)
    (folder / "deep_sum.py").write_text("x = " + "1+" * 200_000 + "1\n")  # RecursionError in ast
    (folder / "deep_minus.py").write_text("x = " + "-" * 100_000 + "1\n")  # MemoryError in ast
    (folder / "deep_json.ipynb").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "odd_cells.ipynb").write_text(_notebook([
        {"cell_type": "code", "source": [1, 2, None], "metadata": {}, "outputs": []},
        {"cell_type": "code", "source": "%%\nx = 1", "metadata": {}, "outputs": []},
        {"cell_type": "code", "source": "%%writefile \udcff\u202e\x00.py\nclass A: pass", "metadata": {}, "outputs": []},
        {"cell_type": "code", "source": "def f(:\n \u202e\x00 \ud800", "metadata": {}, "outputs": []},
    ]))
    (folder / os.fsdecode(b"name\xff\xfe\xe2\x80\xae.py")).write_text("y = 1\n")
    (folder / ("n" * 240 + ".py")).write_text("z = 1\n")
    (folder / "utf16_liar.py").write_bytes(b"\xff\xfe" + b"\x00\xd8" * 10)  # a UTF-16 mark, then a lone surrogate
    (folder / "binary.py").write_bytes(b"\x00\x01\x02")
    deep = folder.joinpath(*["d"] * 60)
    deep.mkdir(parents=True)
    (deep / "unet.py").write_text("class SimpleUNet: pass\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.py", b"#" * (64 << 20))  # 64 MiB of comment in ~64 KiB
        archive.writestr("/".join(["z"] * 80) + "/deep.py", "w = 1\n")
        archive.writestr("\u202eevil<script>.py", "v = 1\n")
    (folder / "bomb.zip").write_bytes(buffer.getvalue())
    return folder


def test_intake_records_parser_bombs_and_never_raises(tmp_path):
    submission = read_submission(bombs_folder(tmp_path))
    texts = [*submission.notes, *submission.review, *submission.environment, *submission.files,
             *submission.unreadable, *submission.unreadable.values(), *submission.left_out,
             *submission.left_out.values(), *(m.label for m in submission.modules.values())]
    problems = [(text[:80], why) for text in texts if (why := unsafe(text, MAX_TEXT))]
    assert not problems, problems
    unreadable = "\n".join(submission.unreadable.values())
    assert "deep_json.ipynb is not a readable notebook" in unreadable
    assert "bomb.py is over the 512 KiB limit" in unreadable
    for name in ("deep_sum", "deep_minus"):
        assert "nested too deeply" in submission.modules[name].index.syntax_error
    assert any("nested more than" in why for why in submission.left_out.values())
    assert set(submission.symbols) >= {"ResBlock", "SelfAttention", "SimpleUNet"}  # the real code is still found
    assert submission.modules["unet"].label == "unet.py"


@pytest.mark.parametrize("bomb", ["-" * 100_000 + "1", "a" + ".b" * 100_000, "1" + "+1" * 100_000])
def test_a_package_init_no_parser_reads_costs_its_exports_only(tmp_path, bomb):
    """``unet/__init__.py`` is read for what the package exports; one Python's parser cannot read
    (MemoryError, RecursionError) once made the whole hand-in unreadable."""
    folder = tmp_path / "hand-in" / "unet"
    shutil.copytree(SOLUTIONS, folder)
    (folder / "__init__.py").write_text(bomb)
    submission = read_submission(tmp_path / "hand-in")
    assert not submission.review and set(submission.symbols) >= {"ResBlock", "SelfAttention", "SimpleUNet"}


def _count_listings(monkeypatch) -> list:
    """Each time ``zipfile`` reads an archive's central directory (its cost grows with the members)."""
    real, listed = zipfile.ZipFile._RealGetContents, []

    def counting(self):
        listed.append(1)
        return real(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting)
    return listed


def test_a_zip_is_listed_once_and_a_zip_of_too_many_members_not_at_all(tmp_path, monkeypatch):
    """A 1 MiB zip of 9,900 tiny modules was listed again for every member it read (over ten minutes
    of the parent's time); 300,000 junk members cost 24 s and 400 MB before any limit applied."""
    from autograder.intake.files import Limits, Refused

    limits = Limits(max_files=300)
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for module in SOLUTIONS.glob("*.py"):
            archive.writestr(module.name, module.read_text())
        for i in range(250):
            archive.writestr(f"pkg/m{i}.py", f"x = {i}\n")
    listed = _count_listings(monkeypatch)
    submission = read_submission(many, limits)
    assert len(submission.files) > 250 and "ResBlock" in submission.symbols
    assert len(listed) == 1, f"listed {len(listed)} times"
    for name, junk in [("junk.zip", "__MACOSX/{}"), ("unsafe.zip", "../{}")]:  # left out, yet counted
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            archive.writestr("unet.py", "x = 1\n")
            for i in range(400):
                archive.writestr(junk.format(i), b"")
        listed.clear()
        with pytest.raises(Refused, match="more than 300 files"):
            read_submission(tmp_path / name, limits)
        assert listed == [], name  # refused from the end record's count, before zipfile lists it


def test_a_parser_that_fails_costs_its_file_and_a_reader_that_fails_is_a_review(tmp_path, monkeypatch):
    folder = shutil.copytree(SOLUTIONS, tmp_path / "s")
    real_index = layout.index

    def failing(text, label):
        if label.endswith("res_block.py"):
            raise MemoryError
        return real_index(text, label)

    monkeypatch.setattr(layout, "index", failing)
    submission = read_submission(folder)
    assert "MemoryError" in submission.unreadable["res_block.py"]
    assert "TimeEmbedding" in submission.symbols  # the other files are read

    monkeypatch.setattr(layout, "_read", lambda *a: (_ for _ in ()).throw(RecursionError("deep\udcff")))
    submission = read_submission(folder)
    assert submission.review and "RecursionError" in submission.review[0]
    assert unsafe(submission.review[0]) is None


# --- every writer and page ---------------------------------------------------------------------------

def hostile_record(tmp_path: Path) -> StudentRecord:
    """A record whose every text came in through a real door with hostile content."""
    intake = read_submission(bombs_folder(tmp_path / "intake"))
    child = [replies.text(text, "a reply") for text in HOSTILE]
    export = tmp_path / "export"
    (export / "submission_1").mkdir(parents=True)
    people = [{":name": HOSTILE[i % len(HOSTILE)], ":sid": HOSTILE[4], ":email": HOSTILE[3] + "@x.edu"} for i in range(2)]
    (export / "submission_metadata.yml").write_text(yaml.safe_dump({"submission_1": {":submitters": people}}))
    found = discover(export)
    person = found.submissions[0].submitters[0]
    checks = [CheckResult("ResBlock", f"c{i}", f"ResBlock: check {i}", 0.0, 1.0, False, text,
                          "public" if i % 2 else "hidden") for i, text in enumerate(child)]
    report = GradingReport(submission=person.key, checks=checks, notes=[*intake.notes, *child],
                           review=[*intake.review, child[0], child[3]], environment=child[4:6], detail=child[8],
                           status="needs_review")
    report.figures = {
        "parameters": {"component": "SimpleUNet", "check": "parameter_count", "title": "p", "kind": "parameters",
                       "model": child[3], "blocks": [[text, 1, 2] for text in child[:6]], "total": [6, 12]},
        "shape_trace": {"component": "Integration", "check": "runs_end_to_end", "title": "s", "kind": "shape_trace",
                        "model": "m", "input": {"x": [1, 4, 8, 8], "t": [1]}, "reference": [],
                        "student": [{"block": "down1", "inputs": [], "outputs": [], "error": child[2]}],
                        "student_whole": child[0], "reference_whole": [1, 4, 8, 8]},
    }
    return StudentRecord(student=person.key, name=person.name, email=person.email,
                         source=found.shown(found.submissions[0].source), status="needs_review",
                         message="; ".join(report.review), report=report)


def written_files(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_bytes().decode("utf-8") for p in out.rglob("*") if p.is_file()}


def assert_written_safely(out: Path) -> None:
    """Everything under ``out`` is strict UTF-8 without control or bidi characters; pages escape
    markup; no grades.csv cell would run in a spreadsheet."""
    files = written_files(out)
    assert files
    for name, text in files.items():
        assert unsafe(text) is None, (name, unsafe(text))
        assert len(text) < 5_000_000, name
        if name.endswith(".html"):
            assert "<script>alert" not in text and "<img src=x" not in text and "<b><" not in text, name
        if name.endswith(".md"):  # outside the fenced outputs (shown verbatim), nothing is markup
            outside = re.sub(r"^```text\n.*?^```$", "", text, flags=re.S | re.M)
            assert "[click](javascript" not in outside and "<script>" not in outside, name
            assert outside.count("```") == 0, name  # no output closed its fence early
        if name.endswith(".json"):
            json.loads(text)
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_hostile_strings_go_through_every_writer_and_page(tmp_path):
    record = hostile_record(tmp_path)
    out = tmp_path / "out"
    folder = OutputFolder(out)
    folder.prepare()
    folder.write_student(record, "after_published", figures=True)
    folder.write_grades(["ResBlock"])
    write_class_report(out, load_config(), {"graded": 0}, pictures=True)
    assert_written_safely(out)
    assert (out / "staff" / record.student / "results.json").is_file()
    staff = (out / "staff" / record.student / "feedback.staff.html").read_text()
    assert "&lt;script&gt;" in staff  # shown, escaped: the TA sees what the student sent


def test_without_the_boundary_the_same_strings_break_a_writer(tmp_path):
    """What the boundary is for: the raw strings do stop a writer (so the test above tests something)."""
    record = hostile_record(tmp_path)
    record.report.notes.append(HOSTILE[0])
    with pytest.raises(UnicodeEncodeError):
        OutputFolder(tmp_path / "raw").write_student(record, "after_published", figures=False)


def test_a_picture_over_its_cap_is_a_note_not_a_drawing():
    blocks = [[f"block{i}", i, i] for i in range(5000)]
    data = {"kind": "parameters", "title": "p", "model": "m", "blocks": blocks, "total": [1, 2]}
    started = time.monotonic()
    picture = picture_for_figure("parameters", data)
    assert picture.chart is None and f"at most {caps.MAX_BARS}" in picture.note
    assert time.monotonic() - started < 5  # drawing 5,000 bars takes far longer
    bounded = caps.bounded({"parameters": {"component": "SimpleUNet", **data}})["parameters"]
    assert "blocks" not in bounded and bounded["component"] == "SimpleUNet" and bounded["note"] == picture.note
    huge = {"kind": "curves", "x": list(range(10)), "student": {"a": [0.5] * 200_000}, "reference": {}}
    assert "not drawn" in caps.problem(huge)


# --- the per-submission budget -----------------------------------------------------------------------

def test_an_impossible_budget_is_refused_at_load_time(tmp_path, config):
    data = config.model_dump(exclude={"source_path"}, exclude_none=True)
    data["limits"]["submission_timeout_s"] = 10  # shorter than one experiment may take
    path = tmp_path / "grading_config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="submission_timeout_s"):
        load_config(path)


SLOW_RES_BLOCK = "        import time as _time\n        _time.sleep(2.5)  # legal: under the call timeout (3 s), every time\n"


@pytest.fixture(scope="module")
def budget_grader(config):
    from .release_support import short_limits

    fast = short_limits(config)
    limits = fast.limits.model_copy(update={"experiment_timeout_s": 3, "submission_timeout_s": 6})
    with Grader(fast.model_copy(update={"limits": limits})) as shared:
        yield shared


def test_a_slow_but_legal_submission_stops_at_its_budget(budget_grader, make_submission):
    source = (SOLUTIONS / "res_block.py").read_text()
    folder = make_submission({"res_block": source.replace("    def forward(self, x, t_emb):\n",
                                                          "    def forward(self, x, t_emb):\n" + SLOW_RES_BLOCK, 1)})
    started = time.monotonic()
    report = budget_grader.grade(folder)
    seconds = time.monotonic() - started
    # without the budget: ResBlock and Integration each run to their 30 s component limit, 60 s and more
    assert seconds < 6 + 20, seconds
    assert report.status == "needs_review"
    assert any("used up its 6 s time budget" in reason for reason in report.review), report.review
    skipped = [c for c in report.checks if "used up its 6 s time budget" in c.output]
    assert skipped and not any(c.passed for c in skipped)
    assert_safe_report(report)


def test_grade_writes_results_json_even_when_its_writers_fail(tmp_path, monkeypatch):
    from autograder import cli, results
    from autograder.pages import feedback

    record = hostile_record(tmp_path)
    config = load_config()
    written = cli._results_json(record.report, config, figures=True)
    assert len(written["tests"]) == len(record.report.checks)
    json.dumps(written).encode("utf-8")  # strict: a writer can take it

    monkeypatch.setattr(feedback, "gradescope_results", lambda *a, **k: 1 / 0)
    plain = cli._results_json(record.report, config, figures=True)
    assert plain["tests"] and "output_format" not in plain  # the pictures failed; the plain results stand

    monkeypatch.setattr(results, "gradescope_results", lambda *a, **k: {}["no such key"])
    zero = cli._results_json(record.report, config, figures=True)
    assert zero["score"] == 0.0 and "KeyError" in zero["output"]


# --- a class with attacks among honest students -------------------------------------------------------

WIDE_UNET = '''

_narrow_init = SimpleUNet.__init__


def _wide_init(self, *args, **kwargs):
    _narrow_init(self, *args, **kwargs)
    for i in range(120):  # no parameters: the grade is right, but a chart of 127 bars is not drawn
        setattr(self, f"extra{i}", nn.Identity())


SimpleUNet.__init__ = _wide_init
'''


def test_a_class_with_attacks_gets_a_row_for_everyone_and_honest_grades_unchanged(tmp_path, config, monkeypatch):
    from .release_support import short_limits

    hostile = (Path(__file__).with_name("hostile") / "hostile_strings.py").read_text()
    submissions = tmp_path / "class"
    submissions.mkdir()
    shutil.copytree(SOLUTIONS, submissions / "honest")
    shutil.copytree(SOLUTIONS, submissions / "writer_crash")
    shutil.copytree(SOLUTIONS, submissions / "wide_unet")
    with open(submissions / "wide_unet" / "unet.py", "a") as handle:
        handle.write(WIDE_UNET)
    attacker = bombs_folder(submissions)
    with open(attacker / "attention.py", "a") as handle:
        handle.write("\n" + hostile)
    writer = output_folder.feedback_markdown

    def crashing(record, *args, **kwargs):  # a writer that fails on one student's data, as an unknown bug would
        if record.student == "writer_crash" and record.status != "error":
            raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")
        return writer(record, *args, **kwargs)

    monkeypatch.setattr(output_folder, "feedback_markdown", crashing)
    out = tmp_path / "out"
    fast = short_limits(config)
    summary = batch_module.grade_batch(submissions, out, jobs=1, config=fast, progress=False)

    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle) if row["student"] != MAX_ROW}
    assert len(rows) == 4, rows.keys()
    for honest in ("honest", "wide_unet"):
        assert rows[honest]["status"] == "graded" and float(rows[honest]["total"]) == fast.total_points, rows[honest]
    assert rows["writer_crash"]["status"] == "error"
    assert "could not write this student's results" in rows["writer_crash"]["reason"]
    (attacker_key,) = set(rows) - {"honest", "wide_unet", "writer_crash"}
    assert float(rows[attacker_key]["total"] or 0) < fast.total_points  # empty: nothing of it could be graded
    assert_written_safely(out)
    wide = json.loads((out / "staff" / "wide_unet" / "report.json").read_text())
    assert "top-level blocks" in wide["report"]["figures"]["parameters"]["note"]
    assert summary.exit_code == 1  # one student could not be graded

    monkeypatch.setattr(output_folder, "feedback_markdown", writer)
    again = batch_module.grade_batch(submissions, out, jobs=1, config=fast, progress=False)
    assert sorted(again.already_done) == sorted(rows) and not again.outcomes  # the crash is not retried
    # (--only writer_crash or --regrade grades it again: test_batch.py::test_only_regrades_one_student)


def test_a_worker_past_its_limit_is_stopped_and_the_class_goes_on(tmp_path, config, monkeypatch):
    """The parent's own work on one student is bounded too: a worker that holds one submission past
    ``overdue_limit`` (here 0.2 s: any grading) is stopped, that student is ``error`` saying why; the
    watchdog's waits end at the limit, so no grading finishes past it unnoticed however fast the machine."""
    from .release_support import short_limits

    submissions = tmp_path / "class"
    for name in ("ada", "bob"):
        shutil.copytree(SOLUTIONS, submissions / name)
    monkeypatch.setattr(batch_module, "overdue_limit", lambda config: 0.2)
    out = tmp_path / "out"
    summary = batch_module.grade_batch(submissions, out, jobs=1, config=short_limits(config), progress=False)
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle) if row["student"] != MAX_ROW}
    assert sorted(rows) == ["ada", "bob"]
    for row in rows.values():
        assert row["status"] == "error" and "took more than 0.2 s" in row["reason"], row
    assert summary.exit_code == 1


def test_a_damaged_record_is_an_error_row_not_a_lost_class(tmp_path):
    folder = OutputFolder(tmp_path)
    folder.prepare()
    for student, record in (("ada", "{not json"), ("bob", json.dumps({"student": "bob"}))):
        (folder.staff_dir(student)).mkdir()
        (folder.staff_dir(student) / "report.json").write_text(record)
        (folder.staff_dir(student) / "results.json").write_text("{}")
    folder.write_grades(["ResBlock"])
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle) if row["student"] != MAX_ROW}
    assert sorted(rows) == ["ada", "bob"]
    assert all(row["status"] == "error" and "report.json could not be read" in row["reason"] for row in rows.values())
