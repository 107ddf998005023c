"""DownBlock whose stride-2 conv has no padding (it needs inputs of at least 3x3)."""
import torch.nn as nn

from .res_block import ResBlock


class DownBlock(nn.Module):
    """A ResBlock followed by a stride-2 convolution.

    Shapes: ``x`` is ``(B, in_channels, H, W)``. ``forward`` returns a pair ``(down(h), h)``:
    the downsampled features ``(B, out_channels, ceil(H/2), ceil(W/2))`` for the next level, and
    the full-resolution ``h`` ``(B, out_channels, H, W)`` that the decoder will receive through a skip
    connection.

    Submodules: ``res = ResBlock(in_channels, out_channels, time_emb_dim)`` and
    ``down = nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1)``.
    """

    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        self.res = ResBlock(in_channels, out_channels, time_emb_dim)
        self.down = nn.Conv2d(out_channels, out_channels, 3, stride=2)

    def forward(self, x, t_emb):
        h = self.res(x, t_emb)
        return self.down(h), h
