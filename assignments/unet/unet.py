"""The whole network: the chapter's two-level UNet with timestep conditioning."""
import torch.nn as nn

from .down_block import DownBlock
from .res_block import ResBlock
from .time_embedding import TimeEmbedding
from .up_block import UpBlock


class SimpleUNet(nn.Module):
    """Encoder (two DownBlocks), a ResBlock bottleneck, decoder (two UpBlocks), and a 1x1 output conv.

    Shapes: ``x`` is ``(B, in_channels, H, W)`` with ``H`` and ``W`` multiples of 4, ``t`` is ``(B,)``;
    the output has the shape of ``x`` but ``out_channels`` channels.

    Submodules (``base = base_channels``; every block gets the time embedding of ``4 * base`` features):

        ==============  ===============================================  =====================
        name            what                                             channels
        ==============  ===============================================  =====================
        ``time_embed``  ``TimeEmbedding(base)``                          t -> 4*base features
        ``down1``       DownBlock                                        in_channels -> base
        ``down2``       DownBlock                                        base -> 2*base
        ``bottleneck``  ResBlock                                         2*base -> 2*base
        ``up1``         UpBlock, with the skip of ``down2``              2*base -> base
        ``up2``         UpBlock, with the skip of ``down1``              base -> base
        ``out``         1x1 convolution                                  base -> out_channels
        ==============  ===============================================  =====================

    Forward: embed ``t`` once; ``down1`` then ``down2`` (keep each one's skip), the bottleneck, ``up1``
    with ``down2``'s skip, ``up2`` with ``down1``'s skip, then ``out``. Every block gets the same
    time embedding. Each block must be built for the channels it actually receives.
    """

    def __init__(self, in_channels=4, out_channels=4, base_channels=64):
        super().__init__()
        raise NotImplementedError()

    def forward(self, x, t):
        raise NotImplementedError()
