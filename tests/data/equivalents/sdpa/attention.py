"""A correct SelfAttention built on F.scaled_dot_product_attention (its default scale is
1/sqrt(q.size(-1)) = 1/sqrt(C)); the weights are computed explicitly only when asked for."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .res_block import ResBlock


class SelfAttention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.norm = nn.GroupNorm(math.gcd(8, channels), channels)
        self.qkv = nn.Conv2d(channels, channels * 3, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x, return_weights=False):
        B, C, H, W = x.shape
        q, k, v = (t.flatten(2).transpose(1, 2) for t in self.qkv(self.norm(x)).chunk(3, dim=1))
        if return_weights:
            weights = F.softmax(q @ k.transpose(1, 2) / math.sqrt(C), dim=-1)
            attn = weights @ v
        else:
            attn = F.scaled_dot_product_attention(q, k, v)
        out = x + self.out(attn.transpose(1, 2).reshape(B, C, H, W))
        return (out, weights) if return_weights else out


class AttnResBlock(nn.Module):
    def __init__(self, channels, time_emb_dim):
        super().__init__()
        self.res = ResBlock(channels, channels, time_emb_dim)
        self.attn = SelfAttention(channels)

    def forward(self, x, t_emb):
        h = self.res(x, t_emb)
        return self.attn(h)
