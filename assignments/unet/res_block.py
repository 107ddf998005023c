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

    Forward (pre-activation: each convolution sees its input normalised by the norm before it, then
    passed through a ReLU):
        * first ``norm1``, ReLU and ``conv1``;
        * the timestep: ``time_mlp(t_emb)`` gives one value per sample and output channel, added at
          every position ``(H, W)``;
        * then ``norm2``, ReLU and ``conv2``;
        * the output is that plus ``skip`` of the block's *input*.

    The block must work for any ``in_channels >= 1``, also the 4 latent channels of the UNet's first
    block: check that your norms can be built for those.
    """

    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        raise NotImplementedError()

    def forward(self, x, t_emb):
        raise NotImplementedError()
