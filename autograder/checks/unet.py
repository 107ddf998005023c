"""SimpleUNet: the wiring of the chapter's network, graded with reference blocks inside."""
import torch

from ..strategies import default_unet_case, time_sensitive, unet_cases
from .common import per_submodule_counts, remembered
from .registry import CheckFailed, check
from .standard import assert_samples_unchanged, build_student, run_student_each, standard_checks

standard_checks("SimpleUNet", unet_cases())


@check("SimpleUNet", "parameter_count", "SimpleUNet(4, 4, 64) has 1,424,460 parameters")
def parameter_count(ctx, _case):
    case = default_unet_case()
    reference = remembered(ctx, ("parameter_count", repr(case.init)),
                           lambda: ctx.reference.symbol("unet", "SimpleUNet")(**case.init))
    expected = sum(p.numel() for p in reference.parameters())
    described = build_student(ctx, case).describe()
    if described.count() != expected:
        raise CheckFailed(
            f"SimpleUNet(4, 4, 64) has {described.count():,} parameters; expected {expected:,}."
            + per_submodule_counts(described, reference),
            hint="Check each submodule's channels against the wiring in the assignment; "
            "up1 needs skip_channels=2 * base_channels.",
        )


@check("SimpleUNet", "time_conditioning", "each sample's timestep changes only that sample's output",
       unet_cases(min_batch=2).filter(lambda c: time_sensitive(c.init["base_channels"])))
def time_conditioning(ctx, case):
    x, t = case.inputs()
    changed = t.clone()
    changed[0] = (changed[0] + 250) % 1000
    before, after = run_student_each(ctx, case, build_student(ctx, case), [[x, t], [x, changed]])
    if type(before) is not torch.Tensor or type(after) is not torch.Tensor:
        raise CheckFailed("forward did not return a tensor")
    if torch.equal(before[0], after[0]):
        raise CheckFailed(
            "changing the timestep did not change the output",
            hint="Embed t with time_embed and pass t_emb to every block.",
        )
    assert_samples_unchanged(before, after, range(1, x.shape[0]), "the timestep")
