"""Integration: the student's own SimpleUNet built from the student's own blocks, end to end."""
from ..contract import INTEGRATION
from ..strategies import unet_cases
from .common import Pair
from .public_checks import rule_check
from .registry import check

rule_check(INTEGRATION, "runs_end_to_end", "your SimpleUNet runs end to end with your own blocks", unet_cases(),
           "output_shapes")


@check(INTEGRATION, "matches_reference", "your whole UNet matches the reference with the same weights", unet_cases())
def matches_reference(ctx, case):
    Pair(ctx, case).compare_forward()
