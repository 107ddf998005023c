"""One encoder level: process at this resolution, remember the result, then halve the resolution."""
import torch.nn as nn

from .res_block import ResBlock


class DownBlock(nn.Module):
    """A ResBlock at this resolution, then a strided convolution that halves it.

    Shapes: ``x`` is ``(B, in_channels, H, W)``. ``forward`` returns a pair, in this order:
        1. the downsampled features ``(B, out_channels, ceil(H/2), ceil(W/2))``, for the next level;
        2. the full-resolution ResBlock output ``(B, out_channels, H, W)``, which the decoder will
           receive through a skip connection.

    Submodules: ``res``, a ``ResBlock(in_channels, out_channels, time_emb_dim)``, and ``down``, a 3x3
    convolution ``out_channels -> out_channels`` with stride 2 and padding 1 (applied to ``res``'s
    output).
    """

    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        ### BEGIN SOLUTION
        self.res = ResBlock(in_channels, out_channels, time_emb_dim)
        self.down = nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1)
        ### END SOLUTION

    def forward(self, x, t_emb):
        ### BEGIN SOLUTION
        h = self.res(x, t_emb)
        return self.down(h), h
        ### END SOLUTION
