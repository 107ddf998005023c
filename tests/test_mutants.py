"""Every known mistake loses points on exactly its component and is named there; every equivalent
gets full marks; no honest submission's feedback trips the redactor; and students' check.py reaches
the grader's verdict on every public check of every submission in the bank."""
import runpy

import pytest

from autograder.contract import COMPONENTS, INTEGRATION
from autograder.redact import HIDDEN
from autograder.release import release_student

from .conftest import ROOT, full_outputs
from .mutants import EQUIVALENTS, MUTANTS

# Modules the student's own SimpleUNet uses: a mistake there may also cost Integration points.
UNET_MODULES = {"time_embedding", "res_block", "down_block", "up_block", "unet"}
# Value mistakes that check.py used to pass (8/8) and that its public checks now catch, from
# properties alone: the sinusoid's formula, the residual, time sensitivity, the concat, the softmax rows.
CAUGHT_LOCALLY = {"sinusoid denominator dim/2 instead of dim/2 - 1", "cosines before sines", "no time injection",
                  "time added after conv2", "no residual", "concat order [skip, up(x)]", "softmax over the queries",
                  "attention without the residual", "the model without skips keeps its own initial weights",
                  "batches from the global generator, not one seeded per model",
                  "chapter's ResBlock(out_channels * 2) ignores skip_channels"}


def test_the_value_mistakes_caught_locally_are_in_the_bank():
    assert CAUGHT_LOCALLY <= {m.name for m in MUTANTS}


def test_the_bank_covers_every_component_and_every_edit_applies():
    """Cheap guard, no grading: a reference edit that no longer applies fails here by name."""
    names = [m.name for m in MUTANTS + EQUIVALENTS]
    assert len(names) == len(set(names)), "two bank entries share a name"
    uncovered = sorted({c.name for c in COMPONENTS} - {m.component for m in MUTANTS})
    assert not uncovered, f"no mistake in tests/mutants.py for {', '.join(uncovered)}: add one it must catch"
    assert {m.component for m in MUTANTS} <= {c.name for c in COMPONENTS}, "a mistake names no contract component"
    assert all(m.component is None for m in EQUIVALENTS)
    assert all(m.shows for m in MUTANTS), "every mistake says what its feedback must name"
    for entry in MUTANTS + EQUIVALENTS:
        assert entry.replacements(), entry.name


@pytest.fixture(scope="module")
def local_check(tmp_path_factory):
    """Students' check.py, loaded in this process from a release made with the real grading config
    (the same public cases as the grader's), and its public_checks.json."""
    release = tmp_path_factory.mktemp("bank-release") / "student"
    release_student(release, config=ROOT / "grading_config.yaml")
    script = runpy.run_path(str(release / "check.py"), run_name="check")
    return script, script["load_data"](release / "public_checks.json")


def _check_py_agrees(report, folder, local_check) -> None:
    """check.py's verdict on each public check equals the grader's, except where check.py says the
    component uses a dependency of the student's that fails (the grader uses a correct one there)."""
    script, data = local_check
    outcomes = script["run_checks"](folder, data)
    local = {(o.component, c.name): c.passed for o in outcomes if not o.note for c in o.checks}
    graded = {(c.component, c.name.split(": ", 1)[1]): c.passed for c in report.checks if c.visibility == "public"}
    compared = {key: passed for key, passed in graded.items() if key in local}
    assert {key: local[key] for key in compared} == compared
    assert {component for component, _ in compared} >= {o.component for o in outcomes if not o.note}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mistake_loses_points_on_its_component_only_and_is_named(grader, make_submission, local_check, mutant):
    folder = make_submission(mutant.replacements())
    report = grader.grade(folder)
    scores = report.component_scores()
    score, max_score = scores[mutant.component]
    assert score < max_score, f"{mutant.name}: not caught on {mutant.component}"
    for name, (score, max_score) in scores.items():
        if name == mutant.component or (name == INTEGRATION and mutant.module in UNET_MODULES):
            continue
        assert score == max_score, f"{mutant.name}: {name} lost points ({score}/{max_score})"
    if mutant.fails:
        assert sorted(f"{c.component}: {c.check_id}" for c in report.checks if not c.passed) == sorted(mutant.fails)
    outputs = full_outputs(report)
    said = "\n".join(outputs[c.name] for c in report.checks if c.component == mutant.component and not c.passed)
    assert mutant.shows in said, f"{mutant.name}: {mutant.shows!r} not in its feedback:\n{said[:3000]}"
    assert not any(HIDDEN in output for output in outputs.values()), f"{mutant.name}: our own words were redacted"
    if mutant.name in CAUGHT_LOCALLY:
        assert any(not c.passed for c in report.checks if c.component == mutant.component and c.visibility == "public")
    _check_py_agrees(report, folder, local_check)


@pytest.mark.parametrize("equivalent", EQUIVALENTS, ids=lambda m: m.name)
def test_equivalent_implementation_gets_full_marks(grader, make_submission, local_check, equivalent):
    folder = make_submission(equivalent.replacements())
    report = grader.grade(folder)
    failed = {c.name: c.output for c in report.checks if not c.passed}
    assert failed == {}
    _check_py_agrees(report, folder, local_check)
