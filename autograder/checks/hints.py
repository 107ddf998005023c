"""Hints in the student's terms, from the error text their code produced.

Each rule recognises one known mistake -- above all the two errata of the chapter's code -- and
says what to change, with the numbers of the failing case where that helps.
"""
import re

from ..strategies import Case

_GROUPS = re.compile(r"num_channels( \(\d+\))? must be divisible by num_groups")
_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+) channels")


def explain(error: str, component: str, case: Case | None = None) -> str | None:
    if "NotImplementedError" in error:
        return f"This part of {component} is not implemented yet: replace `raise NotImplementedError()` with your code."
    if _GROUPS.search(error):
        return (
            "GroupNorm(8, C) only works when C is a multiple of 8; the chapter's first block sees 4 latent "
            "channels, so its code crashes here. Use nn.GroupNorm(math.gcd(8, C), C)."
        )
    match = _CHANNELS.search(error)
    if match and component in ("UpBlock", "SimpleUNet"):
        expected, got = map(int, match.groups())
        if component == "SimpleUNet":
            return (
                f"A ResBlock inside your UNet expects {expected} channels but receives {got}. In up1 the "
                "upsampled features (base channels) are concatenated with skip2, which has 2*base channels: "
                "pass skip_channels=2 * base_channels to up1."
            )
        return (
            f"your UpBlock's res expects {expected} channels but the concat gives {got}: the ResBlock must take "
            "out_channels + skip_channels inputs (skip_channels defaults to out_channels)."
        )
    if "skip_channels" in error and "unexpected keyword" in error:
        return (
            "UpBlock must accept skip_channels=None: the skip does not always have out_channels channels "
            "(in SimpleUNet's up1 it has 2*base)."
        )
    if "view size is not compatible" in error:
        return "A transposed tensor is not contiguous: use .reshape(...) (or .contiguous().view(...)) instead of .view(...)."
    if "Sizes of tensors must match except in dimension 1" in error:
        return "torch.cat along channels needs equal batch and spatial sizes: check what you concatenate, and on which dim."
    if "does not define" in error:
        return "Keep the class and function names of the assignment: the grader looks them up by name."
    if "mat1 and mat2 shapes cannot be multiplied" in error:
        return "A Linear layer got a different feature size than it was built for: check in_features against the input."
    if "SyntaxError" in error or "IndentationError" in error:
        return "Python could not read this file: fix the syntax error at the line shown (run the file locally first)."
    if "ModuleNotFoundError" in error or "ImportError" in error:
        return "Import sibling modules relatively (from .res_block import ResBlock) and only torch from outside."
    return None
