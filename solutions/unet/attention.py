"""Spatial self-attention: lets every pixel look at every other pixel, for global structure."""
import math

import torch
import torch.nn as nn

from .res_block import ResBlock


class SelfAttention(nn.Module):
    """Single-head self-attention over the ``H * W`` positions of a feature map, with a residual.

    Shapes: ``x`` is ``(B, C, H, W)``; the output has the same shape. With ``return_weights=True``,
    return ``(output, weights)`` where ``weights`` is ``(B, H*W, H*W)`` and each row sums to 1.

    Submodules: ``norm = nn.GroupNorm(math.gcd(8, channels), channels)``,
    ``qkv = nn.Conv2d(channels, 3 * channels, 1)`` and ``out = nn.Conv2d(channels, channels, 1)``.

    Forward: ``q, k, v = qkv(norm(x)).chunk(3, dim=1)``; flatten each to ``(B, H*W, C)`` (one row per
    position); ``weights = softmax(q @ k^T / sqrt(C))`` over the *last* axis (each query's weights over
    all keys sum to 1); ``attn = weights @ v``; back to ``(B, C, H, W)``; return ``x + out(attn)``.

    Hint: ``view(B, C, H*W).transpose(1, 2)`` and ``flatten(2).permute(0, 2, 1)`` are the same thing.
    Going back, transpose first, then ``reshape(B, C, H, W)``: ``reshape`` works whether or not the
    tensor is contiguous, while ``view`` cannot merge the dimensions of a transposed tensor.
    """

    def __init__(self, channels):
        super().__init__()
        ### BEGIN SOLUTION
        self.channels = channels
        self.norm = nn.GroupNorm(math.gcd(8, channels), channels)
        self.qkv = nn.Conv2d(channels, channels * 3, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        ### END SOLUTION

    def forward(self, x, return_weights=False):
        ### BEGIN SOLUTION
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)
        q = q.reshape(B, C, H * W).transpose(1, 2)
        k = k.reshape(B, C, H * W).transpose(1, 2)
        v = v.reshape(B, C, H * W).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(C)
        weights = torch.softmax(scores, dim=-1)
        attn = torch.matmul(weights, v).transpose(1, 2).reshape(B, C, H, W)
        out = x + self.out(attn)
        if return_weights:
            return out, weights
        return out
        ### END SOLUTION


class AttnResBlock(nn.Module):
    """A ResBlock followed by SelfAttention, both on ``channels`` channels.

    Submodules: ``res = ResBlock(channels, channels, time_emb_dim)`` and
    ``attn = SelfAttention(channels)``. Forward: ``attn(res(x, t_emb))``.
    """

    def __init__(self, channels, time_emb_dim):
        super().__init__()
        ### BEGIN SOLUTION
        self.res = ResBlock(channels, channels, time_emb_dim)
        self.attn = SelfAttention(channels)
        ### END SOLUTION

    def forward(self, x, t_emb):
        ### BEGIN SOLUTION
        return self.attn(self.res(x, t_emb))
        ### END SOLUTION
