"""One decoder level: double the resolution, then merge in the encoder's features of that size."""
import torch
import torch.nn as nn

from .res_block import ResBlock


class UpBlock(nn.Module):
    """A transposed convolution, a skip concatenation, then a ResBlock.

    Shapes: ``x`` is ``(B, in_channels, H, W)``, ``skip`` is ``(B, skip_channels, 2H, 2W)``; the output
    is ``(B, out_channels, 2H, 2W)``.

    Submodules:
        * ``up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)`` (doubles H, W)
        * ``res = ResBlock(out_channels + skip_channels, out_channels, time_emb_dim)``

    Forward: ``res(torch.cat([up(x), skip], dim=1), t_emb)`` -- upsampled features first, skip second.

    Why ``skip_channels``: the concatenation has ``out_channels + skip_channels`` channels, and the skip
    does not always have ``out_channels``. In SimpleUNet, ``up1`` upsamples 2*base -> base channels
    but its skip comes from ``down2`` with 2*base channels: the concat has 3*base channels. The
    chapter's ``ResBlock(out_channels * 2, ...)`` expects 2*base and crashes. ``skip_channels=None``
    means "same as out_channels", which is right for ``up2``.
    """

    def __init__(self, in_channels, out_channels, time_emb_dim, skip_channels=None):
        super().__init__()
        raise NotImplementedError()

    def forward(self, x, skip, t_emb):
        raise NotImplementedError()
