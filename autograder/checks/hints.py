"""Hints in the student's terms, from the error text their code produced.

Each rule recognises one known mistake -- above all the two errata of the chapter's code -- and
says what to change, with the numbers of the student's own error where that helps. A rule fires
only on the error it explains. This file is also pasted into students' check.py (which
imports ``plural`` from its copy of ``rules/``): standard library and ``rules`` only.
"""
import math
import re

from ..rules import plural
from ..strategies import Case

_GROUPS = re.compile(r"num_channels \((\d+)\) must be divisible by num_groups \((\d+)\)")
_GROUPS_BARE = re.compile(r"num_channels must be divisible by num_groups")
_GROUPS_INPUT = re.compile(r"Expected number of channels in input to be divisible by num_groups, but got input of "
                           r"shape \[\d+, (\d+)[^\]]*\] and num_groups=(\d+)")
_NORM_WEIGHT = re.compile(r"Expected weight to be a vector of size equal to the number of channels in input, but got "
                          r"weight of shape \[(\d+)\] and input of shape \[\d+, (\d+)")
_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+) channels")
_BROADCAST = re.compile(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at "
                        r"non-singleton dimension (\d+)")
# Found by its literal text first, then the function's name just before it: a pattern that began with [\w.]+
# retried at every letter of a long run of them (é...: Unicode letters pass every filter), quadratically.
_KEYWORD = re.compile(r"\(\) got an unexpected keyword argument '(\w+)'")
_NAME_BEFORE = re.compile(r"[\w.]+\Z")
MAX_NAME = 200  # characters of a function's name read before the keyword error's text
_OUT_OF_BOUNDS = re.compile(r"index (\d+) is out of bounds for dimension \d+ with size (\d+)")
_KERNEL = re.compile(r"Calculated padded input size per channel: \((\d+) x (\d+)\)\. Kernel size: \((\d+) x (\d+)\)")
_NO_WRITING = ("PermissionError", "Read-only file system", "[Errno 38] Function not implemented",
               "[Errno 1] Operation not permitted", "strerror: Permission denied")  # the last: torch.save's own writer
_INT_AS_TENSOR = ("received an invalid combination of arguments - got (Tensor", "'int' object has no attribute",
                  "only integer tensors of a single element can be converted to an index",
                  "'Tensor' object cannot be interpreted as an integer")
_DEVICE = ("Torch not compiled with CUDA enabled", "Found no NVIDIA driver", "No CUDA GPUs are available",
           "CUDA driver", "Expected all tensors to be on the same device", "torch.cuda.is_available() is False",
           "Torch not compiled with MPS", "MPS backend", "not linked with support for mps devices",
           "not linked with support for cuda devices")


def explain(error: str, component: str, case: Case | None = None) -> str | None:
    if "NotImplementedError" in error:
        if component == "Integration":
            return ("Your SimpleUNet, or one of your blocks it uses, is not implemented yet: replace "
                    "`raise NotImplementedError()` in the file the traceback names.")
        return f"This part of {component} is not implemented yet: replace `raise NotImplementedError()` with your code."
    if any(marker in error for marker in _DEVICE):
        return ("Grading runs on the CPU: do not hard-code device='cuda' or 'mps' (nor .cuda() or .to('cuda')). Make new "
                "tensors where the input lives: torch.arange(n, device=t.device), x.new_zeros(...), torch.zeros_like(x).")
    match = _OUT_OF_BOUNDS.search(error) if component == "AttentionMap" else None
    if match:
        index, size = match.groups()
        return (f"attention_map asked for position {index} of only {size}: positions are numbered row by row, as when "
                "(H, W) is flattened, so (row, col) is position row * W + col (W, the width), always below H * W. "
                "Is the row multiplied by the height?")
    if "in sinusoidal_embedding" in error and any(marker in error for marker in _INT_AS_TENSOR):
        return ("sinusoidal_embedding takes (t, dim) in that order, as the stub declares it: t, the tensor of "
                "timesteps, first; dim, an int, second. Your code uses one where the other belongs.")
    if component == "UpBlock" and "must have same number of dimensions" in error:  # t_emb (2-d) met the 4-d features
        return ("forward takes (x, skip, t_emb) in that order, as the stub declares it and SimpleUNet calls it: a 2-d "
                "t_emb in the place of the 4-d skip cannot be concatenated.")
    channels = _channels_received(error)
    if channels and component in ("UpBlock", "SimpleUNet", "Integration"):  # Integration: the student's own UNet
        expected, got = channels
        expects = f"expects {expected} channels" if expected else "was built for other channels"
        if component != "UpBlock":
            # the same error comes from SimpleUNet not passing up1's skip channels and from an UpBlock that
            # ignores them: name both ends, so the hint stays true once one of them is fixed
            return (
                f"A ResBlock inside your UNet {expects} but receives {got}. In up1 the "
                "upsampled features (base channels) are concatenated with skip2, which has 2*base channels, so "
                "up1's ResBlock must be built for 3*base: SimpleUNet must pass skip_channels=2 * base_channels "
                "to up1, and UpBlock must build its res for out_channels + skip_channels (if your UpBlock fails "
                "its own checks, fix it first)."
            )
        return (
            f"your UpBlock's res {expects} but the concat gives {got}: the ResBlock must take "
            "out_channels + skip_channels inputs (skip_channels defaults to out_channels)."
        )
    groups = _groups_hint(error)
    if groups:
        return groups
    match = _BROADCAST.search(error)
    if match:
        a, b, dim = match.groups()
        if "time_mlp" in error or "t_emb" in error:
            return (f"time_mlp(t_emb) has shape (B, C) and h has shape (B, C, H, W): added as they are, the sizes "
                    f"{a} and {b} meet at dimension {dim}. Broadcast the time embedding over H and W: "
                    "time_mlp(t_emb)[:, :, None, None].")
        return (f"Two tensors of different shapes meet in one operation (sizes {a} and {b} at dimension {dim}): "
                "print the shapes on the line shown and compare them with the docstring's.")
    match = _KERNEL.search(error)
    if match:
        h, w, kh, kw = match.groups()
        return (f"A {kh}x{kw} convolution got a {h}x{w} input with too little padding: with the docstring's "
                "padding=1 a 3x3 kernel fits any input. Compare the padding of your convolutions with the docstring's.")
    if "skip_channels" in error and "unexpected keyword" in error:
        return (
            "UpBlock must accept a keyword argument named skip_channels, default None (the docstring's name: "
            "callers pass it by that name): the skip does not always have out_channels channels "
            "(in SimpleUNet's up1 it has 2*base)."
        )
    match = _KEYWORD.search(error)
    named = match and _NAME_BEFORE.search(error[max(0, match.start() - MAX_NAME):match.start()])
    if named:
        function, keyword = named.group(), match.group(1)
        return (f"{function} must accept the keyword argument {keyword}, by that name, as the docstring says: "
                "the grader and the other blocks pass it by that name.")
    if "view size is not compatible" in error:
        return "A transposed tensor is not contiguous: use .reshape(...) (or .contiguous().view(...)) instead of .view(...)."
    if "Sizes of tensors must match except in dimension 1" in error:
        if component == "SimpleUNet":
            return ("up1 concatenates with skip2 (from down2) and up2 with skip1 (from down1): each skip has the size "
                    "of the features it is concatenated with.")
        return "torch.cat along channels needs equal batch and spatial sizes: check what you concatenate, and on which dim."
    if "(raised in multiprocessing" in error or "(raised in torch.multiprocessing" in error:
        return ("Grading runs your code in one process: it cannot start worker processes (a DataLoader's "
                "num_workers, multiprocessing). Use num_workers=0: the batches are the same.")
    if any(marker in error for marker in _NO_WRITING):
        return ("Grading runs your code where it cannot write files: saving a figure, a checkpoint or a log "
                "(plt.savefig, torch.save, open(..., 'w')) fails there. Return the numbers and tensors instead, and "
                "save or plot them in your notebook, outside the graded functions.")
    if "does not define" in error:
        return "Keep the class and function names of the assignment: the grader looks them up by name."
    if "mat1 and mat2 shapes cannot be multiplied" in error:
        if component == "SimpleUNet":
            return ("Every block's time_mlp expects t_emb of time_emb_dim = 4 * base_channels features: "
                    "time_embed = TimeEmbedding(base_channels) gives exactly that.")
        return "A Linear layer got a different feature size than it was built for: check in_features against the input."
    if ("SyntaxError" in error or "IndentationError" in error) and "f-string" in error:
        return ("Grading runs an older Python than 3.12, where an f-string cannot reuse its own quotes, nor hold a "
                "backslash or a comment, inside its braces: write f\"{results['psnr']}\" rather than "
                "f\"{results[\"psnr\"]}\", or compute the value before the f-string.")
    if "SyntaxError" in error or "IndentationError" in error:
        return "Python could not read this file: fix the syntax error at the line shown (run the file locally first)."
    if "ModuleNotFoundError" in error or "ImportError" in error:
        return "Import sibling modules relatively (from .res_block import ResBlock) and only torch from outside."
    return None


def _channels_received(error: str) -> tuple | None:
    """(channels a layer was built for (None: unknown), channels it got), from a conv's or a GroupNorm's error."""
    match = _CHANNELS.search(error)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = _NORM_WEIGHT.search(error)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = _GROUPS_INPUT.search(error)
    if match:
        return None, int(match.group(1))
    return None


def _groups_hint(error: str) -> str | None:
    """GroupNorm's channels and groups, with the student's numbers."""
    match = _GROUPS.search(error)
    if match:
        channels, groups = map(int, match.groups())
        hint = (f"GroupNorm({groups}, {channels}) cannot split {plural(channels, 'channel')} into "
                f"{plural(groups, 'group')}. Use nn.GroupNorm(math.gcd(8, C), C): for C={channels} that is "
                f"{plural(math.gcd(8, channels), 'group')}.")
        if groups == 8:
            hint += " (The chapter's GroupNorm(8, C) fails like this on the 4 latent channels of the first block.)"
        return hint
    match = _GROUPS_INPUT.search(error)
    if match:
        channels, groups = map(int, match.groups())
        return (f"A GroupNorm with {plural(groups, 'group')} gets an input with {plural(channels, 'channel')}: each "
                "norm must be built for the channels it normalises (norm1 for the block's input, norm2 for conv1's "
                "output).")
    if _GROUPS_BARE.search(error):
        return "GroupNorm needs C to be a multiple of the groups: use nn.GroupNorm(math.gcd(8, C), C)."
    return None
