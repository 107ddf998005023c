"""ResBlock: the residual, the time injection, and the errata's GroupNorm."""
import torch

from ..compare import value_problem
from ..strategies import res_block_cases, time_sensitive
from .common import Pair
from .registry import CheckFailed, check
from .standard import assert_samples_unchanged, build_student, run_student_each, standard_checks

standard_checks("ResBlock", res_block_cases())


def _zero_conv2(model):
    model.conv2.weight.zero_()
    model.conv2.bias.zero_()


@check("ResBlock", "residual_identity", "residual identity (zeroed conv2 gives skip(x))", res_block_cases())
def residual_identity(ctx, case):
    pair = Pair(ctx, case, edit_state=_zero_conv2)
    x, t_emb = case.inputs()
    result = pair.run_student([x, t_emb])
    with torch.no_grad():
        expected32, expected64 = pair.ref32.skip(x), pair.ref64.skip(x.double())
    problem = value_problem(result.output, expected64, expected32, ctx.config.tolerance, "output with conv2 = 0")
    if problem:
        same = case.init["in_channels"] == case.init["out_channels"]
        raise CheckFailed(
            problem,
            hint="With conv2 zeroed the block must return skip(x)"
            + (" = x (skip is nn.Identity when in == out)." if same else " (a 1x1 conv, as in != out).")
            + " Add the skip to conv2's output; do not scale or normalise it.",
        )


@check("ResBlock", "time_conditioning", "each sample's t_emb changes only that sample's output",
       res_block_cases(min_batch=2).filter(lambda c: time_sensitive(c.init["out_channels"])))
def time_conditioning(ctx, case):
    x, t_emb = case.inputs()
    changed = t_emb.clone()
    changed[0] += 1.0 + torch.rand(changed[0].shape, generator=torch.Generator().manual_seed(case.seed))
    before, after = run_student_each(ctx, case, build_student(ctx, case), [[x, t_emb], [x, changed]])
    if type(before) is not torch.Tensor or type(after) is not torch.Tensor:
        raise CheckFailed("forward did not return a tensor")
    if (before[0] - after[0]).abs().max().item() <= 1e-6 * (before[0].abs().max().item() + 1e-12):
        raise CheckFailed(
            "changing t_emb did not change the output: the timestep is ignored",
            hint="Add time_mlp(t_emb)[:, :, None, None] to h after conv1, before norm2.",
        )
    assert_samples_unchanged(before, after, range(1, x.shape[0]), "t_emb")
