"""Nothing hidden reaches what a student may see before results are published.

One graded submission with mistakes that hidden checks catch (a block's and the skip experiment's),
written out as a batch writes it. Then every student-visible output -- every file of the student's
hand-out folder (OUT/students/<student>/, whatever it holds), results.json's visible parts, the
nbgrader feedback cells -- is searched for every hidden value: the names and messages of hidden
checks, the reference's experiment numbers and the reference's side of every picture tied to a
hidden check. The staff page must hold those same values, so the search is not empty.
"""
import base64
import html
import json
import shutil

import pytest

from autograder.nbgrader_course import _feedback_text, _picture_outputs
from autograder.pages.figures import picture_for_evidence, picture_for_figure
from autograder.output_folder import HANDOUT_FILES, STAFF_FILES, OutputFolder, StudentRecord

from .mutants import MUTANTS
from .release_support import SOLUTIONS


SCALE = "colour scale"  # a colour bar's alt text: the same bar serves many pictures


def _mutant(name: str) -> dict[str, str]:
    return next(m for m in MUTANTS if m.name == name).replacements()


@pytest.fixture(scope="module")
def written(grader, tmp_path_factory):
    folder = tmp_path_factory.mktemp("student_view")
    submission = folder / "submission"  # the reference, with two modules replaced
    shutil.copytree(SOLUTIONS, submission, ignore=shutil.ignore_patterns("__pycache__"))
    for module, source in {**_mutant("no optimizer step"),
                           **_mutant("relu after conv1 instead of before")}.items():
        (submission / f"{module}.py").write_text(source)
    report = grader.grade(submission)
    record = StudentRecord(student="sam", name="", email="", source="submission", status=report.status,
                           message="", report=report)
    out = OutputFolder(folder / "out")
    out.prepare()
    out.write_student(record, "after_published")
    return record, out


def _hand_out(out: OutputFolder) -> list:
    """Every file under OUT/students/, the folder a TA hands out."""
    return sorted(p for p in out.students.rglob("*") if not p.is_dir())


def _student_visible(record, out: OutputFolder) -> tuple[str, set[str]]:
    """All text a student may see now, and every image (as base64 PNG) in it."""
    results = json.loads((out.staff_dir(record.student) / "results.json").read_text())
    texts = [html.unescape(p.read_text(errors="replace")) for p in _hand_out(out)] + [html.unescape(results["output"])]
    for test in results["tests"]:
        if test["visibility"] == "visible":
            texts += [test["name"], html.unescape(test["output"])]
    images = set()
    for component in record.report.component_scores():
        texts.append(_feedback_text(record, component))
        images |= {o["data"]["image/png"] for o in _picture_outputs(record, component)}
    text = "\n".join(texts)
    images |= {chunk.split('"')[0] for chunk in text.split("data:image/png;base64,")[1:]}
    return text, images


def _hidden_values(record) -> tuple[set[str], set[str]]:
    """Texts and images (base64 PNG) that only the published view may show."""
    report = record.report
    public_titles = {c.name.split(": ", 1)[1] for c in report.checks if c.visibility == "public"}
    texts, images = set(), set()
    for check in report.checks:
        if check.visibility == "public":
            continue
        title = check.name.split(": ", 1)[1]
        if title not in public_titles:
            texts.add(title)
        if not check.passed:
            lines = (line.strip().removeprefix("Hint: ").removeprefix("Smallest failing input: ")
                     for line in check.output.splitlines())
            texts |= {line for line in lines if len(line) >= 30}
            if check.evidence:
                images |= {base64.b64encode(i.png).decode() for i in picture_for_evidence(check.evidence, check.check_id).images
                           if not i.alt.startswith(SCALE)}
    hidden_checks = {(c.component, c.check_id) for c in report.checks if c.visibility != "public"}
    for figure_id, data in report.figures.items():
        if (data.get("component"), data.get("check")) not in hidden_checks or "note" in data:
            continue
        full, shown = picture_for_figure(figure_id, data, full=True), picture_for_figure(figure_id, data, full=False)
        mine = {i.png for i in shown.images}
        images |= {base64.b64encode(i.png).decode() for i in full.images if i.png not in mine and not i.alt.startswith(SCALE)}
        results = data.get("results", {})  # the skip experiment's numbers, where the student's differ
        yours = {f"{mse:.4f}" for mse, _ in results.get("student", {}).values()}
        texts |= {f"{mse:.4f}" for mse, _ in results.get("reference", {}).values()} - yours
    return texts, images


def test_no_hidden_value_reaches_a_student_visible_output(written):
    record, out = written
    texts, images = _hidden_values(record)
    assert len(texts) >= 10 and len(images) >= 2, (texts, len(images))  # the search has something to find
    assert sum(t[0].isdigit() for t in texts) == 2  # the reference's MSE with and without skips
    staff = html.unescape((out.staff_dir(record.student) / "feedback.staff.html").read_text())
    # the staff page shows them (hints of a failure with the same cause as another are folded away)
    assert len([t for t in texts if t in staff]) >= 0.8 * len(texts), [t for t in texts if t not in staff]
    assert _hand_out(out), "nothing was handed out: the search below would find nothing"
    visible, shown_images = _student_visible(record, out)
    assert [t for t in texts if t in visible] == []
    assert not images & shown_images, f"{len(images & shown_images)} hidden pictures in the student's view"


def test_the_hand_out_folder_holds_the_students_page_and_nothing_staff_only(written):
    """OUT/students/ can be handed out as it is: the student's page and no staff file, which are in OUT/staff/."""
    record, out = written
    assert [p.relative_to(out.students).as_posix() for p in _hand_out(out)] == [f"{record.student}/feedback.html"]
    assert all(p.name in HANDOUT_FILES for p in _hand_out(out))
    assert sorted(p.name for p in out.staff_dir(record.student).iterdir()) == sorted(STAFF_FILES)
    page = (out.student_dir(record.student) / "feedback.html").read_text()
    assert "Staff view" not in page and "feedback.staff.html" not in page and "staff/" not in page
    staff = (out.staff_dir(record.student) / "feedback.staff.html").read_text()
    assert f'href="../../students/{record.student}/feedback.html"' in staff  # the TA can see what the student sees


def test_the_experiment_sits_in_its_task_and_no_note_box_holds_it(written):
    """The skip experiment's numbers are a table in the SkipAblation section, the student's side only."""
    record, out = written
    folder = out.student_dir(record.student)
    page = (folder / "feedback.html").read_text()
    section = page[page.index('<section id="SkipAblation">'):]
    section = section[:section.index("</section>")]
    assert "yours, with skips" in section and "yours, without skips" in section and "reference, with" not in section
    header = page[:page.index("</header>")]
    assert "banner error" not in header and "skip_ablation" not in header
    assert not any("Skip-connection experiment" in note for note in record.report.notes)
    staff = (out.staff_dir(record.student) / "feedback.staff.html").read_text()
    assert "reference, with skips" in staff
