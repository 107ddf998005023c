# The chapter's section 19.3 UpBlock, as printed (no skip_channels: erratum 2).
import torch
import torch.nn as nn

from .res_block import ResBlock


class UpBlock(nn.Module):
    """上采样块 | Upsampling block"""
    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.res = ResBlock(out_channels * 2, out_channels, time_emb_dim)  # ×2 for skip concat

    def forward(self, x, skip, t_emb):
        h = self.up(x)
        h = torch.cat([h, skip], dim=1)  # Skip connection
        return self.res(h, t_emb)
