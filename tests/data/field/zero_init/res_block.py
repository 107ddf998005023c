"""ResBlock as guided/improved diffusion write it: the block's last conv starts at zero
(``zero_module``), so a fresh block is the identity on its skip path."""
import math

import torch
import torch.nn as nn


def zero_module(module):
    for p in module.parameters():
        p.detach().zero_()
    return module


class ResBlock(nn.Module):
    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        self.norm1 = nn.GroupNorm(math.gcd(8, in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_mlp = nn.Linear(time_emb_dim, out_channels)
        self.norm2 = nn.GroupNorm(math.gcd(8, out_channels), out_channels)
        self.conv2 = zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x, t_emb):
        h = self.conv1(torch.relu(self.norm1(x)))
        h = h + self.time_mlp(t_emb)[..., None, None]
        h = self.conv2(torch.relu(self.norm2(h)))
        return self.skip(x) + h
