"""Attention in guided diffusion's QKVAttention style: GroupNorm32, and q and k each scaled by
C ** -0.25 before one einsum (more stable in float16)."""
import math

import torch
import torch.nn as nn

from .res_block import GroupNorm32, ResBlock


class SelfAttention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.norm = GroupNorm32(math.gcd(8, channels), channels)
        self.qkv = nn.Conv2d(channels, channels * 3, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, return_weights=False):
        b, c, *spatial = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3 * c, -1)
        q, k, v = qkv.split(c, dim=1)
        scale = 1 / math.sqrt(math.sqrt(c))
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
        a = torch.einsum("bts,bcs->bct", weight, v)
        out = x + self.out(a.reshape(b, c, *spatial))
        if return_weights:
            return out, weight
        return out


class AttnResBlock(nn.Module):
    def __init__(self, channels, time_emb_dim):
        super().__init__()
        self.res = ResBlock(channels, channels, time_emb_dim)
        self.attn = SelfAttention(channels)

    def forward(self, x, t_emb):
        return self.attn(self.res(x, t_emb))
