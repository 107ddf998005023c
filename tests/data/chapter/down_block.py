# The chapter's section 19.3 DownBlock, as printed (plus the import of the sibling module).
import torch.nn as nn

from .res_block import ResBlock


class DownBlock(nn.Module):
    """下采样块 | Downsampling block"""
    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        self.res = ResBlock(in_channels, out_channels, time_emb_dim)
        self.down = nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1)

    def forward(self, x, t_emb):
        h = self.res(x, t_emb)
        return self.down(h), h  # 返回下采样后的结果和 skip 连接 | Return downsampled and skip
