"""Every known mistake loses points on exactly its component; every equivalent gets full marks."""
import pytest

from autograder.contract import COMPONENTS, INTEGRATION

from .mutants import EQUIVALENTS, MUTANTS

# Modules the student's own SimpleUNet uses: a mistake there may also cost Integration points.
UNET_MODULES = {"time_embedding", "res_block", "down_block", "up_block", "unet"}


def test_the_bank_covers_every_component_and_every_edit_applies():
    """Cheap guard, no grading: a reference edit that no longer applies fails here by name."""
    names = [m.name for m in MUTANTS + EQUIVALENTS]
    assert len(names) == len(set(names)), "two bank entries share a name"
    assert {m.component for m in MUTANTS} == {c.name for c in COMPONENTS}
    assert all(m.component is None for m in EQUIVALENTS)
    for entry in MUTANTS + EQUIVALENTS:
        assert entry.replacements(), entry.name


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mistake_loses_points_on_its_component_only(grader, make_submission, mutant):
    scores = grader.grade(make_submission(mutant.replacements())).component_scores()
    score, max_score = scores[mutant.component]
    assert score < max_score, f"{mutant.name}: not caught on {mutant.component}"
    for name, (score, max_score) in scores.items():
        if name == mutant.component or (name == INTEGRATION and mutant.module in UNET_MODULES):
            continue
        assert score == max_score, f"{mutant.name}: {name} lost points ({score}/{max_score})"


@pytest.mark.parametrize("equivalent", EQUIVALENTS, ids=lambda m: m.name)
def test_equivalent_implementation_gets_full_marks(grader, make_submission, equivalent):
    report = grader.grade(make_submission(equivalent.replacements()))
    failed = {c.name: c.output for c in report.checks if not c.passed}
    assert failed == {}
