"""Attention that keeps its scale as a frozen parameter (a constant some codebases store that way)."""
import math

import torch
import torch.nn as nn

from .res_block import ResBlock


class SelfAttention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.norm = nn.GroupNorm(math.gcd(8, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        self.scale = nn.Parameter(torch.tensor(channels ** -0.5), requires_grad=False)

    def forward(self, x, return_weights=False):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        weights = torch.softmax(torch.einsum("bci,bcj->bij", q, k) * self.scale, dim=-1)
        attn = torch.einsum("bij,bcj->bci", weights, v).reshape(b, c, h, w)
        out = x + self.out(attn)
        return (out, weights) if return_weights else out


class AttnResBlock(nn.Module):
    def __init__(self, channels, time_emb_dim):
        super().__init__()
        self.res = ResBlock(channels, channels, time_emb_dim)
        self.attn = SelfAttention(channels)

    def forward(self, x, t_emb):
        return self.attn(self.res(x, t_emb))
