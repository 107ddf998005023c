"""The residual block: the workhorse of every UNet level, and where the timestep is injected."""
import math

import torch
import torch.nn as nn


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection and time conditioning.

    Shapes: ``x`` is ``(B, in_channels, H, W)``, ``t_emb`` is ``(B, time_emb_dim)``; the output is
    ``(B, out_channels, H, W)`` for any ``H`` and ``W``.

    Submodules (the grader loads reference weights by these names; they are all its learnable
    parameters -- a constant of your own can be a buffer, ``register_buffer``):
        * ``norm1``: GroupNorm over the ``in_channels`` (groups: see below)
        * ``conv1``: 3x3 convolution ``in_channels -> out_channels`` that keeps ``H`` and ``W``
        * ``time_mlp``: Linear ``time_emb_dim -> out_channels``
        * ``norm2``: GroupNorm over the ``out_channels`` (groups: see below)
        * ``conv2``: 3x3 convolution ``out_channels -> out_channels`` that keeps ``H`` and ``W``
        * ``skip``: a 1x1 convolution ``in_channels -> out_channels`` when the two differ, else
          ``nn.Identity()`` (no parameters)

    Every convolution and Linear is ``nn.Conv2d`` / ``nn.Linear`` with its bias (torch's default).

    Forward (pre-activation: each convolution sees its input normalised by the norm before it, then
    passed through a ReLU):
        * first ``norm1``, ReLU and ``conv1``;
        * the timestep: ``time_mlp(t_emb)`` gives one value per sample and output channel, added at
          every position ``(H, W)``;
        * then ``norm2``, ReLU and ``conv2``;
        * the output is that plus ``skip`` of the block's *input*.

    Each GroupNorm has 8 groups when its channels are a multiple of 8, as in the chapter; for any other
    number of channels, the largest power of two that divides it (so 4 channels: 4 groups, 6: 2, 5: 1).
    The grader checks exactly this group count. Otherwise each GroupNorm keeps torch's defaults
    (``eps=1e-5``, ``affine=True``): the grader compares values, and another eps (diffusers' ``1e-6``,
    say) changes every normalised value a little. The block must work for any ``in_channels >= 1``.
    """

    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        raise NotImplementedError()

    def forward(self, x, t_emb):
        raise NotImplementedError()
