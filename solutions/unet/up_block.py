"""One decoder level: double the resolution, then merge in the encoder's features of that size."""
import torch
import torch.nn as nn

from .res_block import ResBlock


class UpBlock(nn.Module):
    """Upsample, concatenate the skip, then a ResBlock.

    Shapes: ``x`` is ``(B, in_channels, H, W)``, ``skip`` is ``(B, skip_channels, 2H, 2W)``; the output
    is ``(B, out_channels, 2H, 2W)``.

    Submodules:
        * ``up``: a 4x4 transposed convolution ``in_channels -> out_channels`` with stride 2 and
          padding 1, which doubles ``H`` and ``W``
        * ``res``: a ``ResBlock`` from ``out_channels + skip_channels`` to ``out_channels`` channels

    Forward: concatenate ``up(x)`` and ``skip`` along the channels -- the upsampled features first,
    the skip second -- and pass the result and ``t_emb`` to ``res``.

    ``skip_channels`` is the number of channels of ``skip``; ``None`` means ``out_channels``. (The
    chapter's UpBlock has no such argument: before you write yours, work out what each of SimpleUNet's
    two UpBlocks receives.)
    """

    def __init__(self, in_channels, out_channels, time_emb_dim, skip_channels=None):
        super().__init__()
        ### BEGIN SOLUTION
        if skip_channels is None:
            skip_channels = out_channels
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.res = ResBlock(out_channels + skip_channels, out_channels, time_emb_dim)
        ### END SOLUTION

    def forward(self, x, skip, t_emb):
        ### BEGIN SOLUTION
        h = self.up(x)
        h = torch.cat([h, skip], dim=1)
        return self.res(h, t_emb)
        ### END SOLUTION
