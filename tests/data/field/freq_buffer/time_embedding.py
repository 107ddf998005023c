"""The tutorial pattern: the frequencies are computed once and kept in a registered buffer."""
import math

import torch
import torch.nn as nn


def _frequencies(dim):
    half = dim // 2
    return torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / (half - 1))


def sinusoidal_embedding(t, dim, freqs=None):
    if freqs is None:
        freqs = _frequencies(dim).to(t.device)
    args = t.float()[:, None] * freqs[None]
    return torch.cat((args.sin(), args.cos()), dim=-1)


class TimeEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.register_buffer("freqs", _frequencies(dim))
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.SiLU(), nn.Linear(4 * dim, 4 * dim))

    def forward(self, t):
        return self.mlp(sinusoidal_embedding(t, self.dim, self.freqs))
