"""An endless loop costs about one call timeout per component, not one per check, and the checks
that need no forward pass are still decided (the component's ``Budget``)."""
import pytest

from autograder.grader import Grader
from autograder.sandbox import launcher

from .conftest import SOLUTIONS, full_outputs
from .test_hostile import fast_config

LOOP = "        while True:  # a forward that never returns\n            pass\n"


@pytest.fixture(scope="module")
def quick_grader(config):
    with Grader(fast_config(config)) as shared:  # 3 s a call
        yield shared


def test_a_forward_that_never_returns_waits_one_full_call_timeout(quick_grader, make_submission, monkeypatch):
    source = (SOLUTIONS / "res_block.py").read_text()
    folder = make_submission({"res_block": source.replace("    def forward(self, x, t_emb):\n",
                                                          "    def forward(self, x, t_emb):\n" + LOOP, 1)})
    full_waits = []
    receive = launcher.StudentComponent._receive_frame

    def counting(self, what, timeout, started):
        try:
            return receive(self, what, timeout, started)
        except launcher.SandboxFatal:
            if timeout >= quick_grader.config.limits.call_timeout_s:
                full_waits.append((self.plan.target_symbols, what))
            raise

    monkeypatch.setattr(launcher.StudentComponent, "_receive_frame", counting)
    report = quick_grader.grade(folder)
    outputs = full_outputs(report)
    res_block = {c.check_id: c for c in report.checks if c.component == "ResBlock"}
    assert res_block["structure"].passed  # needs no forward pass: decided all the same
    assert not any(c.passed for i, c in res_block.items() if i != "structure")
    assert "killed after 3 s in ResBlock.forward" in "\n".join(outputs[c.name] for c in res_block.values())
    # one full wait for ResBlock, one for the student's own UNet (which runs the same ResBlock); none more
    assert sorted(symbols for symbols, _ in full_waits) == [("ResBlock",), ("SimpleUNet",)], full_waits
    scores = report.component_scores()
    for name in ("TimeEmbedding", "DownBlock", "UpBlock", "SimpleUNet", "SelfAttention", "AttnResBlock"):
        assert scores[name][0] == scores[name][1], name  # graded with the reference ResBlock
