"""ResBlock with latent diffusion's Normalize: GroupNorm(..., eps=1e-6, affine=True)."""
import math

import torch
import torch.nn as nn


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection and time conditioning.

    Shapes: ``x`` is ``(B, in_channels, H, W)``, ``t_emb`` is ``(B, time_emb_dim)``; the output is
    ``(B, out_channels, H, W)`` for any ``H`` and ``W``.

    Submodules (the grader loads reference weights by these names):
        * ``norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)``
        * ``conv1``: 3x3, padding 1, ``in_channels -> out_channels``
        * ``time_mlp = nn.Linear(time_emb_dim, out_channels)``
        * ``norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)``
        * ``conv2``: 3x3, padding 1, ``out_channels -> out_channels``
        * ``skip``: a 1x1 conv when ``in_channels != out_channels``, else ``nn.Identity()``

    Forward: ``h = conv1(relu(norm1(x)))``; add ``time_mlp(t_emb)`` broadcast over H and W
    (``[:, :, None, None]``); ``h = conv2(relu(norm2(h)))``; return ``h + skip(x)``.

    Why ``gcd(8, C)`` and not the chapter's ``GroupNorm(8, C)``: GroupNorm needs ``C`` to be a multiple
    of the number of groups. The chapter's first block sees the 4 latent channels, and
    ``GroupNorm(8, 4)`` raises "num_channels must be divisible by num_groups". ``gcd(8, C)`` is 8 for
    the usual 64, 128, ... channels and still works for 4 (4 groups) or 6 (2 groups).
    """

    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.time_mlp = nn.Linear(time_emb_dim, out_channels)
        if in_channels != out_channels:
            self.skip = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.skip = nn.Identity()
        self.norm1 = nn.GroupNorm(num_groups=math.gcd(8, in_channels), num_channels=in_channels, eps=1e-6, affine=True)
        self.norm2 = nn.GroupNorm(num_groups=math.gcd(8, out_channels), num_channels=out_channels, eps=1e-6, affine=True)

    def forward(self, x, t_emb):
        h = self.conv1(torch.relu(self.norm1(x)))
        h = h + self.time_mlp(t_emb)[:, :, None, None]
        h = self.conv2(torch.relu(self.norm2(h)))
        return h + self.skip(x)
