"""ResBlock with guided diffusion's upcasting GroupNorm32 (a GroupNorm subclass) and its helpers."""
import math

import torch.nn as nn
import torch.nn.functional as F


class GroupNorm32(nn.GroupNorm):
    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


def normalization(channels):
    return GroupNorm32(math.gcd(8, channels), channels)


class ResBlock(nn.Module):
    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        self.norm1 = normalization(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=(3, 3), padding=(1, 1))
        self.time_mlp = nn.Linear(time_emb_dim, out_channels)
        self.norm2 = normalization(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding="same")
        if out_channels == in_channels:
            self.skip = nn.Identity()
        else:
            self.skip = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x, t_emb):
        h = self.conv1(F.relu(self.norm1(x)))
        emb = self.time_mlp(t_emb).type(h.dtype)
        while emb.dim() < h.dim():
            emb = emb[..., None]
        h = self.conv2(F.relu(self.norm2(h + emb)))
        return self.skip(x) + h
