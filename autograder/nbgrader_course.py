"""Grade an nbgrader course's submissions with our isolated grader and put the scores in its gradebook.

nbgrader's own ``autograde`` runs tests inside the student's kernel, where code can fake a grader
module in ``sys.modules``, hidden test lines leak into feedback, and a cell "passes" on a last value
of ``True`` or fails on any stderr. So we never run it. Instead:

1. ``grade_batch`` grades ``submitted/<student>/<assignment>/`` (its ``unet/`` modules) in isolated
   children, exactly as any batch: parallel, resumable, a crash is that student's zero.
2. Each component's score goes into ``gradebook.db`` through nbgrader's ``Gradebook`` API, as the
   ``auto_score`` of that component's locked grade cell (``component_<Name>``, worth the component's
   points; see ``release/notebook.py``), with ``needs_manual_grade`` off. A TA's ``manual_score``
   in formgrader still takes precedence, as everywhere in nbgrader.
3. ``autograded/<student>/<assignment>/`` gets the submission with those grade cells restored from the
   release and showing this component's result (public checks in full; hidden checks as counts only),
   so ``nbgrader generate_feedback`` renders our grades, with the component's pictures of the student's
   own code as image outputs (the student view of ``feedback.html``). Hidden checks never enter a notebook.
"""
import base64
import copy
import shutil
import warnings
from pathlib import Path

import nbformat

from .batch import grade_batch
from .config import GradingConfig, load_config
from .errors import AutograderError
from .release.notebook import NOTEBOOK, grade_id
from .release.public_checks_data import component_points
from .output_folder import OutputFolder, StudentRecord
from .results import not_graded_notice

__all__ = ["grade_course"]


def _gradebook(course_dir: Path):
    from nbgrader.api import Gradebook

    database = course_dir / "gradebook.db"
    if not database.is_file():
        raise AutograderError(
            f"{database}: no gradebook; run `nbgrader generate_assignment ASSIGNMENT` in {course_dir} first")
    return Gradebook(f"sqlite:///{database}")


def _component_cells(gradebook, assignment: str, expected: dict[str, float]) -> dict[str, str]:
    """component -> its grade cell's name, checking that the gradebook matches grading_config.yaml."""
    from nbgrader.api import MissingEntry

    notebook = Path(NOTEBOOK).stem
    try:
        cells = {cell.name: cell for cell in gradebook.find_notebook(notebook, assignment).grade_cells}
    except MissingEntry:
        raise AutograderError(
            f"the gradebook has no notebook {notebook!r} in assignment {assignment!r}; release with "
            f"`autograder release --nbgrader COURSE --assignment {assignment}` and run "
            f"`nbgrader generate_assignment {assignment}`") from None
    found = {}
    for component, points in expected.items():
        cell = cells.get(grade_id(component))
        if cell is None:
            raise AutograderError(f"the gradebook's {notebook} has no grade cell {grade_id(component)!r}; "
                                  "release again and rerun `nbgrader generate_assignment --force`")
        if abs(cell.max_score - points) > 1e-9:
            raise AutograderError(
                f"grade cell {cell.name} is worth {cell.max_score:g} points in the gradebook but {component} is "
                f"worth {points:g} in grading_config.yaml; release again and rerun `nbgrader generate_assignment --force`")
        found[component] = cell.name
    return found


def _feedback_text(record: StudentRecord, component: str) -> str:
    """What the student sees in the component's cell: public checks named, hidden ones counted."""
    if record.report.graded_nothing:  # the one notice every output gives, not a list of checks that never ran
        return f"{component}: not graded\n{not_graded_notice(record.report)}\n"
    checks = [c for c in record.report.checks if c.component == component]
    score, max_score = sum(c.score for c in checks), sum(c.max_score for c in checks)
    lines = [f"{component}: {score:g} / {max_score:g} points (graded outside the notebook on your .py files)"]
    if record.status != "graded":
        lines.append(f"Could not be graded: {record.message}")
    for c in checks:
        if c.visibility == "public":
            lines.append(f"  {'passed' if c.passed else 'FAILED'}  {c.name.split(': ', 1)[-1]}")
            if not c.passed and c.output:
                lines.extend(f"      {line}" for line in c.output.splitlines())
    hidden = [c for c in checks if c.visibility != "public"]
    if hidden:
        lines.append(f"  hidden checks: {sum(c.passed for c in hidden)} of {len(hidden)} passed")
    return "\n".join(lines) + "\n"


def _picture_outputs(record: StudentRecord, component: str) -> list:
    """The component's pictures as the student may see them now (pages/feedback.py's student view),
    as image outputs: ``nbgrader generate_feedback`` renders them into its HTML."""
    from .pages.feedback import component_pictures

    try:
        pictures = component_pictures(record.report, component, published=False)
    except Exception:  # noqa: BLE001 -- a picture is never worth the feedback
        return []
    outputs = []
    for picture in pictures:
        for image in picture.images:
            outputs.append(nbformat.v4.new_output(
                "display_data", data={"image/png": base64.b64encode(image.png).decode("ascii"),
                                      "text/plain": f"{picture.title}: {image.alt}"}))
    return outputs


def _write_autograded(course_dir: Path, assignment: str, student: str, record: StudentRecord,
                      cells: dict[str, str]) -> None:
    """autograded/<student>/<assignment>/: the submission, with our grade cells and their results."""
    submitted = course_dir / "submitted" / student / assignment
    target = course_dir / "autograded" / student / assignment
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(submitted, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", ".hypothesis"))
    release = nbformat.read(str(course_dir / "release" / assignment / NOTEBOOK), as_version=4) \
        if (course_dir / "release" / assignment / NOTEBOOK).is_file() else None
    path = target / NOTEBOOK
    notebook = nbformat.read(str(path), as_version=4) if path.is_file() else (copy.deepcopy(release) if release else None)
    if notebook is None:
        return
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in (release.cells if release else [])}
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(notebook.cells)}
    by_component = {cell: component for component, cell in cells.items()}
    for cell_name, component in by_component.items():
        original = released.get(cell_name)
        if cell_name in by_id:
            cell = notebook.cells[by_id[cell_name]]
        elif original is not None:  # the student deleted it: put it back
            cell = copy.deepcopy(original)
            notebook.cells.append(cell)
        else:
            continue
        if original is not None:
            cell.source, cell.metadata = original.source, copy.deepcopy(original.metadata)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=_feedback_text(record, component))]
        cell.outputs += _picture_outputs(record, component)
        cell.execution_count = None
    nbformat.write(notebook, str(path))


def _timestamp(course_dir: Path, student: str, assignment: str) -> str | None:
    stamp = course_dir / "submitted" / student / assignment / "timestamp.txt"
    if not stamp.is_file():
        return None
    return stamp.read_text(encoding="utf-8").strip() or None


def grade_course(course_dir, assignment: str, out, jobs: int = 1, regrade: bool = False, config=None,
                 only: str | None = None, console=None, figures: bool = True, scheduler: str | None = None,
                 device: str = "cpu") -> int:
    """Grade ``course_dir/submitted/*/<assignment>/`` into ``out`` and into the course's gradebook.

    ``only``: grade (again) just this student, and write just their grades. Returns the batch's exit
    status (see ``errors.ExitCode``); students who could not be graded get zeros in the gradebook with
    the reason in their feedback. Raises AutograderError when the course is not set up (no gradebook,
    no such assignment, grade cells that disagree with the config).
    """
    from rich.console import Console

    console = console or Console()
    course_dir = Path(course_dir)
    config = config if isinstance(config, GradingConfig) else load_config(config)
    submitted = course_dir / "submitted"
    if not submitted.is_dir():
        raise AutograderError(f"{submitted}: no such folder; collect the submissions first (`nbgrader collect`)")
    with _gradebook(course_dir) as gradebook:
        try:
            gradebook.find_assignment(assignment)
        except Exception:  # nbgrader's MissingEntry
            known = ", ".join(a.name for a in gradebook.assignments) or "none"
            raise AutograderError(f"no assignment {assignment!r} in {course_dir / 'gradebook.db'} (known: {known}); "
                                  f"run `nbgrader generate_assignment {assignment}` first") from None
        cells = _component_cells(gradebook, assignment, component_points(config))
    summary = grade_batch(submitted, out, jobs=jobs, regrade=regrade, config=config, assignment=assignment,
                          only=only, console=console, figures=figures, scheduler=scheduler, device=device)
    # Each record by the key the batch gave it (two ids can make one folder name: jdoe and jdoe__ are jdoe and
    # jdoe-2), never by a name made again from the ids, which gave one student the other's grade.
    students = {item.key: item.source.parent.name for item in summary.discovery.submissions
                if item.source.name == assignment and item.source.parent.parent.resolve() == submitted.resolve()}
    notebook = Path(NOTEBOOK).stem
    written = 0
    with _gradebook(course_dir) as gradebook:
        for record in OutputFolder(out).records():
            student = students.get(record.student)
            if student is None or (only is not None and only not in (student, record.student)):
                continue
            written += 1
            gradebook.update_or_create_student(student)
            stamp = _timestamp(course_dir, student, assignment)
            with warnings.catch_warnings():  # nbgrader's own add_submission trips SQLAlchemy's autoflush warning
                warnings.simplefilter("ignore")
                gradebook.update_or_create_submission(assignment, student, **({"timestamp": stamp} if stamp else {}))
            scores = record.report.component_scores()
            for component, cell_name in cells.items():
                grade = gradebook.find_grade(cell_name, notebook, assignment, student)
                grade.auto_score = scores.get(component, (0.0, 0.0))[0]
                grade.needs_manual_grade = False
            gradebook.db.commit()
            _write_autograded(course_dir, assignment, student, record, cells)
    console.print(f"wrote {written} students' grades ({len(cells)} grade cells each) into "
                  f"{course_dir / 'gradebook.db'} and their notebooks into {course_dir / 'autograded'}/; "
                  f"next, in {course_dir}: `nbgrader generate_feedback {assignment}`", highlight=False)
    return summary.exit_code
