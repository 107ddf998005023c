"""SimpleUNet with its output conv zero-initialised, as guided diffusion's UNetModel does."""
import torch.nn as nn

from .down_block import DownBlock
from .res_block import ResBlock
from .time_embedding import TimeEmbedding
from .up_block import UpBlock


class SimpleUNet(nn.Module):
    def __init__(self, in_channels=4, out_channels=4, base_channels=64):
        super().__init__()
        time_emb_dim = 4 * base_channels
        self.time_embed = TimeEmbedding(base_channels)
        self.down1 = DownBlock(in_channels, base_channels, time_emb_dim)
        self.down2 = DownBlock(base_channels, 2 * base_channels, time_emb_dim)
        self.bottleneck = ResBlock(2 * base_channels, 2 * base_channels, time_emb_dim)
        self.up1 = UpBlock(2 * base_channels, base_channels, time_emb_dim, skip_channels=2 * base_channels)
        self.up2 = UpBlock(base_channels, base_channels, time_emb_dim)
        self.out = nn.Conv2d(base_channels, out_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t):
        emb = self.time_embed(t)
        h, s1 = self.down1(x, emb)
        h, s2 = self.down2(h, emb)
        h = self.bottleneck(h, emb)
        h = self.up1(h, s2, emb)
        return self.out(self.up2(h, s1, emb))
