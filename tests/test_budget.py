"""An endless loop costs about one call timeout per component, not one per check, and the checks
that need no forward pass are still decided (the component's ``Budget``)."""
import re

import pytest

from autograder.grader import Grader
from autograder.sandbox import launcher

from .conftest import SOLUTIONS, full_outputs
from .release_support import short_limits

LOOP = "        while True:  # a forward that never returns\n            pass\n"


@pytest.fixture(scope="module")
def quick_grader(config):
    with Grader(short_limits(config)) as shared:  # 3 s a call
        yield shared


def test_a_forward_that_never_returns_waits_one_full_call_timeout(quick_grader, make_submission, monkeypatch):
    source = (SOLUTIONS / "res_block.py").read_text()
    folder = make_submission({"res_block": source.replace("    def forward(self, x, t_emb):\n",
                                                          "    def forward(self, x, t_emb):\n" + LOOP, 1)})
    full_waits = []
    receive = launcher.ChildConnection.receive_frame

    def counting(self, what, timeout, started, pace):
        try:
            return receive(self, what, timeout, started, pace)
        except launcher.SandboxFatal:
            if timeout >= quick_grader.config.limits.call_timeout_s:
                full_waits.append((self.serving, what))
            raise

    monkeypatch.setattr(launcher.ChildConnection, "receive_frame", counting)
    report = quick_grader.grade(folder)
    outputs = full_outputs(report)
    res_block = {c.check_id: c for c in report.checks if c.component == "ResBlock"}
    assert res_block["structure"].passed  # needs no forward pass: decided all the same
    assert not any(c.passed for i, c in res_block.items() if i != "structure")
    said = "\n".join(outputs[c.name] for c in res_block.values())
    # killed in the batch asked ahead (the reference's questions: ResBlock.forward among them), then each
    # check alone, named where it stopped
    assert re.search(r"killed after 3 s in [^)]*ResBlock\.forward", said) and "in ResBlock.forward" in said, said
    # one full wait for ResBlock, one for the student's own UNet (which runs the same ResBlock); none more
    assert sorted(symbols for symbols, _ in full_waits) == [("ResBlock",), ("SimpleUNet",)], full_waits
    scores = report.component_scores()
    for name in ("TimeEmbedding", "DownBlock", "UpBlock", "SimpleUNet", "SelfAttention", "AttnResBlock"):
        assert scores[name][0] == scores[name][1], name  # graded with the reference ResBlock


SLOW_EXPERIMENT = """

import time as _time

_reference_run = skip_ablation


def skip_ablation(steps=STEPS, seed=0):
    _time.sleep(3.5)  # longer than a call may take: only an experiment's limit lets it finish
    return _reference_run(steps, seed)
"""

ENDLESS_EXPERIMENT = """

def skip_ablation(steps=STEPS, seed=0):
    while True:  # a training loop that never ends
        pass
"""


@pytest.fixture(scope="module")
def experiment_grader(config):
    """Calls may take 3 s, a training experiment 20 s (and the CPU limit is far from both)."""
    quick = short_limits(config)
    limits = quick.limits.model_copy(update={"experiment_timeout_s": 20, "component_timeout_s": 60, "cpu_s": 120})
    with Grader(quick.model_copy(update={"limits": limits})) as shared:
        yield shared


def _waits(monkeypatch) -> list:
    """(what, timeout) of every answer the parent waits for, from now on."""
    waits = []
    receive = launcher.ChildConnection.receive_frame

    def recording(self, what, timeout, started, pace):
        waits.append((what, timeout))
        return receive(self, what, timeout, started, pace)

    monkeypatch.setattr(launcher.ChildConnection, "receive_frame", recording)
    return waits


def test_a_slow_but_honest_experiment_gets_the_experiment_limit_not_the_call_limit(
        experiment_grader, make_submission, monkeypatch):
    source = (SOLUTIONS / "analysis.py").read_text()
    waits = _waits(monkeypatch)
    report = experiment_grader.grade(make_submission({"analysis": source + SLOW_EXPERIMENT}))
    lost = {c.name: c.output for c in report.checks if not c.passed}
    assert report.score == report.max_score, lost
    limits = experiment_grader.config.limits
    experiments = [timeout for what, timeout in waits if what.startswith("skip_ablation")]
    assert experiments and all(timeout > limits.call_timeout_s for timeout in experiments), waits
    others = [timeout for what, timeout in waits if not what.startswith("skip_ablation")]
    assert others and max(others) <= limits.call_timeout_s, waits


def test_an_endless_experiment_costs_one_experiment_limit_and_only_its_own_checks(
        experiment_grader, make_submission, monkeypatch):
    source = (SOLUTIONS / "analysis.py").read_text()
    waits = _waits(monkeypatch)
    report = experiment_grader.grade(make_submission({"analysis": source + ENDLESS_EXPERIMENT}))
    outputs = full_outputs(report)
    failed = {c.check_id for c in report.checks if not c.passed}
    run_checks = {"experiment_budget", "experiment_metrics", "experiment_reproducible", "skips_win",  # each needs the
                  "same_start", "same_batches", "batches_drawn_with_replacement", "training_task"}  # run that never ended
    assert failed == run_checks, outputs
    said = "\n".join(outputs[c.name] for c in report.checks if c.check_id in failed)
    assert "killed after 20 s in skip_ablation(...)" in said
    # the hang was in skip_ablation: NoSkipUNet, the same component's other code, keeps its full limit
    no_skip = [timeout for what, timeout in waits if what.startswith("NoSkipUNet")]
    assert no_skip and min(no_skip) == experiment_grader.config.limits.call_timeout_s, waits
