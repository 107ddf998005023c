"""DownBlock: a ResBlock, then a stride-2 conv; the skip is the full-resolution features."""
from ..strategies import down_block_cases
from .registry import CheckFailed, check
from .standard import build_student, run_student, standard_checks

standard_checks("DownBlock", down_block_cases())


@check("DownBlock", "returns_pair", "returns (down(h), h): downsampled first, full-resolution skip second",
       down_block_cases())
def returns_pair(ctx, case):
    result = run_student(ctx, case, build_student(ctx, case), case.inputs())
    output = result.output
    if not isinstance(output, list) or len(output) != 2:
        raise CheckFailed("forward must return a pair (down(h), h)", hint="return self.down(h), h")
    height = case.shapes["x"][2]
    first, second = output
    if hasattr(first, "shape") and hasattr(second, "shape") and len(first.shape) == 4 and len(second.shape) == 4:
        if first.shape[2] == height and second.shape[2] == (height + 1) // 2 and height > 1:
            raise CheckFailed(
                "the pair is in the wrong order: the full-resolution h came first",
                hint="return self.down(h), h -- the downsampled tensor first, the skip second.",
            )
