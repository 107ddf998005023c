"""Code written the way the field writes it, ported into our contract (tests/data/field/<port>/):
what computes the contract's function gets full marks; each real difference loses points on its
component only, on the check that judges it, with a message that names it.

Each port is the reference with the named modules replaced. The expected phrases were written from
the port's code (what differs and where), not copied from a grading run.
"""
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.contract import INTEGRATION

from .conftest import SOLUTIONS, full_outputs

FIELD = Path(__file__).resolve().parent / "data" / "field"
UNET_FILES = {"time_embedding", "res_block", "down_block", "up_block", "unet"}  # what Integration runs


@dataclass(frozen=True)
class Port:
    folder: str
    component: str | None = None  # loses points; None: equivalent, full marks
    check: str = ""  # the check that must fail and say ...
    says: tuple = ()  # ... each of these phrases


EQUIVALENT = [
    Port("zero_init"),  # conv2 and the output conv start at zero (guided/improved/latent diffusion)
    Port("freq_buffer"),  # frequencies in a registered buffer; attention's scale a frozen parameter
    Port("groupnorm32"),  # an upcasting GroupNorm subclass, 'same' padding, QKVAttention's split scale
]
DIFFERENT = [
    Port("eps_1e6", "ResBlock", "structure", ("norm1 is an nn.GroupNorm with eps 1e-06; the contract's has 1e-05",)),
    Port("groupnorm32_one_group", "ResBlock", "structure", ("is an nn.GroupNorm with the number of groups 1; the "
                                                            "contract's has 8", "math.gcd(8, C)")),
    Port("guided_timestep", "TimeEmbedding", "sinusoid_values",
         ("the cosines come first and the frequencies divide by dim/2 instead of dim/2 - 1",)),
    Port("silu_for_relu", "ResBlock", "forward_matches", ("conv1 receives SiLU(norm1's output)", "relu(norm1(x))")),
    Port("act_on_temb", "ResBlock", "forward_matches", ("time_mlp receives SiLU(t_emb)", "t_emb itself")),
    Port("norm2_unused", "ResBlock", "forward_matches", ("norm2 is never called",)),
    Port("ddpm_dropout", "ResBlock", "structure", ("Dropout(p=0.1) that the contract does not have",)),
    Port("groupnorm_32_groups", "ResBlock", "output_shape", ("GroupNorm(32, 2) cannot split 2 channels into 32 groups",
                                                             "for C=2 that is 2 groups")),
    Port("no_padding_down", "DownBlock", "structure", ("down is an nn.Conv2d with the padding (0, 0); the contract's "
                                                       "has (1, 1)",)),
    Port("cuda", "TimeEmbedding", "sinusoid_shape", ("Grading runs on the CPU", "device=t.device")),
]


def _submission(tmp_path, port: Port) -> Path:
    folder = tmp_path / port.folder
    shutil.copytree(SOLUTIONS, folder)
    for module in (FIELD / port.folder).glob("*.py"):
        shutil.copy(module, folder / module.name)
    return folder


def test_every_port_folder_is_listed():
    assert sorted(p.folder for p in EQUIVALENT + DIFFERENT) == sorted(p.name for p in FIELD.iterdir() if p.is_dir())


@pytest.mark.parametrize("port", EQUIVALENT, ids=lambda p: p.folder)
def test_code_that_computes_the_contract_gets_full_marks(grader, tmp_path, port):
    report = grader.grade(_submission(tmp_path, port))
    assert {c.name: c.output for c in report.checks if not c.passed} == {}


@pytest.mark.parametrize("port", DIFFERENT, ids=lambda p: p.folder)
def test_each_difference_loses_points_on_its_component_and_is_named(grader, tmp_path, port):
    report = grader.grade(_submission(tmp_path, port))
    scores = report.component_scores()
    assert scores[port.component][0] < scores[port.component][1]
    touched = {p.stem for p in (FIELD / port.folder).glob("*.py")}
    for name, (score, most) in scores.items():
        if name != port.component and not (name == INTEGRATION and touched & UNET_FILES):
            assert score == most, f"{port.folder}: {name} lost points"
    outputs = full_outputs(report)
    failed = next(c for c in report.checks if c.component == port.component and c.check_id == port.check)
    assert not failed.passed, f"{port.folder}: {port.check} passed"
    for phrase in port.says:
        assert phrase in outputs[failed.name], f"{port.folder}: {phrase!r} not in:\n{outputs[failed.name]}"


def test_one_wrong_up_operator_costs_neither_skip_channels_nor_concat_order(grader, make_submission):
    """Each check judges its own feature: a kernel-2 ConvTranspose2d is up's mistake alone."""
    source = (SOLUTIONS / "up_block.py").read_text().replace(
        "nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)",
        "nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)")
    report = grader.grade(make_submission({"up_block": source}))
    verdicts = {c.check_id: c.passed for c in report.checks if c.component == "UpBlock"}
    assert verdicts["skip_channels"] and verdicts["concat_order"]
    assert not verdicts["structure"] and not verdicts["forward_matches"]
    assert "up.weight is [1, 1, 2, 2] in yours, [1, 1, 4, 4] in the contract" in full_outputs(report)["UpBlock: "
                                                                                                       "parameters and submodules match the contract"]
