"""The blocks' public rules (``autograder/rules/``) run in-process, as check.py runs them: each names
the part that is wrong. Cheap: no grader, no child."""
import types

import pytest
import torch

from autograder import rules
from autograder.checks.public_checks import case_record, expectation
from autograder.reference import Reference
from autograder.strategies import attention_cases, released_cases, res_block_cases

from .conftest import SOLUTIONS

RESIDUAL = "out = x + self.out(attn)"
SOFTMAX = "torch.softmax(scores, dim=-1)"
ATTENTION_MISTAKES = {  # (the edit, the word the hint must lead with)
    "the residual adds norm(x)": ((RESIDUAL, "out = self.norm(x) + self.out(attn)"), "residual"),
    "no residual": ((RESIDUAL, "out = self.out(attn)"), "residual"),
    "softmax over the queries": ((SOFTMAX, "torch.softmax(scores, dim=1)"), "softmax"),
    "no softmax": ((SOFTMAX, "scores"), "softmax"),
}


def _self_attention(source: str, reference: Reference):
    """The student's SelfAttention from ``source``; its relative imports reach the reference's package."""
    package = reference.symbol("attention", "SelfAttention").__module__.rpartition(".")[0]
    module = types.ModuleType(f"{package}.student_attention")
    module.__package__ = package
    exec(compile(source, "attention.py", "exec"), module.__dict__)
    return module.SelfAttention


@pytest.mark.parametrize("mistake", ATTENTION_MISTAKES)
def test_constant_values_blames_the_residual_or_the_softmax_whichever_is_wrong(mistake):
    (old, new), blamed = ATTENTION_MISTAKES[mistake]
    source = (SOLUTIONS / "attention.py").read_text()
    assert old in source
    reference = Reference(SOLUTIONS)
    student = _self_attention(source.replace(old, new), reference)
    for case in released_cases(attention_cases(), 2):
        with pytest.raises(rules.Failed) as failed:
            rules.constant_values(rules.LocalView(student), case_record(case), expectation("constant_values", case,
                                                                                            reference))
        hint = failed.value.hint.lower()
        other = {"residual": "softmax", "softmax": "residual"}[blamed]
        assert blamed in hint and other not in hint, (mistake, failed.value.hint)
    reference_class = reference.symbol("attention", "SelfAttention")
    rules.constant_values(rules.LocalView(reference_class), case_record(case),
                          expectation("constant_values", case, reference))  # the reference passes


def test_a_rule_that_sets_the_contracts_weights_loads_them_by_position_where_the_names_differ():
    """``time_mlp`` as ``Sequential(SiLU, Linear)``: the hidden checks load the weights by position
    (``checks.common.transplant``), and so do the public rules, in check.py and in the grader alike:
    the residual is judged, the mistake costs the checks that see it (structure, forward), not this one."""
    from autograder.strategies import res_block_cases

    source = (SOLUTIONS / "res_block.py").read_text()
    old = "self.time_mlp = nn.Linear(time_emb_dim, out_channels)"
    assert old in source
    reference = Reference(SOLUTIONS)
    package = reference.symbol("res_block", "ResBlock").__module__.rpartition(".")[0]
    module = types.ModuleType(f"{package}.student_res_block")
    module.__package__ = package
    exec(compile(source.replace(old, "self.time_mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, out_channels))"),
                 "res_block.py", "exec"), module.__dict__)
    for case in released_cases(res_block_cases(), 3):
        rules.residual(rules.LocalView(module.ResBlock), case_record(case), expectation("residual", case, reference))


def test_the_structure_rule_names_a_modules_own_constants_when_its_names_differ():
    """A TimeEmbedding with a buffer of its own and its MLP named ``net``: the structure rule says what
    differs and that the buffer is fine (the rule crashed on it, and check.py blamed the student)."""
    from autograder.strategies import time_embedding_cases

    source = (SOLUTIONS / "time_embedding.py").read_text()
    assert source.count("self.mlp") >= 1
    edited = source.replace("self.mlp", "self.net").replace(
        "        self.net = nn.Sequential(", "        self.register_buffer('scale', torch.ones(1))\n        self.net = nn.Sequential(", 1)
    reference = Reference(SOLUTIONS)
    package = reference.symbol("time_embedding", "TimeEmbedding").__module__.rpartition(".")[0]
    module = types.ModuleType(f"{package}.student_time_embedding")
    module.__package__ = package
    exec(compile(edited, "time_embedding.py", "exec"), module.__dict__)
    case = released_cases(time_embedding_cases(), 1)[0]
    with pytest.raises(rules.Failed) as failed:
        rules.structure(rules.LocalView(module.TimeEmbedding), case_record(case), expectation("structure", case, reference))
    assert "yours lacks: mlp.0.weight" in str(failed.value)
    assert "Your own buffers and frozen constants (scale) are fine" in (failed.value.hint or "")


def test_a_forward_whose_option_is_misnamed_does_real_work_and_only_the_weights_rule_fails():
    """``return_weights`` named ``need_weights`` (nn.MultiheadAttention's name): the plain forward is
    right, so the gate passes it; the rule that asks for the weights fails on the student's TypeError,
    and the hint names the keyword the docstring gives."""
    from autograder.checks.hints import explain
    from autograder.checks.public_checks import gate_data

    source = (SOLUTIONS / "attention.py").read_text()
    code = source.index("def forward")  # the code, not the docstring
    reference = Reference(SOLUTIONS)
    student = _self_attention(source[:code] + source[code:].replace("return_weights", "need_weights"), reference)
    rules.real_work(rules.LocalView(student), gate_data("SelfAttention", reference))
    case = released_cases(attention_cases(), 1)[0]
    with pytest.raises(TypeError) as raised:
        rules.weights_shape(rules.LocalView(student), case_record(case), expectation("weights_shape", case, reference))
    assert "return_weights" in explain(f"TypeError: {raised.value}", "SelfAttention")
    assert RESIDUAL in source
    idle = _self_attention(source.replace(RESIDUAL, "out = 0 * x"), reference)
    with pytest.raises(rules.Failed):  # the gate still fails a forward that does no work
        rules.real_work(rules.LocalView(idle), gate_data("SelfAttention", reference))


def test_weights_of_ours_are_drawn_only_for_parameters_about_the_contracts_size(monkeypatch):
    """A module whose weights do not load gets weights of ours for its own parameters -- unless those hold
    far more than the contract's: their shapes are what the module reports (a parameter expanded from one
    number is 4 bytes to it), and drawing them cost the grader gigabytes, kept in a cache (red team)."""
    from autograder.rules.cases import module_with_weights

    reference = Reference(SOLUTIONS)
    base = reference.symbol("res_block", "ResBlock")

    class Renamed(base):  # conv1 renamed: the contract's weights do not load by name, nor by position below
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.conv_a = self.conv1
            del self.conv1
            self.huge = None

        def forward(self, x, t_emb):
            self.conv1 = self.conv_a
            try:
                return super().forward(x, t_emb)
            finally:
                del self.conv1

    class Expanded(Renamed):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.huge = torch.nn.Parameter(torch.zeros(1).expand(1 << 15, 1 << 15))

    drawn = []
    original = torch.randn

    def counted_randn(*args, **kwargs):
        result = original(*args, **kwargs)
        drawn.append(result.numel())
        assert result.numel() < 1 << 24, "drew a tensor sized by the module's own report"
        return result

    monkeypatch.setattr(torch, "randn", counted_randn)
    released = released_cases(res_block_cases(), 1)[0]
    case, expect = case_record(released), expectation("residual", released, reference)
    state = rules.our_weights(case, expect)
    for cls, ours in ((Renamed, True), (Expanded, False)):
        drawn.clear()
        module = module_with_weights(rules.LocalView(cls), case, state)
        assert isinstance(module, cls)
        assert bool(drawn) == ours  # the renamed module's own parameters get ours; the expanded one keeps its own
