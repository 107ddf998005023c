"""UpBlock: upsample, concatenate [up(x), skip], ResBlock -- and the errata's skip_channels."""
import torch

from ..compare import value_problem
from ..strategies import up_block_cases
from .common import Pair, compare_structure
from .registry import CheckFailed, check
from .standard import standard_checks

standard_checks("UpBlock", up_block_cases())


@check("UpBlock", "skip_channels", "skip_channels sets the ResBlock's input channels",
       up_block_cases(explicit_skip=True))
def skip_channels(ctx, case):
    compare_structure(ctx, case)


@check("UpBlock", "concat_order", "concatenates [up(x), skip] in that order", up_block_cases(explicit_skip=False))
def concat_order(ctx, case):
    pair = Pair(ctx, case)
    x, skip, t_emb = case.inputs()
    result = pair.run_student([x, skip, t_emb])
    with torch.no_grad():
        expected32 = pair.ref32(x, skip, t_emb)
        expected64 = pair.ref64(x.double(), skip.double(), t_emb.double())
        swapped = pair.ref64.res(torch.cat([skip.double(), pair.ref64.up(x.double())], dim=1), t_emb.double())
    problem = value_problem(result.output, expected64, expected32, ctx.config.tolerance, "output")
    if problem is None:
        return
    if value_problem(result.output, swapped, swapped.float(), ctx.config.tolerance, "output") is None:
        raise CheckFailed(
            "your output equals the reference with the concatenation reversed",
            hint="Concatenate the upsampled features first: torch.cat([self.up(x), skip], dim=1).",
        )
    raise CheckFailed(problem)
