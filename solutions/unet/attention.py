"""Spatial self-attention: lets every pixel look at every other pixel, for global structure."""
import math

import torch
import torch.nn as nn

from .res_block import ResBlock


class SelfAttention(nn.Module):
    """Single-head self-attention over the ``H * W`` positions of a feature map, with a residual.

    Shapes: ``x`` is ``(B, C, H, W)``; the output has the same shape. With ``return_weights=True``,
    return the pair ``(output, weights)``, ``weights`` of shape ``(B, H*W, H*W)``.

    Submodules (the grader loads reference weights by these names and shapes; they are all its learnable
    parameters -- a constant of your own can be a buffer, ``register_buffer``):
        * ``norm``: a GroupNorm over the ``C`` channels with as many groups as ResBlock's norms would
          have for ``C`` channels (and, like theirs, torch's default ``eps`` and ``affine``);
        * ``qkv``: ``nn.Conv2d(C, 3 * C, 1)``, a 1x1 convolution with its bias (torch's default);
        * ``out``: ``nn.Conv2d(C, C, 1)``, the same.

    Forward:
        * ``qkv(norm(x))`` holds the queries, keys and values: its first ``C`` channels are ``Q``, the
          next ``C`` are ``K``, the last ``C`` are ``V``. Each of the ``H * W`` positions is a token
          with ``C`` features; positions are numbered row by row (``row * W + col``).
        * ``weights = softmax(Q K^T / sqrt(C))`` with the softmax over the keys: row ``i`` holds
          query ``i``'s weights over all positions and sums to 1. Each image attends only within itself.
        * ``attn = weights V``: each position gets the weighted average of the values; back in the
          layout ``(B, C, H, W)``.
        * return ``x + out(attn)``: the residual adds the block's *input*.
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

    Submodules: ``res``, a ``ResBlock(channels, channels, time_emb_dim)``, and ``attn``, a
    ``SelfAttention(channels)``. Forward: ``res`` on ``(x, t_emb)``, then ``attn`` on its output.
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
