"""Time-conditioned neural-operator score model (spec §2.6) built on ``neuraloperator``'s FNO layers.

``neuralop.models.FNO`` has no time input, so we keep the library's Fourier layers (``FNOBlocks``:
``SpectralConv`` with ``fft_norm="forward"``, linear skip, channel MLP with soft-gating skip) and its
``ChannelMLP`` lifting/projection, and add only what a diffusion score model needs:

* a sinusoidal embedding of ``1000 t`` (as hdm-official) followed by Dense -> SiLU -> Dense;
* a per-layer additive time shift of the hidden channels before each Fourier layer;
* the grid coordinate as an input channel (in unit coordinates of the domain, so it is resolution-free);
* optional domain padding (``neuralop.layers.padding.DomainPadding``) for non-periodic functions.

The model maps a batch of functions on an N-point grid ``(B, N)`` and times ``(B,)`` to the predicted noise
``eps_theta(x, t)`` on the same grid (so ``rho_theta = -eps_theta / s_t``). Because the spectral weights act on a
fixed number of Fourier modes and everything else is pointwise, the same weights apply at any N >= n_modes:
train at one resolution, sample at another.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["ScoreFNO", "timestep_embedding"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0, scale: float = 1000.0):
    """Transformer sinusoidal embedding of ``scale * t`` (hdm-official embeds 1000 t), shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = scale * t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ScoreFNO(nn.Module):
    """``eps_theta(x, t)``: a time-conditioned 1-D FNO (see module docstring)."""

    def __init__(self, n_modes: int = 16, width: int = 32, n_layers: int = 3, time_dim: int = 64,
                 domain_padding: float = 0.0, channel_mlp_expansion: float = 1.0):
        super().__init__()
        from neuralop.layers.channel_mlp import ChannelMLP
        from neuralop.layers.fno_block import FNOBlocks
        from neuralop.layers.padding import DomainPadding

        if n_modes < 2 or width < 1 or n_layers < 1:
            raise ValueError(f"bad ScoreFNO sizes: n_modes={n_modes}, width={width}, n_layers={n_layers}")
        self.n_modes, self.width, self.n_layers, self.time_dim = n_modes, width, n_layers, time_dim
        self.lifting = ChannelMLP(in_channels=2, out_channels=width, hidden_channels=2 * width, n_layers=2, n_dim=1)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, 2 * width), nn.SiLU(), nn.Linear(2 * width, 2 * width))
        self.time_proj = nn.ModuleList([nn.Linear(2 * width, width) for _ in range(n_layers)])
        self.blocks = FNOBlocks(width, width, n_modes=(n_modes,), n_layers=n_layers,
                                channel_mlp_expansion=channel_mlp_expansion)
        self.padding = DomainPadding(domain_padding) if domain_padding > 0 else None
        self.projection = ChannelMLP(in_channels=width, out_channels=1, hidden_channels=2 * width, n_layers=2, n_dim=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, unit_points: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(f"expected functions of shape (batch, n_points), got {tuple(x.shape)}")
        B, N = x.shape
        if N < self.n_modes:
            raise ValueError(f"grid of {N} points is coarser than the model's {self.n_modes} Fourier modes")
        if unit_points is None:
            unit_points = (torch.arange(N, device=x.device, dtype=x.dtype) + 0.5) / N
        coord = unit_points.to(x.dtype).expand(B, N)
        h = self.lifting(torch.stack([x, coord], dim=1))
        temb = self.time_mlp(timestep_embedding(t.reshape(-1).expand(B), self.time_dim).to(x.dtype))
        if self.padding is not None:
            h = self.padding.pad(h)
        for i in range(self.n_layers):
            h = h + self.time_proj[i](temb)[:, :, None]
            h = self.blocks(h, index=i)
        if self.padding is not None:
            h = self.padding.unpad(h)
        return self.projection(h)[:, 0]

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
