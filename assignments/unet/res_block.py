"""The residual block: the workhorse of every UNet level, and where the timestep is injected."""
import math

import torch
import torch.nn as nn


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection and time conditioning.

    Shapes: ``x`` is ``(B, in_channels, H, W)``, ``t_emb`` is ``(B, time_emb_dim)``; the output is
    ``(B, out_channels, H, W)`` for any ``H`` and ``W``.

    Submodules (the grader loads reference weights by these names):
        * ``norm1``: GroupNorm over the ``in_channels``, with ``gcd(8, in_channels)`` groups
        * ``conv1``: 3x3 convolution ``in_channels -> out_channels`` that keeps ``H`` and ``W``
        * ``time_mlp``: Linear ``time_emb_dim -> out_channels``
        * ``norm2``: GroupNorm over the ``out_channels``, with ``gcd(8, out_channels)`` groups
        * ``conv2``: 3x3 convolution ``out_channels -> out_channels`` that keeps ``H`` and ``W``
        * ``skip``: a 1x1 convolution ``in_channels -> out_channels`` when the two differ, else
          ``nn.Identity()`` (no parameters)

    Forward, in this order (pre-activation: normalise, ReLU, then convolve):
        1. ``h = conv1(ReLU(norm1(x)))``
        2. inject the timestep: ``time_mlp(t_emb)`` gives one value per sample and channel; add it to
           ``h`` at every position ``(H, W)`` (broadcasting)
        3. ``h = conv2(ReLU(norm2(h)))``
        4. return ``h + skip(x)``: the residual adds the block's *input*, matched to ``out_channels``

    Why ``gcd(8, C)`` and not the chapter's ``GroupNorm(8, C)``: GroupNorm needs ``C`` to be a multiple
    of the number of groups. The chapter's first block sees the 4 latent channels, and
    ``GroupNorm(8, 4)`` raises "num_channels must be divisible by num_groups". ``gcd(8, C)`` is 8 for
    the usual 64, 128, ... channels and still works for 4 (4 groups) or 6 (2 groups).
    """

    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        raise NotImplementedError()

    def forward(self, x, t_emb):
        raise NotImplementedError()
