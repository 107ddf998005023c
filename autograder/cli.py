"""The ``autograder`` command: a thin layer over the API; errors become one line and an exit code."""
import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from .errors import AutograderError, ExitCode

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Autograder for the UNet chapter.")
REPO_ROOT = Path(__file__).resolve().parent.parent


def fail(message: str, code: ExitCode = ExitCode.USAGE_ERROR):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(code))


CONFIG_OPTION = typer.Option(None, "--config", help="grading_config.yaml (default: the one beside the package)")


@app.command()
def grade(
    submission: Path = typer.Argument(..., help="folder (or .zip) with the student's modules (or one folder down)"),
    results: Path = typer.Option(Path("results.json"), "--results", help="where to write Gradescope's results.json"),
    config: Optional[Path] = CONFIG_OPTION,
    device: str = typer.Option("cpu", "--device", help="cpu or cuda: where student modules run"),
    report: Optional[Path] = typer.Option(None, "--report", help="also write the full report as JSON"),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="pictures in results.json's HTML (off: plain text, faster)"),
):
    """Grade one submission and write Gradescope's results.json."""
    from .config import load_config
    from .grader import grade_submission
    from .results import gradescope_results, write_atomically

    started = time.monotonic()
    if not submission.exists():  # before the sandbox starts and says which protections it has
        fail(f"{submission}: no such file or folder; pass the folder (or .zip) that holds your modules")
    try:
        loaded = load_config(config)
        graded = grade_submission(submission, loaded, device=device, figures=figures)
    except AutograderError as error:
        fail(str(error))
    written = gradescope_results(graded, loaded.gradescope.hidden_visibility)
    if figures:  # issue 14: outputs in HTML with the pictures Gradescope can show
        from .pages.feedback import gradescope_results as with_pictures

        written = with_pictures(written, graded)
    write_atomically(results, json.dumps(written, indent=2) + "\n")
    if report:
        write_atomically(report, json.dumps(graded.to_dict(), indent=2) + "\n")
    for note in graded.notes:
        typer.echo(f"note: {note}", err=True)
    for reason in graded.review:
        typer.echo(f"needs review: {reason}", err=True)
    for name, (score, max_score) in graded.component_scores().items():
        typer.echo(f"{name:<14} {score:>6g} / {max_score:g}")
    typer.echo(f"{'total':<14} {graded.score:>6g} / {graded.max_score:g}   ({time.monotonic() - started:.1f} s) -> {results}")


@app.command()
def release(
    solutions: Path = typer.Option(REPO_ROOT / "solutions" / "unet", "--solutions", help="the reference package"),
    out: Optional[Path] = typer.Option(
        None, "--out", help="write the full student release here (stubs, notebook, public checks, README)"),
    nbgrader: Optional[Path] = typer.Option(
        None, "--nbgrader", help="an nbgrader course folder: lay out source/ASSIGNMENT/ and nbgrader_config.py"),
    assignment: str = typer.Option("unet", "--assignment", help="the assignment's name in the nbgrader course"),
    config: Optional[Path] = CONFIG_OPTION,
):
    """Release the exercise. Without options: regenerate the stubs in assignments/unet/."""
    from .release import release_nbgrader, release_stubs, release_student

    try:
        if out is None and nbgrader is None:
            target = REPO_ROOT / "assignments" / "unet"
            written = release_stubs(solutions, target)
            typer.echo(f"wrote {len(written)} stub modules to {target}")
        if out is not None:
            written = release_student(out, solutions=solutions, config=config)
            typer.echo(f"wrote the student release ({len(written)} files) to {out}; "
                       f"students run `python check.py` there")
        if nbgrader is not None:
            written = release_nbgrader(nbgrader, assignment, solutions=solutions, config=config)
            typer.echo(f"wrote {nbgrader / 'source' / assignment} ({len(written) - 1} files)")
            settings = written[-1]
            if settings.name != "nbgrader_config.py":
                typer.echo(f"{nbgrader / 'nbgrader_config.py'} was not ours, so it was left alone: our settings went "
                           f"to {settings}; merge them into it by hand")
            else:
                typer.echo(f"wrote our settings to {settings}")
            typer.echo(f"next, with the virtualenv on PATH (`source .venv/bin/activate`): `cd {nbgrader} && "
                       f"nbgrader generate_assignment {assignment}`")
    except AutograderError as error:
        fail(str(error))


@app.command()
def check(
    path: Path = typer.Argument(Path("."), help="the folder with the modules (or the release folder above it)"),
    only: Optional[str] = typer.Option(None, "--only", help="check just this component, e.g. ResBlock"),
    data: Optional[Path] = typer.Option(None, "--data", help="a release's public_checks.json (default: found "
                                        "beside PATH, else computed from the reference)"),
    config: Optional[Path] = CONFIG_OPTION,
):
    """Run the PUBLIC checks on a folder, in seconds: per component pass/fail, smallest failing input, hint."""
    from .public_check import run_public_checks

    try:
        code = run_public_checks(path, only=only, data=data, config=config)
    except AutograderError as error:
        fail(str(error))
    raise typer.Exit(ExitCode.OK if code == 0 else ExitCode.FAILURES)


@app.command()
def batch(
    submissions: Optional[Path] = typer.Argument(
        None, help="folder of per-student folders/zips, nbgrader course or submitted/, or a Gradescope export (zip)"),
    out: Path = typer.Option(..., "--out", help="where OUT/<student>/results.json, feedback.md and grades.csv go"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="worker processes (each imports torch once)"),
    regrade: bool = typer.Option(False, "--regrade", help="grade again students whose results.json exists"),
    only: Optional[str] = typer.Option(None, "--only", help="(re)grade just this student"),
    nbgrader: Optional[Path] = typer.Option(None, "--nbgrader", help="an nbgrader course folder: grade its submitted/ into its gradebook"),
    assignment: Optional[str] = typer.Option(None, "--assignment", help="the assignment's folder name (nbgrader layouts)"),
    config: Optional[Path] = CONFIG_OPTION,
    figures: bool = typer.Option(True, "--figures/--no-figures", help="pictures in the feedback pages (off: faster)"),
):
    """Grade many submissions in parallel; resumable; writes grades.csv, feedback pages and report.html."""
    if nbgrader is not None:
        if assignment is None:
            fail("--nbgrader needs --assignment NAME (the folder name under submitted/<student>/)")
        try:
            from .nbgrader_course import grade_course
        except ImportError as error:
            fail(f"nbgrader course grading is not available in this version ({error})")
        try:
            code = grade_course(nbgrader, assignment, out, jobs, regrade, config=config, only=only, figures=figures)
        except AutograderError as error:
            fail(str(error))
        raise typer.Exit(int(code or 0))
    if submissions is None:
        fail("pass the folder (or Gradescope export zip) with the submissions, or --nbgrader COURSE_DIR")
    from .batch import grade_batch

    try:
        summary = grade_batch(submissions, out, jobs=jobs, regrade=regrade, only=only, config=config,
                              assignment=assignment, figures=figures)
    except AutograderError as error:
        fail(str(error))
    raise typer.Exit(summary.exit_code)


@app.command()
def report(
    out: Path = typer.Argument(..., help="a batch's output folder (OUT/)"),
    config: Optional[Path] = CONFIG_OPTION,
):
    """Rebuild OUT/report.html and OUT/report.json from the students on disk (a batch does this at its end)."""
    from .config import load_config
    from .pages import write_class_report

    if not out.is_dir():
        fail(f"{out}: no such folder; pass the --out folder of a batch")
    try:
        written = write_class_report(out, load_config(config))
    except AutograderError as error:
        fail(str(error))
    typer.echo(f"wrote {written} and {written.with_suffix('.json')}")


@app.command()
def secrets(
    config: Optional[Path] = CONFIG_OPTION,
    make_private: bool = typer.Option(False, "--make-private", help="first take group and other permissions off "
                                      "every copy of the grader, the reference and the config (setup.sh does)"),
):
    """Check that student code could not read the grader, the reference or the config, bubblewrap or not."""
    import os

    from .config import load_config
    from .sandbox.exposure import make_private as lock, readable_by_permissions, secret_paths, secret_roots
    from .sandbox.launcher import child_settings

    try:
        loaded = load_config(config)
    except AutograderError as error:
        fail(str(error))
    reference, source = loaded.reference_dir(), loaded.source_path
    if make_private:
        for root in lock(reference, source):
            typer.echo(f"private: {root}")
    if os.geteuid() != 0:
        fail("only a grader run as root gives student code a uid of its own, so only root can check this; "
             "rerun as root (setup.sh runs as root)")
    readable = readable_by_permissions(reference, source, child_settings(loaded.limits))
    if readable:
        roots = " ".join(str(r) for r in secret_roots(reference, source))
        fail(f"student code could read {len(readable)} of them, e.g. {readable[0]}: run "
             f"`chmod -R go-rwx {roots}` or this command with --make-private")
    typer.echo(f"{len(secret_paths(reference, source))} secret files (every copy of the grader, the reference, the "
               "config): none readable by student code, even without bubblewrap")


export_app = typer.Typer(no_args_is_help=True, help="Export the grader for a course platform.")
app.add_typer(export_app, name="export")


@export_app.command("gradescope")
def export_gradescope(
    bundle: Path = typer.Argument(..., help="the autograder zip to write, e.g. autograder.zip"),
    config: Optional[Path] = CONFIG_OPTION,
):
    """Build Gradescope's autograder zip (setup.sh, run_autograder, grader, config, reference)."""
    from .release.gradescope import build_gradescope_bundle

    try:
        written = build_gradescope_bundle(bundle, config=config)
    except AutograderError as error:
        fail(str(error))
    typer.echo(f"wrote {written}: upload it as the assignment's autograder (it holds the hidden reference)")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
