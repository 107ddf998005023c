"""The ``autograder`` command: a thin layer over the API; errors become one line and an exit code."""
import importlib
import sys
import threading
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
DEVICE_OPTION = typer.Option("cpu", "--device", envvar="AUTOGRADER_DEVICE",
                             help="cpu, cuda, cuda:N or mps: where student modules run (refused if this machine lacks it)")

PROFILE_OPTION = typer.Option(None, "--hypothesis-profile",
                              help="ci (grading, the default), thorough or quick: overrides hypothesis.profile in the config")


def require_device_or_exit(device: str) -> None:
    """Refuse a device this machine lacks before any grading: one ``error:`` line, exit 2, nothing written."""
    from .machine import DeviceUnavailable, require_device

    try:
        require_device(device)
    except DeviceUnavailable as error:
        fail(str(error))


@app.command()
def grade(
    submission: Path = typer.Argument(..., help="folder (or .zip) with the student's modules (or one folder down)"),
    results: Path = typer.Option(Path("results.json"), "--results", help="where to write Gradescope's results.json"),
    config: Optional[Path] = CONFIG_OPTION,
    device: str = DEVICE_OPTION,
    report: Optional[Path] = typer.Option(None, "--report", help="also write the full report as JSON"),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="pictures in results.json's HTML (off: plain text, faster)"),
    hypothesis_profile: Optional[str] = PROFILE_OPTION,
):
    """Grade one submission and write Gradescope's results.json."""
    from .config import load_config
    from .intake.safe_text import safe_text
    from .sandbox.zygote_client import Zygote

    started = time.monotonic()
    require_device_or_exit(device)
    if not submission.exists():  # before the sandbox starts and says which protections it has
        fail(f"{safe_text(submission, 1000)}: no such file or folder; pass the folder (or .zip) that holds your modules")
    try:
        loaded = load_config(config).with_profile(hypothesis_profile)
    except AutograderError as error:
        fail(str(error))
    # The fork server imports torch (seconds) while this process does the same: a cold grade pays it once.
    zygote = Zygote(preload=loaded.packages.preload(), huge_pages=False)  # one grading: a few forks
    if figures:  # matplotlib's import (0.5 s) while this process waits for the fork server to start
        threading.Thread(target=importlib.import_module, args=("autograder.pages.feedback",), daemon=True).start()
    try:
        from .grader import grade_submission
        from .results import json_text, write_atomically

        graded = grade_submission(submission, loaded, device=device, figures=figures, zygote=zygote)
    except AutograderError as error:
        fail(str(error))
    finally:
        zygote.shutdown()
    write_atomically(results, json_text(_results_json(graded, loaded, figures)))
    if report:
        write_atomically(report, json_text(graded.to_dict()))
    for note in graded.notes:
        typer.echo(f"note: {note}", err=True)
    for reason in graded.review:
        typer.echo(f"needs review: {reason}", err=True)
    scores = graded.component_scores()
    width = max(map(len, [*scores, "total"]))  # the longest name sets the column: scores stay aligned
    for name, (score, max_score) in scores.items():
        typer.echo(f"{name:<{width}} {score:>6g} / {max_score:g}")
    typer.echo(f"{'total':<{width}} {graded.score:>6g} / {graded.max_score:g}   "
               f"({time.monotonic() - started:.1f} s) -> {results}")


def _results_json(graded, config, figures: bool) -> dict:
    """Gradescope's results.json for ``graded``, always: without pictures if they fail, and at
    worst a zero that says why (Gradescope shows nothing at all for a missing file)."""
    from .intake.safe_text import failure_message
    from .results import gradescope_results

    try:
        written = gradescope_results(graded, config.gradescope.hidden_visibility)
    except Exception as error:  # noqa: BLE001 -- a student's results must always exist
        return {"score": 0.0, "output": failure_message("The grader could not write these results; a person will "
                                                          "look at this submission", error), "tests": []}
    if figures:  # issue 14: outputs in HTML with the pictures Gradescope can show
        from .pages.feedback import gradescope_results as with_pictures

        try:
            written = with_pictures(written, graded)
        except Exception:  # noqa: BLE001 -- the plain-text results are still right
            pass
    return written


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
    out: Path = typer.Option(..., "--out", help="where OUT/students/<student>/ (hand out as is), OUT/staff/<student>/ and grades.csv go"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="worker processes (each imports torch once)"),
    regrade: bool = typer.Option(False, "--regrade", help="grade again students whose results.json exists"),
    only: Optional[str] = typer.Option(None, "--only", help="(re)grade just this student"),
    nbgrader: Optional[Path] = typer.Option(None, "--nbgrader", help="an nbgrader course folder: grade its submitted/ into its gradebook"),
    assignment: Optional[str] = typer.Option(None, "--assignment", help="the assignment's folder name (nbgrader layouts)"),
    config: Optional[Path] = CONFIG_OPTION,
    figures: bool = typer.Option(True, "--figures/--no-figures", help="pictures in the feedback pages (off: faster)"),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="a Dask scheduler's address (tcp://host:8786): grade on its workers instead of -j local ones"),
    device: str = DEVICE_OPTION,
    hypothesis_profile: Optional[str] = PROFILE_OPTION,
):
    """Grade many submissions in parallel; resumable; writes grades.csv, feedback pages and report.html."""
    if scheduler is None:  # on a cluster the workers' devices count: each worker's grader checks its own
        require_device_or_exit(device)
    if hypothesis_profile is not None:
        from .config import load_config

        try:
            config = load_config(config).with_profile(hypothesis_profile)
        except AutograderError as error:
            fail(str(error))
    if nbgrader is not None:
        if assignment is None:
            fail("--nbgrader needs --assignment NAME (the folder name under submitted/<student>/)")
        try:
            from .nbgrader_course import grade_course
        except ImportError as error:
            fail(f"nbgrader course grading is not available in this version ({error})")
        try:
            code = grade_course(nbgrader, assignment, out, jobs, regrade, config=config, only=only, figures=figures,
                                scheduler=scheduler, device=device)
        except AutograderError as error:
            fail(str(error))
        raise typer.Exit(int(code or 0))
    if submissions is None:
        fail("pass the folder (or Gradescope export zip) with the submissions, or --nbgrader COURSE_DIR")
    from .batch import grade_batch

    try:
        summary = grade_batch(submissions, out, jobs=jobs, regrade=regrade, only=only, config=config,
                              assignment=assignment, figures=figures, scheduler=scheduler, device=device)
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
def doctor(
    config: Optional[Path] = CONFIG_OPTION,
    submissions: Optional[Path] = typer.Option(None, "--submissions", help="a class's hand-ins: can student code read them?"),
):
    """Before grading: which sandbox this machine gives, what student code could reach, and how to fix each."""
    from .config import load_config
    from .doctor import diagnose

    try:
        loaded = load_config(config)
    except AutograderError as error:
        fail(str(error))
    others = sorted(p for p in submissions.rglob("*") if p.is_file())[:50] if submissions else []
    findings = diagnose(loaded, others)
    marks = {"ok": "ok  ", "warn": "WARN", "bad": "FIX "}
    for finding in findings:
        typer.echo(f"{marks[finding.level]} {finding.topic}: {finding.says}")
        for command in finding.fixes:
            typer.echo(f"       $ {command}")
    bad = sum(f.level == "bad" for f in findings)
    typer.echo(f"{bad} item{'s' if bad != 1 else ''} to fix before grading" if bad else "ready to grade")
    raise typer.Exit(int(ExitCode.FAILURES if bad else ExitCode.OK))


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


@app.command()
def prepare(config: Optional[Path] = CONFIG_OPTION, device: str = DEVICE_OPTION):
    """Save the reference's results on the grader's cases beside the reference: a fresh grader then starts warm.

    Any grading saves them when they are missing or stale; this does it ahead (Gradescope's setup.sh
    runs it once, so that every submission's run starts warm).
    """
    from .config import load_config
    from .grader import Grader

    started = time.monotonic()
    require_device_or_exit(device)
    try:
        loaded = load_config(config)
        with Grader(loaded, device=device) as grader:
            if grader.started_warm:
                typer.echo(f"{loaded.reference_results()} already holds this config's results: fresh graders start warm")
                return
            report = grader.grade(loaded.reference_dir())
            saved = grader.save_results()
    except AutograderError as error:
        fail(str(error))
    if report.score < report.max_score:
        fail(f"the reference scored {report.score:g}/{report.max_score:g} on its own checks: fix the reference or the "
             "config (`autograder grade` on it shows which checks fail) before grading anyone", ExitCode.FAILURES)
    if saved is None:
        fail(f"could not write into {loaded.reference_results()}: make {loaded.reference_dir().parent} writable for this user")
    typer.echo(f"saved the reference's results ({saved.stat().st_size / 2**20:.0f} MiB) to {saved} "
               f"in {time.monotonic() - started:.1f} s: fresh graders of this config start warm")


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
