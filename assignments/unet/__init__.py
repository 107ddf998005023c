"""The UNet chapter's exercise package.

Import the modules directly (``from unet.res_block import ResBlock``): each module is graded on its
own, so one unfinished file never stops another from being checked.
"""
