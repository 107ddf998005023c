"""The chapter's code as printed (tests/data/chapter/) fails exactly the checks its two errata break.

The expected set below is derived by reading the code, not copied from a grading run:

* Erratum 1, ``GroupNorm(8, C)``: raises "num_channels must be divisible by num_groups" whenever
  C is not a multiple of 8. It is in the chapter's ResBlock and SelfAttention.
* Erratum 2, no ``skip_channels``: the chapter's UpBlock does not accept the argument, and its
  SimpleUNet's up1 builds ``ResBlock(2*base, ...)`` for a concat of ``base + 2*base`` channels.
* No ``sinusoidal_embedding``: the chapter computes the sinusoid inline in TimeEmbedding's forward.
  The assignment's three checks of that function fail; TimeEmbedding's other checks (its forward,
  with the same formula) keep their points.
* Everything else (the sinusoid, TimeEmbedding's MLP, DownBlock, AttnResBlock's wiring) is right.
  Each component is graded with the reference versions of its dependencies, so those pass.
"""
import shutil

from .conftest import ROOT, SOLUTIONS

CHAPTER = ROOT / "tests" / "data" / "chapter"

ALL_RES_BLOCK = {"output_shape", "structure", "forward_matches", "gradients", "residual_identity",
                 "time_conditioning", "batch_independence", "inputs_unchanged"}
ALL_UNET = {"output_shape", "parameter_count", "structure", "forward_matches", "gradients", "time_conditioning",
            "batch_independence", "inputs_unchanged"}
ALL_ATTENTION = {"output_shape", "weights_shape", "structure", "softmax_rows", "constant_value_probe",
                 "weights_match", "residual_identity", "forward_matches", "gradients", "batch_independence",
                 "inputs_unchanged"}

EXPECTED_FAILURES = {
    # The helper the chapter never defines: its own three checks, nothing else of TimeEmbedding.
    "TimeEmbedding": {"sinusoid_shape", "sinusoid_values", "sinusoid_vectorised"},
    # Every ResBlock check builds ResBlock(in, out, ...) with channels drawn from 1..16: GroupNorm(8, C)
    # crashes on the first C that is not a multiple of 8, so all of them fail.
    "ResBlock": ALL_RES_BLOCK,
    # The UpBlock strategies draw skip_channels=None or an explicit value; the explicit one is an
    # "unexpected keyword argument" TypeError. Only concat_order draws skip_channels=None alone, and
    # with the skip of out_channels channels the chapter's out_channels * 2 is right: it passes.
    "UpBlock": {"output_shape", "structure", "skip_channels", "forward_matches", "gradients",
                "batch_independence", "inputs_unchanged"},
    # With the reference UpBlock (skip_channels defaults to out_channels), up1 is a ResBlock for 2*base
    # channels fed 3*base: every forward crashes; SimpleUNet(4, 4, 64) has the wrong parameter count
    # and shapes, so structure, parameter_count and the weight transplant fail too.
    "SimpleUNet": ALL_UNET,
    # GroupNorm(8, channels) for channels in 1..16 crashes most builds; the chapter's forward also takes
    # no return_weights, so the three weights checks would fail even with 8 or 16 channels.
    "SelfAttention": ALL_ATTENTION,
    # The student's own SimpleUNet: down1's ResBlock gets 1..5 input channels, GroupNorm(8, C) crashes.
    "Integration": {"runs_end_to_end", "matches_reference"},
}


def test_chapter_code_fails_exactly_what_its_errata_break(grader, tmp_path):
    submission = tmp_path / "chapter"
    shutil.copytree(CHAPTER, submission)
    # The chapter leaves its homework to the reader: done right, it loses nothing to the errata,
    # because each task runs with the reference blocks it uses.
    shutil.copy(SOLUTIONS / "analysis.py", submission)
    report = grader.grade(submission)

    failed: dict[str, set[str]] = {}
    for c in report.checks:
        if not c.passed:
            failed.setdefault(c.component, set()).add(c.check_id)
    assert failed == EXPECTED_FAILURES

    missing = "\n".join(c.output for c in report.checks if c.component == "TimeEmbedding" and not c.passed)
    assert "does not define sinusoidal_embedding" in missing
    outputs = "\n".join(c.output for c in report.checks if not c.passed)
    assert "math.gcd(8, C)" in outputs, "no hint names GroupNorm's gcd(8, C) fix"
    unet_outputs = "\n".join(c.output for c in report.checks if c.component == "SimpleUNet" and not c.passed)
    assert "skip_channels=2 * base_channels" in unet_outputs, "SimpleUNet's hints do not name up1's skip_channels"
    up_outputs = "\n".join(c.output for c in report.checks if c.component == "UpBlock" and not c.passed)
    assert "skip_channels" in up_outputs, "UpBlock's hints do not name skip_channels"
