"""Batch grading end to end: a mixed class folder, resume after a kill, -j 1 vs -j 2, and discovery.

The slow part is grading (seconds per real submission), so one mixed folder is graded once per
scenario, with few Hypothesis examples (``release_support.fast_config``: the same checks and points;
what these tests prove is the batch's, not the checks'), and every expected score is computed
independently of the grader: from the points in grading_config.yaml (the reference earns them
all), zero for stubs and unreadable submissions.
"""
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from autograder.errors import ExitCode, SubmissionError
from autograder.intake.discover import discover, extract_zip
from autograder.output_folder import MAX_ROW
from tests.mutants import MUTANTS
from tests.release_support import fast_config

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "unet"
STUBS = ROOT / "assignments" / "unet"
POINTS = {
    component: sum(check["points"] for check in checks.values())
    for component, checks in yaml.safe_load((ROOT / "grading_config.yaml").read_text())["components"].items()
}
TOTAL = sum(POINTS.values())
ATTENTION_MUTANT = next(m for m in MUTANTS if m.component == "SelfAttention")


def batch(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "batch", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def read_grades(path: Path) -> dict[str, dict]:
    """grades.csv's students; its second row, each column's maximum, is checked and left out."""
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert rows[0]["student"] == MAX_ROW and float(rows[0]["total"]) == TOTAL, rows[0]
    return {row["student"]: row for row in rows[1:]}


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory) -> Path:
    """Six students and one stray file, each a different way a submission arrives."""
    root = tmp_path_factory.mktemp("class") / "submissions"
    root.mkdir()
    with zipfile.ZipFile(root / "alice.zip", "w") as bundle:  # correct, zipped one folder down
        for file in sorted(SOLUTIONS.glob("*.py")):
            bundle.write(file, f"unet/{file.name}")
    shutil.copytree(STUBS, root / "bob")  # the released stubs: nothing implemented
    shutil.copytree(SOLUTIONS, root / "carol")  # one real mistake in attention.py
    for module, source in ATTENTION_MUTANT.replacements().items():
        (root / "carol" / f"{module}.py").write_text(source)
    (root / "dave.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    (root / "erin").mkdir()
    (root / "erin" / "answers.txt").write_text("I could not get it to work")
    shutil.copytree(SOLUTIONS, root / "frank")  # a syntax error in res_block.py only
    source = (root / "frank" / "res_block.py").read_text()
    (root / "frank" / "res_block.py").write_text(source.replace("def forward(", "def forward((", 1))
    (root / "notes.txt").write_text("not a submission")
    return root


@pytest.fixture(scope="module")
def few_examples(tmp_path_factory) -> Path:
    """grading_config.yaml with two Hypothesis examples a check: every batch of ``class_folder`` uses it."""
    return fast_config(tmp_path_factory.mktemp("config"), examples=2)


@pytest.fixture(scope="module")
def graded_j2(class_folder, few_examples, tmp_path_factory):
    out = tmp_path_factory.mktemp("out-j2")
    result = batch(class_folder, "--out", out, "-j", "2", "--config", few_examples)
    return out, result


def test_mixed_class_grades_match_independent_expectations(graded_j2):
    out, result = graded_j2
    assert result.returncode == 4, result.stdout + result.stderr  # graded, but dave and erin need a person
    assert "layout: folders (7 submissions" in result.stdout
    # not a terminal: one plain progress line per student, not a silent bar
    assert len(re.findall(r"^\[\d/7\] \w+: [\d.]+/\d+ (graded|needs_review) \(", result.stdout, re.MULTILINE)) == 7
    grades = read_grades(out / "grades.csv")
    # every entry gets a row: a stray file is one a person looks at, never a line at the start only
    assert sorted(grades) == ["alice", "bob", "carol", "dave", "erin", "frank", "notes"]
    assert grades["notes"]["status"] == "needs_review" and "neither a folder" in grades["notes"]["reason"]
    del grades["notes"]
    assert list(next(iter(grades.values())))[3:] == ["id", *POINTS, "total", "status", "reason", "integrity"]

    assert float(grades["alice"]["total"]) == TOTAL
    for component, points in POINTS.items():
        assert float(grades["alice"][component]) == points, component
    for student in ("bob", "erin"):  # graded (erin's checks ran on a hand-in without the classes), nothing right
        assert float(grades[student]["total"]) == 0, student
    assert grades["dave"]["total"] == "" and all(grades["dave"][c] == "" for c in POINTS)  # no check ran: not a 0
    assert [grades[s]["status"] for s in sorted(grades)] == [
        "graded", "graded", "graded", "needs_review", "needs_review", "graded"]
    assert "not a readable zip file" in grades["dave"]["reason"]
    assert "no file defines any of the assignment's classes" in grades["erin"]["reason"]

    carol = grades["carol"]
    assert float(carol["SelfAttention"]) < POINTS["SelfAttention"]
    for component in ("TimeEmbedding", "ResBlock", "DownBlock", "UpBlock", "SimpleUNet"):
        assert float(carol[component]) == POINTS[component], component
    frank = grades["frank"]  # down/up blocks get the reference ResBlock; attention.py imports res_block
    assert float(frank["ResBlock"]) == 0
    for component in ("TimeEmbedding", "DownBlock", "UpBlock", "SimpleUNet"):
        assert float(frank[component]) == POINTS[component], component

    # every student has whole, valid files; the total in results.json matches grades.csv
    for student, row in grades.items():
        results = json.loads((out / "staff" / student / "results.json").read_text())
        assert results["score"] == pytest.approx(float(row["total"] or 0))  # (Gradescope's score is a number)
        every_check = sum(len(c) for c in yaml.safe_load((ROOT / "grading_config.yaml").read_text())["components"].values())
        assert len(results["tests"]) == (0 if row["total"] == "" else every_check)  # not graded: no checks listed
        assert (out / "staff" / student / "feedback.md").read_text().startswith(f"# {student}: ")
    assert "not a readable zip file" in json.loads((out / "staff" / "dave" / "results.json").read_text())["output"]
    assert not list(out.rglob("*.tmp"))


def test_feedback_lists_failures_first(graded_j2):
    out, _ = graded_j2
    text = (out / "staff" / "carol" / "feedback.md").read_text()
    failed, passed = text.index("## Failed checks"), text.index("## Passed checks")
    assert failed < passed
    assert "SelfAttention" in text[failed:passed]
    assert "Failed checks (0)" in (out / "staff" / "alice" / "feedback.md").read_text()


def test_class_table_names_the_most_failed_checks(graded_j2):
    _, result = graded_j2
    # dave's zip is not a zip and notes.txt is no hand-in: both have rows, neither counts as graded
    assert "Score distribution (n = 5 graded; left out: 2 not graded)" in " ".join(result.stdout.split())
    assert "Checks the class failed" in result.stdout
    flat = " ".join(result.stdout.split())
    assert "needs review (3): a person should look at these" in flat  # dave, erin and the stray notes.txt
    assert "dave: dave.zip is not a readable zip file" in flat


def test_one_job_gives_the_same_grades_as_two(graded_j2, class_folder, few_examples, tmp_path):
    out, _ = graded_j2
    result = batch(class_folder, "--out", tmp_path, "-j", "1", "--config", few_examples)
    assert result.returncode == 4, result.stderr
    assert (tmp_path / "grades.csv").read_text() == (out / "grades.csv").read_text()


def test_killed_then_resumed_batch_equals_uninterrupted(graded_j2, class_folder, few_examples, tmp_path):
    out, _ = graded_j2
    command = [sys.executable, "-m", "autograder.cli", "batch", str(class_folder), "--out", str(tmp_path), "-j", "1",
               "--config", str(few_examples)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("staff/*/results.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the parent and its workers, mid-batch
    process.wait()
    finished = {p.parent.name for p in tmp_path.glob("staff/*/results.json")}
    assert 1 <= len(finished) < 6, finished
    assert not (tmp_path / "grades.csv").exists()

    result = batch(class_folder, "--out", tmp_path, "-j", "2", "--config", few_examples)
    assert f"{len(finished)} already graded" in result.stdout
    assert (tmp_path / "grades.csv").read_text() == (out / "grades.csv").read_text()
    assert not list(tmp_path.rglob("*.tmp"))


def test_only_regrades_one_student(graded_j2, class_folder, few_examples, tmp_path):
    out, _ = graded_j2
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    before = {p.parent.name: p.stat().st_mtime_ns for p in tmp_path.glob("staff/*/results.json")}
    time.sleep(0.01)
    result = batch(class_folder, "--out", tmp_path, "--only", "erin", "--config", few_examples)
    assert result.returncode == 4, result.stdout + result.stderr  # erin handed in no code: needs a person
    after = {p.parent.name: p.stat().st_mtime_ns for p in tmp_path.glob("staff/*/results.json")}
    assert [s for s in before if before[s] != after[s]] == ["erin"]
    assert (tmp_path / "grades.csv").read_text() == (out / "grades.csv").read_text()


def test_a_resume_with_nothing_left_still_names_who_needs_a_person(graded_j2, class_folder, few_examples, tmp_path):
    """The closing list is over every student on disk, like grades.csv: a student an earlier run left
    needs_review is not dropped because this run graded nobody."""
    out, first = graded_j2
    shutil.copytree(out, tmp_path, dirs_exist_ok=True)
    result = batch(class_folder, "--out", tmp_path, "--config", few_examples)
    flat, before = " ".join(result.stdout.split()), " ".join(first.stdout.split())
    assert "already graded in" in flat and "graded 0, need review 0" in flat  # nobody was graded again
    assert "needs review (3): a person should look at these" in flat and "needs review (3)" in before
    assert "dave: dave.zip is not a readable zip file" in flat
    assert result.returncode == first.returncode == ExitCode.NEEDS_REVIEW  # the status of the class on disk, too


def test_usage_errors_exit_2(class_folder, tmp_path):
    missing = batch(tmp_path / "nowhere", "--out", tmp_path / "o")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "no such file" in missing.stderr
    unknown = batch(class_folder, "--out", tmp_path / "o", "--only", "zoe")
    assert unknown.returncode == 2 and "--only 'zoe'" in unknown.stderr
    assert batch(class_folder, "--out", tmp_path / "o", "-j", "0").returncode == 2
    assert batch("--nbgrader", tmp_path, "--out", tmp_path / "o").returncode == 2  # needs --assignment


def test_cli_defaults_are_the_api_defaults():
    import inspect

    from autograder.batch import grade_batch
    from autograder.cli import batch as command

    options = inspect.signature(command).parameters
    for name in ("jobs", "regrade", "only", "assignment"):
        assert options[name].default.default == grade_batch.__kwdefaults__[name], name


# --- discovery: layouts and safe unzipping (no grading) ---------------------------------------------

def test_gradescope_export_maps_folders_to_students(tmp_path):
    export = tmp_path / "assignment_42_export"
    for folder in ("submission_1", "submission_2", "submission_3"):
        (export / folder).mkdir(parents=True)
    (export / "submission_metadata.yml").write_text(
        "submission_1:\n"
        "  :submitters:\n"
        "  - :name: Ada Lovelace\n    :sid: '1815'\n    :email: ada@example.edu\n"
        "  - :name: Charles Babbage\n    :sid: ''\n    :email: cb@example.edu\n"
        "  :score: !ruby/object:BigDecimal 18:0.1E2\n"
        "submission_2:\n"
        "  :submitters:\n  - :name: Grace Hopper\n    :email: grace@example.edu\n"
    )
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for file in sorted(export.rglob("*")):
            bundle.write(file, file.relative_to(tmp_path).as_posix())
    for root in (export, archive):
        found = discover(root)
        try:
            assert found.layout == "gradescope"
            keys = [[s.key for s in item.submitters] for item in found.submissions]
            assert keys == [["1815", "cb"], ["grace"], ["submission_3"]]
            assert found.submissions[0].submitters[0].name == "Ada Lovelace"
            assert ("submission_3", "not listed in submission_metadata.yml; graded under its own name") in found.skipped
            shown = found.shown(found.submissions[0].source)  # what a TA and a student read: never our scratch folder
            expected = "export.zip:assignment_42_export/submission_1" if root == archive else f"{export}/submission_1"
            assert shown == expected
        finally:
            found.cleanup()


def test_an_export_member_this_file_system_cannot_hold_is_left_out_and_the_class_read(tmp_path):
    """A file named in 100 CJK characters (300 bytes: macOS and Windows take 255 characters) and a file
    beside a folder of the same name: each is left out with why; every submission is still found."""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("export/submission_metadata.yml",
                        "submission_1:\n  :submitters:\n  - :name: Ada\n    :email: ada@example.edu\n"
                        "submission_2:\n  :submitters:\n  - :name: Bob\n    :email: bob@example.edu\n")
        bundle.writestr("export/submission_1/unet.py", "x = 1\n")
        bundle.writestr("export/submission_1/" + "笔记" * 50 + ".txt", "notes")
        bundle.writestr("export/submission_2/unet.py", "x = 2\n")
        bundle.writestr("export/submission_2/unet.py/old.py", "x = 3\n")
        bundle.writestr("export/submission_2/notes.txt", "damaged " * 2000, zipfile.ZIP_DEFLATED)
    data = bytearray(archive.read_bytes())
    at = data.index(b"export/submission_2/notes.txt") + len("export/submission_2/notes.txt")
    data[at + 10:at + 40] = bytes(b ^ 0x5A for b in data[at + 10:at + 40])  # its deflated bytes, damaged
    archive.write_bytes(bytes(data))
    found = discover(archive)
    try:
        assert [s.key for item in found.submissions for s in item.submitters] == ["ada", "bob"]
        left_out = dict(found.skipped)
        assert "under a shorter name" in left_out["export.zip:export/submission_1/" + "笔记" * 50 + ".txt"]
        assert "could not be unpacked here" in left_out["export.zip:export/submission_2/unet.py/old.py"]
        assert "could not be unpacked here" in left_out["export.zip:export/submission_2/notes.txt"]
        assert (found.submissions[0].source / "unet.py").read_text() == "x = 1\n"
    finally:
        found.cleanup()


@pytest.mark.parametrize("submitters", ["5", "'just a name'", "{a: 1}", "[1, [2], null]", "[{':sid': [1, 2], ':email': 7}]", "~"])
def test_damaged_gradescope_metadata_costs_names_never_the_batch(tmp_path, submitters):
    """Metadata edited by hand or cut short: each folder still becomes a submission, named after itself."""
    export = tmp_path / "export"
    for folder in ("submission_1", "submission_2"):
        (export / folder).mkdir(parents=True)
    (export / "submission_metadata.yml").write_text(
        f"submission_1:\n  :submitters: {submitters}\n"
        "submission_2:\n  :submitters:\n  - :name: Grace Hopper\n    :email: grace@example.edu\n")
    found = discover(export)
    keys = [[s.key for s in item.submitters] for item in found.submissions]
    assert keys[1] == ["grace"] and len(keys) == 2 and keys[0]  # one row each, whatever the first record says


def test_nbgrader_layout_picks_the_assignment(tmp_path):
    submitted = tmp_path / "course" / "submitted"
    (submitted / "ann" / "unet").mkdir(parents=True)
    (submitted / "ann" / "other").mkdir()
    (submitted / "ben" / "unet").mkdir(parents=True)
    (submitted / "cal" / "other").mkdir(parents=True)
    found = discover(tmp_path / "course", assignment="unet")
    assert found.layout == "nbgrader"
    assert [(i.key, i.source.name) for i in found.submissions] == [("ann", "unet"), ("ben", "unet"), ("cal", "cal")]
    assert [i.problem for i in found.submissions[:2]] == ["", ""]
    assert "no unet/ folder" in found.submissions[2].problem  # a row for a person, not a line at the start
    without = discover(submitted)
    assert [i.key for i in without.submissions] == ["ann", "ben", "cal"]
    assert "pass --assignment" in without.submissions[0].problem and not without.submissions[1].problem


def test_nbgrader_roster_names_the_students(tmp_path):
    """grades.csv's name and e-mail come from nbgrader's gradebook.db where it has them."""
    import sqlite3

    course = tmp_path / "course"
    for student in ("ann", "ben"):
        (course / "submitted" / student / "unet").mkdir(parents=True)
    with sqlite3.connect(course / "gradebook.db") as db:  # the columns of nbgrader.api.Student's table
        db.execute("CREATE TABLE student (id VARCHAR(128) PRIMARY KEY, first_name VARCHAR(128), "
                   "last_name VARCHAR(128), email VARCHAR(128), lms_user_id VARCHAR(128))")
        db.execute("INSERT INTO student VALUES ('ann', 'Ann', 'Lee', 'ann@example.edu', NULL)")
    found = discover(course, assignment="unet")
    people = {i.key: (i.submitters[0].name, i.submitters[0].email) for i in found.submissions}
    assert people == {"ann": ("Ann Lee", "ann@example.edu"), "ben": ("ben", "")}  # not on the roster: the folder's name
    (course / "gradebook.db").write_bytes(b"not a database")
    assert discover(course, assignment="unet").submissions[0].submitters[0].name == "ann"  # unreadable: folder names


def test_folder_layout_names_and_duplicates(tmp_path):
    (tmp_path / "amy").mkdir()
    (tmp_path / "amy.zip").write_bytes(b"")
    (tmp_path / "Bo Li (late)").mkdir()
    (tmp_path / ".hidden").mkdir()
    found = discover(tmp_path)
    assert [i.key for i in found.submissions] == ["Bo_Li_late", "amy"]
    assert [i.submitters[0].name for i in found.submissions] == ["Bo Li (late)", "amy"]
    assert found.skipped == [("amy.zip", "a second submission for amy (kept amy)")]


@pytest.mark.parametrize("lms", ["canvas", "blackboard", "moodle", "d2l"])
def test_an_lms_download_is_one_row_per_student_named_by_their_lms(tmp_path, lms):
    """Each LMS's download (with a student's own folder and a stray file beside it): each student one row,
    whose identity is their LMS user; what the LMS wrote about them is no row. A download is one LMS's:
    an upload named like another LMS's entry stays its sender's (red team: a Canvas student's file named
    ``x_doealice_attempt_<date>_unet.py`` became a Blackboard row "doealice")."""
    downloads = {
        "canvas": ({"doejane_LATE_123456_7890101_unet.py": "", "doejane_LATE_123456_7890101_res_block.py": "",
                    "mallory_654321_7890102_x_doealice_attempt_2030-01-01-00-00-00_unet.py": ""},
                   [("doejane", "doejane", "canvas:123456"), ("mallory", "mallory", "canvas:654321")]),
        "blackboard": ({"HW3_asmith_attempt_2026-12-06-10-02-55_unet.py": "", "HW3_asmith_attempt_2026-12-06-10-02-55.txt": "",
                        "HW3_bjones_attempt_2026-12-06-11-00-00_unet.py": ""},
                       [("asmith", "asmith", "blackboard:asmith"), ("bjones", "bjones", "blackboard:bjones")]),
        "moodle": ({"Jane Doe_555_assignsubmission_file_/unet.py": "",
                    "Jane Doe_555_assignsubmission_onlinetext_/onlinetext.html": ""},
                   [("Jane_Doe", "Jane Doe", "moodle:555")]),
        "d2l": ({"1001-2002 - Ann Lee - Dec 5, 2026 1114 PM/unet.py": "", "1003-2004 - Ann Lee - Dec 6, 2026 915 AM/unet.py": "",
                 "1005-2006 - Bo Chen - Dec 5, 2026 1:14 PM - unet.py": "", "index.html": "<html></html>"},
                [("Ann_Lee", "Ann Lee", "d2l:Ann Lee"), ("Bo_Chen", "Bo Chen", "d2l:Bo Chen")]),
    }
    files, expected = downloads[lms]
    files = {**files, "alice/unet.py": "", "notes.pdf": "%PDF-1.4"}
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    found = discover(tmp_path)
    try:
        rows = sorted((i.key, i.submitters[0].name, i.submitters[0].identity) for i in found.submissions)
        assert rows == sorted(expected + [("alice", "alice", "student:alice"), ("notes", "notes", "student:notes")])
        by_key = {i.key: i for i in found.submissions}
        assert by_key["notes"].problem and not any(by_key[k].problem for k in by_key if k != "notes")
        if lms == "d2l":
            assert by_key["Ann_Lee"].source.name.startswith("1003-2004")  # her latest submission, where it is
            skipped = dict(found.skipped)
            assert "index.html" in skipped and "Dec 5, 2026 1114 PM" in skipped["1001-2002 - Ann Lee - Dec 5, 2026 1114 PM"]
        if lms == "canvas":
            assert sorted(p.name for p in by_key["doejane"].source.iterdir()) == ["res_block.py", "unet.py"]
            # named to the TA by the download's entries, never by the scratch folder they were gathered in
            assert found.shown(by_key["doejane"].source) == f"{tmp_path}/doejane_LATE_123456_7890101_res_block.py (and 1 more)"
        if lms == "blackboard":
            assert [p.name for p in by_key["asmith"].source.iterdir()] == ["unet.py"]  # not the receipt
    finally:
        found.cleanup()


@pytest.mark.parametrize("name", ["../escape.py", "/abs.py", "a/../../escape.py"])
def test_zip_extraction_refuses_paths_outside(tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(name, "print('hi')")
    (tmp_path / "dest").mkdir()
    with pytest.raises(SubmissionError, match="unsafe path"):
        extract_zip(archive, tmp_path / "dest", 1 << 20)
    assert not (tmp_path / "escape.py").exists()


def test_zip_extraction_caps_the_unpacked_size(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("big.py", "#" * (3 << 20))
    (tmp_path / "dest").mkdir()
    with pytest.raises(SubmissionError, match="over the"):
        extract_zip(archive, tmp_path / "dest", 1 << 20)


def test_zip_extraction_refuses_links(tmp_path):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("unet.py")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(info, "/etc/passwd")
    (tmp_path / "dest").mkdir()
    with pytest.raises(SubmissionError, match="link"):
        extract_zip(archive, tmp_path / "dest", 1 << 20)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.add(pid)
            todo.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_hang_up_stops_workers_and_children(tmp_path, sig):
    """A closed terminal or a `kill` mid-batch: the batch stops, its workers and every child with it."""
    classroom = tmp_path / "class"
    for student in ("ann", "ben", "cat"):  # forwards that never return keep the workers busy
        shutil.copytree(SOLUTIONS, classroom / student)
        source = (classroom / student / "res_block.py").read_text()
        (classroom / student / "res_block.py").write_text(
            source.replace("    def forward(self, x, t_emb):\n", "    def forward(self, x, t_emb):\n        while True:\n            pass\n", 1))
    command = [sys.executable, "-m", "autograder.cli", "batch", str(classroom), "--out", str(tmp_path / "out"), "-j", "2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    family: set[int] = set()
    while time.monotonic() < deadline and len(family) < 6:  # two workers, their fork servers and children
        time.sleep(0.5)
        family = _descendants(process.pid)
    assert len(family) >= 6, family
    time.sleep(2)  # the workers are inside a student's endless loop now
    family = _descendants(process.pid)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert f"interrupted ({signal.Signals(sig).name})" in output
    time.sleep(1)
    assert [pid for pid in family if _alive(pid)] == [], output


def test_identities_never_collide_and_cells_never_run(tmp_path):
    """A SID equal to another student's e-mail name, a student called grades.csv, a name that is a
    spreadsheet formula: each graded under a folder of their own, class files intact, cells inert."""
    export = tmp_path / "assignment_9_export"
    for folder in ("submission_1", "submission_2", "submission_3"):
        shutil.copytree(SOLUTIONS, export / folder)
    (export / "submission_metadata.yml").write_text(
        "submission_1:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '1815'\n    :email: ada@example.edu\n"
        "submission_2:\n  :submitters:\n  - :name: Not Ada\n    :email: 1815@example.edu\n"
        "submission_3:\n  :submitters:\n  - :name: '=HYPERLINK(\"http://evil.example\", \"click\")'\n"
        "    :sid: grades.csv\n    :email: '@SUM(A1)@example.edu'\n")
    config = fast_config(tmp_path, examples=1)
    result = batch(export, "--out", tmp_path / "out", "--config", config, "-j", "2")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "two students would both be 1815: 1815@example.edu is 1815@example.edu" in " ".join(result.stdout.split())
    grades = read_grades(tmp_path / "out" / "grades.csv")
    assert sorted(grades) == ["1815", "1815@example.edu", "grades.csv"]
    assert all(float(row["total"]) == TOTAL for row in grades.values())
    assert (tmp_path / "out" / "staff" / "grades.csv" / "results.json").is_file()
    formula = grades["grades.csv"]
    assert formula["name"].startswith("'=HYPERLINK") and formula["email"].startswith("'@SUM")


@pytest.mark.skipif(os.geteuid() != 0, reason="children get a uid of their own only when the grader is root")
def test_one_students_kill_all_never_reaches_another_student(tmp_path):
    """Without bubblewrap, `kill(-1)` reaches every process of the caller's uid: each worker's
    children have a uid of their own, so a student who tries it stops only their own child."""
    classroom = tmp_path / "class"
    killer = (SOLUTIONS / "attention.py").read_text() + (
        "\nimport os as _os, signal as _signal, time as _time\n"
        "_forward = SelfAttention.forward\n"
        "def _kill_all(self, x, return_weights=False):\n"
        "    for _ in range(20):\n"
        "        try:\n            _os.kill(-1, _signal.SIGKILL)\n        except OSError:\n            pass\n"
        "        _time.sleep(0.05)\n"
        "    return _forward(self, x, return_weights)\n"
        "SelfAttention.forward = _kill_all\n")
    for student in ("a_killer", "b", "c", "d", "e"):
        shutil.copytree(SOLUTIONS, classroom / student)
    (classroom / "a_killer" / "attention.py").write_text(killer)
    env = dict(os.environ, AUTOGRADER_ISOLATION="fallback", AUTOGRADER_ACCEPT_RISK="1")
    result = subprocess.run([sys.executable, "-m", "autograder.cli", "batch", str(classroom), "--out",
                             str(tmp_path / "out"), "-j", "2", "--config", str(fast_config(tmp_path, examples=2))],
                            capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    grades = read_grades(tmp_path / "out" / "grades.csv")
    assert sorted(grades) == ["a_killer", "b", "c", "d", "e"], result.stdout[-2000:]
    assert all(float(grades[s]["total"]) == TOTAL for s in "bcde"), {s: grades[s]["total"] for s in grades}


def test_a_students_own_metadata_file_does_not_make_their_folder_the_class(tmp_path):
    """A submission_metadata.yml inside one student's folder, beside the others': theirs, not an export's
    (it made that folder the class: nobody else graded). In the export's own folder, alone: the export."""
    for student in ("alice", "bob", "mallory"):
        (tmp_path / student).mkdir()
        (tmp_path / student / "unet.py").write_text("")
    (tmp_path / "mallory" / "submission_metadata.yml").write_text(
        "unet.py:\n  :submitters:\n  - :name: Alice\n    :email: alice@example.edu\n")
    found = discover(tmp_path)
    try:
        assert found.layout == "folders"
        assert sorted(i.key for i in found.submissions) == ["alice", "bob", "mallory"]
    finally:
        found.cleanup()
    export = tmp_path / "only" / "assignment_1_export"
    (export / "submission_1").mkdir(parents=True)
    (export / "submission_metadata.yml").write_text("submission_1:\n  :submitters:\n  - :name: Ada\n")
    (tmp_path / "only" / ".DS_Store").write_text("")
    found = discover(tmp_path / "only")
    try:
        assert found.layout == "gradescope" and [i.submitters[0].name for i in found.submissions] == ["Ada"]
    finally:
        found.cleanup()


def test_a_named_pipe_in_the_class_folder_is_no_submission_and_stops_nothing(tmp_path):
    """``tar x`` of a student's archive can leave a FIFO: opening one waits for a writer, forever."""
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "unet.py").write_text("")
    os.mkfifo(tmp_path / "pipe")
    found = discover(tmp_path)  # returns at all
    try:
        rows = {i.key: i for i in found.submissions}
        assert "alice" in rows and ("pipe" not in rows or rows["pipe"].problem)
    finally:
        found.cleanup()
    from autograder.intake import read_submission

    assert read_submission(tmp_path / "pipe").review == ["the submission is empty"]  # read without waiting


def test_a_resumed_batch_never_gives_a_students_folder_to_a_student_added_later(tmp_path):
    """`Jose Garcia` handed in after `José García` was graded makes the same folder name, and sorts first:
    the folder (and its results) stays José's, and the newcomer gets another and is graded."""
    classroom, out = tmp_path / "class", tmp_path / "out"
    (classroom / "José García").mkdir(parents=True)
    (classroom / "José García" / "notes.txt").write_text("not code")
    config = fast_config(tmp_path, examples=1)
    first = batch(classroom, "--out", out, "--config", config, "-j", "1")
    assert first.returncode == ExitCode.NEEDS_REVIEW, first.stdout[-2000:] + first.stderr[-2000:]
    shutil.copytree(SOLUTIONS, classroom / "Jose Garcia")
    again = batch(classroom, "--out", out, "--config", config, "-j", "1")
    assert again.returncode == ExitCode.NEEDS_REVIEW, again.stdout[-2000:] + again.stderr[-2000:]
    grades = read_grades(out / "grades.csv")
    assert {key: (row["name"], row["status"]) for key, row in grades.items()} == {
        "Jose_Garcia": ("José García", "needs_review"), "Jose_Garcia-2": ("Jose Garcia", "graded")}
    assert float(grades["Jose_Garcia-2"]["total"]) == TOTAL
    assert "already done 1" in " ".join(again.stdout.split())


def test_a_record_of_an_older_version_keeps_its_folder_by_the_submission_it_graded(tmp_path):
    """Records written before they named their student's identity hold their folder by their submission."""
    from autograder.intake.discover import held_by
    from autograder.output_folder import StudentRecord

    for student in ("Nadia Muller", "Nadia Müller"):
        (tmp_path / student).mkdir()
        (tmp_path / student / "unet.py").write_text("")
    found = discover(tmp_path)
    try:
        fresh = {i.submitters[0].name: i.key for i in found.submissions}
        older = StudentRecord(student=fresh["Nadia Müller"], name="Nadia Müller", email="",
                              source=found.shown(tmp_path / "Nadia Müller"), status="graded", message="", report=None)
    finally:
        found.cleanup()
    assert fresh == {"Nadia Muller": "Nadia_Muller", "Nadia Müller": "Nadia_Muller-2"}  # sorted: the plain name first
    # an older run had graded only Nadia Müller, as Nadia_Muller: she keeps it, the other name is moved
    older.student = "Nadia_Muller"
    resumed = discover(tmp_path, held=held_by([older]))
    try:
        assert {i.submitters[0].name: i.key for i in resumed.submissions} == {
            "Nadia Müller": "Nadia_Muller", "Nadia Muller": "Nadia_Muller-2"}
    finally:
        resumed.cleanup()


def test_a_resume_grades_again_a_student_whose_hand_in_or_points_changed(tmp_path):
    """A late hand-in that replaced the file, or a points table changed between runs: the grade on disk
    is no longer the grade of what is there. The resume grades those students again, and says so."""
    classroom, out = tmp_path / "class", tmp_path / "out"
    for student in ("alice", "bob"):
        shutil.copytree(SOLUTIONS, classroom / student)
    attention = classroom / "bob" / "attention.py"
    attention.write_text(attention.read_text().replace("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=1)"))
    config = fast_config(tmp_path, examples=1)
    assert batch(classroom, "--out", out, "--config", config, "-j", "2").returncode == 0
    before = read_grades(out / "grades.csv")
    assert float(before["bob"]["total"]) < TOTAL == float(before["alice"]["total"])
    shutil.copy(SOLUTIONS / "attention.py", attention)  # bob's corrected file arrives in the next download
    again = batch(classroom, "--out", out, "--config", config, "-j", "2")
    assert again.returncode == 0, again.stdout[-2000:]
    said = " ".join(again.stdout.split())
    assert "1 graded again: their hand-in or the grading scheme" in said and "already done 1" in said, said
    assert float(read_grades(out / "grades.csv")["bob"]["total"]) == TOTAL
    raised = yaml.safe_load(Path(config).read_text())  # a check is worth a point more: everyone's grade moves
    raised["components"]["ResBlock"]["structure"]["points"] += 1
    Path(config).write_text(yaml.safe_dump(raised))
    third = batch(classroom, "--out", out, "--config", config, "-j", "2")
    assert "2 graded again" in " ".join(third.stdout.split()), third.stdout[-2000:]
    rows = list(csv.DictReader(io.StringIO((out / "grades.csv").read_text())))  # the maximum row among them
    assert {row["student"]: float(row["total"]) for row in rows} == {MAX_ROW: TOTAL + 1, "alice": TOTAL + 1,
                                                                     "bob": TOTAL + 1}
