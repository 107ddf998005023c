# The chapter's section 19.4 SelfAttention and AttnResBlock, as printed (GroupNorm(8, C) again, and
# no return_weights), plus the import of the sibling module.
import torch
import torch.nn as nn

from .res_block import ResBlock


class SelfAttention(nn.Module):
    """空间自注意力 | Spatial self-attention"""
    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.norm = nn.GroupNorm(8, channels)
        self.qkv = nn.Conv2d(channels, channels * 3, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        """
        x: (batch, C, H, W)
        """
        B, C, H, W = x.shape
        h = self.norm(x)
        qkv = self.qkv(h)
        q, k, v = qkv.chunk(3, dim=1)
        # Reshape for attention | (B, C, H*W)
        q = q.view(B, C, H * W).transpose(1, 2)  # (B, HW, C)
        k = k.view(B, C, H * W).transpose(1, 2)
        v = v.view(B, C, H * W).transpose(1, 2)
        # Attention
        scores = torch.matmul(q, k.transpose(-2, -1)) / (C ** 0.5)
        weights = torch.softmax(scores, dim=-1)
        attn = torch.matmul(weights, v)  # (B, HW, C)
        # Reshape back
        attn = attn.transpose(1, 2).view(B, C, H, W)
        return x + self.out(attn)


# 加入 Self-Attention 的 ResBlock
class AttnResBlock(nn.Module):
    """带注意力的残差块 | Residual block with attention"""
    def __init__(self, channels, time_emb_dim):
        super().__init__()
        self.res = ResBlock(channels, channels, time_emb_dim)
        self.attn = SelfAttention(channels)

    def forward(self, x, t_emb):
        h = self.res(x, t_emb)
        return self.attn(h)
