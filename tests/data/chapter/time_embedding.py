# The chapter's section 19.3 TimeEmbedding, as printed: the sinusoid is computed inline in forward.
# The assignment also asks for it as `sinusoidal_embedding`, which the chapter never defines, so this
# verbatim file loses its three checks and keeps every other one.
import torch
import torch.nn as nn


class TimeEmbedding(nn.Module):
    """时间步嵌入 | Timestep embedding"""
    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim * 4),
            nn.SiLU(),
            nn.Linear(dim * 4, dim * 4),
        )

    def forward(self, t):
        """
        t: (batch,) — 时间步 | Timestep
        """
        # Sinusoidal 位置编码的变体 | Variant of sinusoidal position encoding
        half_dim = self.dim // 2
        emb = torch.log(torch.tensor(10000.0)) / (half_dim - 1)
        emb = torch.exp(torch.arange(half_dim, device=t.device) * -emb)
        emb = t[:, None] * emb[None, :]
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
        return self.mlp(emb)
