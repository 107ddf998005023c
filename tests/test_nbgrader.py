"""The nbgrader round trip with the real nbgrader: release into a course, `nbgrader generate_assignment`,
three submissions (one correct, one with softmax over the queries, and a correct one by `bob_`, whose id
makes bob's folder name), `autograder batch --nbgrader`, then `nbgrader export` and
`nbgrader generate_feedback` show our per-component grades, each student's their own."""
import csv
import shutil
import subprocess

import nbformat
import pytest
import yaml

from autograder.checks import bind
from autograder.config import load_config
from autograder.release import release_nbgrader, solution_lines
from autograder.release.notebook import NOTEBOOK, grade_id, notebook_solution_lines, written_answer_points

from .release_support import BIN, SOLUTIONS, fast_config, isolated_env

ASSIGNMENT = "unet"
MISTAKE = ("weights = torch.softmax(scores, dim=-1)", "weights = torch.softmax(scores, dim=1)")


def _run(command, cwd, env, timeout=600):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("nbgrader")
    config = fast_config(base)
    env = isolated_env(base / "jupyter")
    course = base / "course"
    release_nbgrader(course, ASSIGNMENT, config=config)
    _run([str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT], course, env)
    for student, edit in [("alice", None), ("bob", MISTAKE), ("bob_", None)]:
        folder = course / "submitted" / student / ASSIGNMENT
        shutil.copytree(course / "release" / ASSIGNMENT, folder)
        for path in SOLUTIONS.glob("*.py"):
            shutil.copy(path, folder / "unet" / path.name)
        if edit:
            target = folder / "unet" / "attention.py"
            target.write_text(target.read_text().replace(*edit))
        (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC")
    _run([str(BIN / "autograder"), "batch", "--nbgrader", str(course), "--assignment", ASSIGNMENT,
          "--out", str(base / "graded"), "--config", str(config), "-j", "2"], course, env)
    _run([str(BIN / "nbgrader"), "export"], course, env)
    _run([str(BIN / "nbgrader"), "generate_feedback", ASSIGNMENT], course, env)
    return {"course": course, "config": load_config(config), "graded": base / "graded"}


def _points(config) -> dict[str, float]:
    raw = yaml.safe_load(open(config.source_path))
    return {name: sum(c["points"] for c in checks.values()) for name, checks in raw["components"].items()}


def test_generate_assignment_releases_stubs_and_a_cleared_notebook(course):
    released = course["course"] / "release" / ASSIGNMENT
    for solution in SOLUTIONS.glob("*.py"):
        stub_lines = {line.strip() for line in (released / "unet" / solution.name).read_text().splitlines()}
        assert [line for line in solution_lines(solution.read_text()) if len(line) > 12 and line in stub_lines] == []
    text = (released / NOTEBOOK).read_text()
    assert "BEGIN SOLUTION" not in text
    assert [line for line in notebook_solution_lines() if line in text] == []  # the model answers
    notebook = nbformat.read(str(released / NOTEBOOK), as_version=4)
    module_cells = [c for c in notebook.cells if c.source.startswith("%%writefile unet/")]
    assert len(module_cells) == len(list(SOLUTIONS.glob("[!_]*.py")))
    for cell in module_cells:  # nbgrader cleared the reference: each module cell is a stub to complete
        module = cell.source.split("\n", 1)[0].split("/")[-1]
        stub = (released / "unet" / module).read_text()  # what the docstrings spell out is no secret
        secrets = [line for line in solution_lines((SOLUTIONS / module).read_text()) if len(line) > 12]
        assert "raise NotImplementedError()" in cell.source
        assert [s for s in secrets if s in cell.source and s not in stub] == []
    answers = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("answer_")]
    assert len(answers) == 4 and all(c.source == "YOUR ANSWER HERE" for c in answers)
    hidden = [c.name for c, s in bind(course["config"]) if s.visibility == "hidden"]
    assert [name for name in hidden if name in text] == []
    settings = (course["course"] / "nbgrader_config.py").read_text()
    assert "unet/res_block.py" in settings and '"immediate"' in settings and ".hypothesis" in settings


def test_export_shows_the_grades_of_the_isolated_grader(course):
    points = _points(course["config"])
    total = sum(points.values())
    with open(course["course"] / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"alice", "bob", "bob_"}
    assert float(rows["alice"]["max_score"]) == total + written_answer_points()  # answers in words: by hand
    assert float(rows["alice"]["score"]) == total
    assert float(rows["bob_"]["score"]) == total  # graded as bob-2: their own grade, not bob's
    bob = float(rows["bob"]["score"])
    assert 0 < bob < total
    assert rows["bob"]["timestamp"].startswith("2026-01-15 12:00:00")


def test_each_component_lands_in_its_own_grade_cell(course):
    from nbgrader.api import Gradebook

    points = _points(course["config"])
    report = yaml.safe_load((course["graded"] / "staff" / "bob" / "report.json").read_text())
    lost = {}
    for check in report["report"]["checks"]:
        lost[check["component"]] = lost.get(check["component"], 0) + check["max_score"] - check["score"]
    assert lost["SelfAttention"] > 0  # the mistake costs SelfAttention points...
    assert {c: v for c, v in lost.items() if v and c != "SelfAttention"} == {}  # ...and nothing else
    with Gradebook(f"sqlite:///{course['course'] / 'gradebook.db'}") as gradebook:
        for component, max_score in points.items():
            grade = gradebook.find_grade(grade_id(component), "unet_chapter", ASSIGNMENT, "bob")
            assert grade.max_score == max_score and not grade.needs_manual_grade
            assert grade.score == pytest.approx(max_score - lost.get(component, 0))


def test_feedback_shows_component_scores_and_no_hidden_check(course):
    html = (course["course"] / "feedback" / "bob" / ASSIGNMENT / "unet_chapter.html").read_text()
    assert "SelfAttention: " in html and "hidden checks:" in html
    bound = bind(course["config"])
    public = {c.title for c, s in bound if s.visibility == "public"}  # a title can be public elsewhere
    hidden = [c.title for c, s in bound if s.visibility == "hidden" and c.title not in public]
    # the released notebook states the homework's rules in words ("the grader checks: ..."): public text
    released = (course["course"] / "release" / ASSIGNMENT / NOTEBOOK).read_text()
    unsaid = [title for title in hidden if title not in released]
    assert len(unsaid) > 5 and [title for title in unsaid if title in html] == []


def test_feedback_shows_pictures_of_the_students_code(course):
    """Issue 14: each component's grade cell carries the student view's pictures as image outputs."""
    html = (course["course"] / "feedback" / "bob" / ASSIGNMENT / "unet_chapter.html").read_text()
    # at least: the embedding (yours), the parameters, the attention map (input and yours), the U, the skip curves
    assert html.count("data:image/png;base64,") >= 6


def test_only_regrades_one_student_and_writes_only_their_grades(course, tmp_path):
    """`batch --nbgrader --only bob --regrade`: bob alone is graded again and written to the gradebook."""
    graded = course["graded"]
    before = {p.parent.name: p.stat().st_mtime_ns for p in graded.glob("staff/*/results.json")}
    env = isolated_env(tmp_path / "jupyter")
    result = _run([str(BIN / "autograder"), "batch", "--nbgrader", str(course["course"]), "--assignment", ASSIGNMENT,
                   "--out", str(graded), "--config", course["config"].source_path, "--only", "bob", "--regrade"],
                  course["course"], env)
    after = {p.parent.name: p.stat().st_mtime_ns for p in graded.glob("staff/*/results.json")}
    assert [s for s in sorted(before) if before[s] != after[s]] == ["bob"]
    assert "wrote 1 students' grades" in " ".join(result.stdout.split())
