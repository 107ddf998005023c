"""A sinusoid that builds its frequencies on the GPU, as code written on a GPU machine often does."""
import math

import torch
import torch.nn as nn


def sinusoidal_embedding(t, dim):
    """Spread timesteps over ``dim`` sine/cosine features.

    Args:
        t: shape ``(B,)``, integer or float timesteps (e.g. 0..999).
        dim: an even number >= 4, the size of the embedding.

    Returns:
        A float tensor of shape ``(B, dim)``: ``[sin(t * f), cos(t * f)]``, the ``dim/2`` sines first,
        where ``f_i = exp(-i * ln(10000) / (dim/2 - 1))`` for ``i = 0 .. dim/2 - 1``.

    Hints:
        * ``torch.arange(half, device=t.device)`` builds ``i``; broadcasting ``t[:, None] * f[None, :]``
          gives every (timestep, frequency) pair at once.
        * An integer ``t`` times a float tensor is already float: integer timesteps give float features.
    """
    half = dim // 2
    scale = math.log(10000.0) / (half - 1)
    freqs = torch.exp(torch.arange(half, device="cuda") * -scale)
    angles = t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``t`` followed by a two-layer MLP.

    Shapes: ``t`` is ``(B,)``; the output is ``(B, 4 * dim)``.

    Build ``self.mlp`` as ``nn.Sequential(nn.Linear(dim, 4 * dim), nn.SiLU(), nn.Linear(4 * dim, 4 * dim))``
    and keep ``self.dim = dim``. In ``forward``, call ``sinusoidal_embedding`` (do not copy it) and
    feed the result to the MLP.
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim * 4),
            nn.SiLU(),
            nn.Linear(dim * 4, dim * 4),
        )

    def forward(self, t):
        return self.mlp(sinusoidal_embedding(t, self.dim))
