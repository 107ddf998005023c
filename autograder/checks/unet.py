"""SimpleUNet: the wiring of the chapter's network, graded with reference blocks inside."""
from ..strategies import time_sensitive, unet_cases
from .public_checks import rule_check
from .standard import standard_checks

standard_checks("SimpleUNet", unet_cases())
rule_check("SimpleUNet", "parameter_count", "SimpleUNet(4, 4, 64) has 1,424,460 parameters", None,
           "parameter_count", gated=False)
rule_check("SimpleUNet", "time_conditioning", "each sample's timestep changes only that sample's output",
           unet_cases(min_batch=2).filter(lambda c: time_sensitive(c.init["base_channels"])), "time")
