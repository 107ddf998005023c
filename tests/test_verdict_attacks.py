"""Attacks on the verdicts themselves (issue 11, items 2, 5 and 6): no check gives points to a
forward that computes nothing real, NaN never passes where the reference is finite, and no value the
reference computed for a question reaches the student's code (tests/hostile/verdicts/)."""
import math

import pytest
import torch

from autograder import rules
from autograder.checks.registry import CheckFailed
from autograder.checks.standard import assert_samples_unchanged
from autograder.compare import allowed_error, value_problem
from autograder.config import Tolerance
from autograder.contract import is_task
from autograder.sandbox.launcher import ChildConnection

from .conftest import SOLUTIONS, full_outputs

ATTACKS = ("zeros", "nan", "identity", "probes")
VERDICTS = SOLUTIONS.parent.parent / "tests" / "hostile" / "verdicts"
CONSTRUCTOR_RULES = ("structure", "parameter_count")  # checks that read the constructors alone


def _no_work(attack: str) -> dict:
    """Every module of the reference with the attack's ``_answer`` installed on all its forwards."""
    patch = (VERDICTS / f"{attack}.py").read_text() + "\n\n" + (VERDICTS / "patch.py").read_text()
    return {path.stem: path.read_text() + "\n\n" + patch for path in SOLUTIONS.glob("*.py") if path.stem != "__init__"}


@pytest.mark.parametrize("attack", ATTACKS)
def test_forwards_that_compute_nothing_score_no_more_than_their_constructors(grader, make_submission, attack):
    report = grader.grade(make_submission(_no_work(attack)))
    constructors = {(c.component, c.id): s.points for c, s in grader.checks if c.rule in CONSTRUCTOR_RULES}
    # The homework tasks run with the reference's blocks, and analysis.py here is the reference's: their
    # points are honestly earned. Every block's points must come from its constructor alone.
    blocks = [c for c in report.checks if not is_task(c.component)]
    earned = {(c.component, c.check_id): c.score for c in blocks if c.score > 0}
    beyond = set(earned) - set(constructors)
    assert not beyond, f"{attack}: points beyond the constructors: {beyond}"
    assert sum(c.score for c in blocks) <= sum(constructors.values())
    if attack == "nan":
        outputs = full_outputs(report)
        assert all("NaN or infinity" in outputs[c.name] for c in blocks
                   if not c.passed and c.component != "TimeEmbedding" and (c.component, c.check_id) not in constructors)


def test_honest_partial_mistakes_keep_their_partial_credit(grader, make_submission):
    """The gate asks for real work, not for the right work: ReLU for SiLU, no time add, no residual
    each still earn every check they did before the gate existed."""
    source = (SOLUTIONS / "res_block.py").read_text()
    for find, replace, failing in [
        ("h = h + self.time_mlp(t_emb)[:, :, None, None]", "h = h",
         {"forward_matches", "gradients", "time_conditioning"}),
        ("return h + self.skip(x)", "return h", {"forward_matches", "gradients", "residual_identity"}),
        ("h = self.conv1(torch.relu(self.norm1(x)))", "h = self.conv1(torch.nn.functional.silu(self.norm1(x)))",
         {"forward_matches", "gradients"}),
    ]:
        report = grader.grade(make_submission({"res_block": source.replace(find, replace)}, name=replace[:8].strip()))
        assert {c.check_id for c in report.checks if c.component == "ResBlock" and not c.passed} == failing, replace


def test_no_answer_of_the_reference_is_sent_to_the_student(grader, monkeypatch):
    """Item 2: the MLP is fed features of our own, never the reference's sinusoid for a t the student
    is also asked about."""
    sent = []
    original = ChildConnection.send

    def recording(self, op, what, pace, **args):
        if op == "batch":
            sent.extend(value for program in args["programs"] for step in program["steps"]
                        for value in step["args"].get("args", []) if isinstance(value, torch.Tensor))
        return original(self, op, what, pace, **args)

    monkeypatch.setattr(ChildConnection, "send", recording)
    grader.grade(SOLUTIONS)
    timesteps = [t for t in sent if t.dim() == 1]
    features = [f for f in sent if f.dim() == 2 and f.is_floating_point()]
    assert timesteps and features
    for t in timesteps:
        for candidate in features:
            if candidate.shape[0] == t.shape[0] and candidate.shape[1] % 2 == 0 and candidate.shape[1] >= 4:
                truth = rules.sinusoid(t, candidate.shape[1])
                assert not rules.close(candidate, truth, 1e-4), "the reference's sinusoid was sent to the student"


def test_a_sinusoid_that_replays_what_its_mlp_was_fed_fails(grader, make_submission):
    source = (SOLUTIONS / "time_embedding.py").read_text() + (VERDICTS / "replay.py").read_text()
    report = grader.grade(make_submission({"time_embedding": source}))
    verdicts = {c.check_id: c.passed for c in report.checks if c.component == "TimeEmbedding"}
    assert not verdicts["sinusoid_values"]


# --- item 5: NaN and infinity ---------------------------------------------------------------------

def test_nan_never_matches_a_finite_reference_but_matches_its_own_kind():
    tolerance = Tolerance()
    truth = torch.tensor([1.0, -2.0, math.inf, math.nan], dtype=torch.float64)
    ref32 = truth.float()
    assert value_problem(ref32.clone(), truth, ref32, tolerance, "output") is None  # the same NaN, the same inf
    nan_at_finite = torch.tensor([math.nan, -2.0, math.inf, math.nan])
    assert value_problem(nan_at_finite, truth, ref32, tolerance, "output").kind == "nonfinite"
    other_infinity = torch.tensor([1.0, -2.0, -math.inf, math.nan])
    assert value_problem(other_infinity, truth, ref32, tolerance, "output").kind == "nonfinite"
    finite_at_nan = torch.tensor([1.0, -2.0, math.inf, 0.0])
    assert value_problem(finite_at_nan, truth, ref32, tolerance, "output").kind == "value"
    assert math.isfinite(allowed_error(truth, ref32, tolerance))  # an infinite reference allows nothing infinite
    # a float32 reference that overflowed where the float64 one is finite allows an infinite error: an
    # infinity from the student is still no match there
    finite = torch.tensor([1.0, 2.0], dtype=torch.float64)
    overflowed = torch.tensor([1.0, math.nan])
    assert value_problem(torch.tensor([1.0, math.inf]), finite, overflowed, tolerance, "output").kind == "nonfinite"


def test_nan_is_never_unchanged_nor_a_change():
    """NaN matches only an expected NaN; as a student's output it neither stays the same nor changes."""
    x = torch.ones(2, 3)
    nan = torch.full((2, 3), math.nan)
    assert not rules.close(nan, x) and not rules.close(x, nan)
    assert rules.close(nan, nan.clone())  # where the expected value itself is NaN
    assert not rules.changed(x, nan) and not rules.changed(nan, nan) and not rules.changed(nan, x)
    with pytest.raises(CheckFailed, match="NaN"):
        assert_samples_unchanged(nan, nan.clone(), [1], "x")
