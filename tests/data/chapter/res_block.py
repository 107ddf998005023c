# The chapter's section 19.3 ResBlock, as printed (GroupNorm(8, C): erratum 1).
import torch
import torch.nn as nn


class ResBlock(nn.Module):
    """残差块 + 时间条件 | Residual block + time conditioning"""
    def __init__(self, in_channels, out_channels, time_emb_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.time_mlp = nn.Linear(time_emb_dim, out_channels)
        if in_channels != out_channels:
            self.skip = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.skip = nn.Identity()
        self.norm1 = nn.GroupNorm(8, in_channels)
        self.norm2 = nn.GroupNorm(8, out_channels)

    def forward(self, x, t_emb):
        """
        x: (batch, C, H, W)
        t_emb: (batch, time_emb_dim) — 时间嵌入 | Time embedding
        """
        h = self.conv1(torch.relu(self.norm1(x)))
        # 注入时间信息 | Inject time information
        t = self.time_mlp(t_emb)[:, :, None, None]
        h = h + t
        h = self.conv2(torch.relu(self.norm2(h)))
        return h + self.skip(x)
