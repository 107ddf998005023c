# The chapter's section 19.3 SimpleUNet, as printed (up1 without skip_channels: erratum 2).
import torch.nn as nn

from .down_block import DownBlock
from .res_block import ResBlock
from .time_embedding import TimeEmbedding
from .up_block import UpBlock


class SimpleUNet(nn.Module):
    """简化 UNet | Simplified UNet"""
    def __init__(self, in_channels=4, out_channels=4, base_channels=64):
        super().__init__()
        time_emb_dim = base_channels * 4
        self.time_embed = TimeEmbedding(base_channels)
        # Encoder | Encoder
        self.down1 = DownBlock(in_channels, base_channels, time_emb_dim)
        self.down2 = DownBlock(base_channels, base_channels * 2, time_emb_dim)
        # Bottleneck
        self.bottleneck = ResBlock(base_channels * 2, base_channels * 2, time_emb_dim)
        # Decoder | Decoder
        self.up1 = UpBlock(base_channels * 2, base_channels, time_emb_dim)
        self.up2 = UpBlock(base_channels, base_channels, time_emb_dim)
        # Output
        self.out = nn.Conv2d(base_channels, out_channels, 1)

    def forward(self, x, t):
        """
        x: (batch, C, H, W) — 加噪潜变量 | Noisy latent
        t: (batch,) — 时间步 | Timestep
        """
        # 时间嵌入 | Time embedding
        t_emb = self.time_embed(t)
        # Encoder | Encoder
        h1, skip1 = self.down1(x, t_emb)  # h1: downsampled, skip1: for skip
        h2, skip2 = self.down2(h1, t_emb)
        # Bottleneck
        h = self.bottleneck(h2, t_emb)
        # Decoder | Decoder
        h = self.up1(h, skip2, t_emb)
        h = self.up2(h, skip1, t_emb)
        return self.out(h)
