"""ResBlock: the residual, the time injection, and the errata's GroupNorm."""
from ..strategies import res_block_cases, res_block_structure_cases, time_sensitive
from .public_checks import rule_check
from .standard import standard_checks

standard_checks("ResBlock", res_block_cases(), structure_cases=res_block_structure_cases())
rule_check("ResBlock", "residual_identity", "residual identity (zeroed conv2 gives skip(x))", res_block_cases(),
           "residual")
rule_check("ResBlock", "time_conditioning", "each sample's t_emb changes only that sample's output",
           res_block_cases(min_batch=2).filter(lambda c: time_sensitive(c.init["out_channels"])), "time")
