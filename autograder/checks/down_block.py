"""DownBlock: a ResBlock, then a stride-2 conv; the skip is the full-resolution features."""
from ..strategies import down_block_cases
from .public_checks import rule_check
from .standard import standard_checks

standard_checks("DownBlock", down_block_cases())
rule_check("DownBlock", "returns_pair", "returns (down(h), h): downsampled first, full-resolution skip second",
           down_block_cases(), "pair")
