"""A realistic class, graded through `autograder batch` in all three layouts: every way of handing in
correct code gets full marks, the undecidable ones are flagged for a person (tests/classroom.py).

The whole class is graded once, as folders. The Gradescope export and the nbgrader course hold the
same entries: a student's folder is copied into them unchanged, so the grader must read it exactly
as it read it from the folders layout (checked for every such student, without grading), and is
then graded from the same input. What each layout lays out differently -- a student whose hand-in
is one file, which that layout puts in a folder -- is graded end to end in the layout, beside a
sample of folders, so the layout's own path through `batch` (names, metadata, review) runs too.
"""
import ast
import csv
import io
import json
import subprocess
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from autograder.config import load_config
from autograder.intake.discover import discover, safe_name
from autograder.errors import SubmissionError
from autograder.grader import Grader
from autograder.output_folder import MAX_ROW

from .classroom import as_gradescope_export, as_nbgrader, make_class, student_name
from .release_support import ROOT, fast_config

POINTS = {component: sum(c["points"] for c in checks.values())
          for component, checks in yaml.safe_load((ROOT / "grading_config.yaml").read_text())["components"].items()}
TOTAL = sum(POINTS.values())


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    base = tmp_path_factory.mktemp("classroom")
    expectations = make_class(base / "class")
    config = fast_config(base, examples=2)
    raw = yaml.safe_load(config.read_text())
    raw["limits"].update(call_timeout_s=5, component_timeout_s=60, experiment_timeout_s=60)  # a hang: 5 s, not 30
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return base, expectations, config


def _batch(source, out, config, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(source), "--out", str(out),
                           "--config", str(config), "-j", "2", *extra],
                          capture_output=True, text=True, timeout=1500, cwd=ROOT)


def _graded(out):
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))
            if row["student"] != MAX_ROW}  # (an empty total: not graded at all)
    records = {name: json.loads((out / "staff" / name / "report.json").read_text()) for name in rows}
    return rows, records


def _check(rows, records, expectations, key=safe_name):
    problems = []
    for name, expected in expectations.items():
        if key(name) not in rows:
            problems.append(f"{name}: no row in grades.csv")
            continue
        row, record = rows[key(name)], records[key(name)]
        report = record["report"]
        said = "\n".join(report["notes"] + report["review"] + [c["output"] for c in report["checks"]])
        if row["status"] != expected.status:
            problems.append(f"{name}: status {row['status']} ({row['reason']}), expected {expected.status}")
        if expected.full_marks is True and float(row["total"] or 0) != TOTAL:
            lost = {c["name"]: c["output"][:300] for c in report["checks"] if not c["passed"]}
            problems.append(f"{name}: {row['total']}/{TOTAL}; lost {lost}; notes {report['notes']}")
        if expected.full_marks is False and float(row["total"] or 0) >= TOTAL:
            problems.append(f"{name}: full marks, expected a loss")
        for component, points in POINTS.items():
            if expected.losing and component not in expected.losing and float(row[component] or 0) != points:
                problems.append(f"{name}: lost points on {component}, which it got right")
        for component in expected.losing:
            if float(row[component] or 0) >= POINTS[component]:
                problems.append(f"{name}: {component} should lose points")
        for component in expected.keeping:  # a missing helper costs its checks, not the component
            if float(row[component] or 0) == 0:
                problems.append(f"{name}: {component} scored 0; its working parts should keep their points")
        if expected.name and row["name"] != expected.name:
            problems.append(f"{name}: the name column says {row['name']!r}, expected {expected.name!r}")
        if expected.says and expected.says not in said:
            problems.append(f"{name}: expected {expected.says!r} in its notes; got {report['notes'] + report['review']}")
    return problems


def test_folders_layout(classroom, tmp_path):
    base, expectations, config = classroom
    result = _batch(base / "class", tmp_path / "out", config)
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-3000:]  # some need a person
    rows, records = _graded(tmp_path / "out")
    assert sorted(rows) == sorted(map(safe_name, expectations))  # every entry has a row
    assert _check(rows, records, expectations) == []
    review = [name for name, e in expectations.items() if e.status == "needs_review"]
    for name in review:  # listed by name at the end, with the reason
        assert f"  {name}: " in result.stdout


# A folder entry graded in every layout as well: an honest mistake, whose one lost component must
# show in that layout's row (the one-file entries add a full mark and one for a person).
SAMPLE = ("softmax_mistake",)


def _plain(value):
    """``value`` with every parsed tree as its dump, so that two readings of the same text compare equal."""
    if isinstance(value, ast.AST):
        return ast.dump(value)
    if is_dataclass(value):
        return (type(value).__name__, {f.name: _plain(getattr(value, f.name)) for f in fields(value)})
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _read_as_the_grader_would(root: Path, config: Path, assignment: str | None = None) -> dict[str, tuple]:
    """Each student's row as discovery makes it (key, name, problem) and what the grader loads from
    their entry: every field of the ``Submission`` but its folder on disk (``Grader.read`` needs only
    the config, so no grader is started)."""
    reader = SimpleNamespace(config=load_config(config))
    found = discover(root, assignment=assignment)
    try:
        read = {}
        for item in found.submissions:
            try:
                submission = _plain(Grader.read(reader, item.source))
                submission[1].pop("root")
            except SubmissionError as refused:
                submission = f"refused: {refused}"
            people = [(s.key, s.name) for s in item.submitters]
            read[item.key] = (people, item.problem, submission)
        return read
    finally:
        found.cleanup()


def _layout_matches_folders(classroom, lay_out, folder: str, tmp_path, assignment: str | None = None):
    """Every folder entry reads as it does from the folders layout; the rest and ``SAMPLE`` are graded
    in the layout by `batch` and meet their expectations."""
    base, expectations, config = classroom
    layout = lay_out(base / "class", tmp_path / folder)
    as_folders = _read_as_the_grader_would(base / "class", config)
    in_layout = _read_as_the_grader_would(layout, config, assignment)
    assert sorted(in_layout) == sorted(as_folders) == sorted(map(safe_name, expectations))
    folder_entries = {name for name in expectations if (base / "class" / name).is_dir()}
    differ = [name for name in folder_entries if in_layout[safe_name(name)] != as_folders[safe_name(name)]]
    assert differ == [], f"read differently in this layout than as folders: {differ}"
    graded = set(expectations) - folder_entries | set(SAMPLE)
    assert len(graded) < len(expectations) / 4  # the point of reading the rest: a sample is graded here

    make_class(tmp_path / "part", names={p.name for p in (base / "class").iterdir() if student_name(p.name) in graded})
    part = lay_out(tmp_path / "part", tmp_path / "part_layout" / folder)
    extra = ("--assignment", assignment) if assignment else ()
    result = _batch(part, tmp_path / "out", config, *extra)
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-3000:]
    rows, records = _graded(tmp_path / "out")
    assert sorted(rows) == sorted(map(safe_name, graded))
    assert _check(rows, records, {name: expectations[name] for name in graded}) == []


def test_gradescope_export_layout(classroom, tmp_path):
    _layout_matches_folders(classroom, as_gradescope_export, "assignment_7_export", tmp_path)


def test_nbgrader_layout(classroom, tmp_path):
    _layout_matches_folders(classroom, as_nbgrader, "course", tmp_path, assignment="unet")
