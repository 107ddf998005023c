"""UpBlock: upsample, concatenate [up(x), skip], ResBlock -- and the errata's skip_channels.

Each check judges its own feature only: ``skip_channels`` reads the ResBlock's parameters (``res.*``),
``concat_order`` the wiring of forward with the student's own ``up`` and ``res``, so one wrong ``up``
costs the structure and value checks, not these two.
"""
from ..strategies import up_block_cases
from .public_checks import rule_check
from .standard import standard_checks

standard_checks("UpBlock", up_block_cases())
rule_check("UpBlock", "skip_channels", "skip_channels sets the ResBlock's input channels",
           up_block_cases(explicit_skip=True), "structure", gated=False, prefix="res.")
rule_check("UpBlock", "concat_order", "concatenates [up(x), skip] in that order", up_block_cases(explicit_skip=False),
           "concat_order")
