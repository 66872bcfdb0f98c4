"""Matcha-style 1-D U-Net velocity network and the unit encoder producing mu (spec §2.2, §3).

nu_theta(phi_t, t; a_spk, v_t, mu_{1:L}, X~1):
- input channels: [x_t ; mu] (Matcha concatenates x_t and mu), plus the optional prompt X~1 (zeros when absent);
- time: sinusoidal embedding (scale 1000, Matcha) -> MLP;
- a_spk (global x-vector): projected and ADDED to the time embedding, which every ResNet block adds to all its
  frames (MAVFlow: "added to all frames"; Matcha instead concatenates the speaker vector on channels);
- v_t (per-frame visual emotion): a 1x1 projection ADDED frame by frame inside every ResNet block (MAVFlow:
  "added frame by frame"), average-pooled to the block's time resolution;
- blocks: ResNet1D (Conv1d k3 + GroupNorm + Mish) followed by transformer blocks, one down/up level per entry
  of ``channels`` with skip connections, ``n_mid_blocks`` in the middle (Matcha's decoder layout).

Where exactly the two conditions are injected is [INFERRED]; see the package README.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _groups(ch: int) -> int:
    for g in (8, 4, 2, 1):
        if ch % g == 0:
            return g
    return 1


class SinusoidalTimeEmbedding(nn.Module):
    def __init__(self, dim: int, scale: float = 1000.0):
        super().__init__()
        self.dim, self.scale = dim, scale

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
        ang = self.scale * t.float()[:, None] * freqs[None]
        return torch.cat([ang.sin(), ang.cos()], dim=-1)


class MaskedGroupNorm(nn.GroupNorm):
    """GroupNorm whose statistics use only the valid (mask = 1) frames, so a clip's output does not depend on how
    much padding its batch needs (Matcha's plain GroupNorm also counts padded frames)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return super().forward(x)
        B, C, L = x.shape
        G = self.num_groups
        xg = x.reshape(B, G, C // G, L)
        m = mask.reshape(B, 1, 1, L)
        n = (m.sum((2, 3), keepdim=True) * (C // G)).clamp_min(1)
        mean = (xg * m).sum((2, 3), keepdim=True) / n
        var = (((xg - mean) ** 2) * m).sum((2, 3), keepdim=True) / n
        y = ((xg - mean) / torch.sqrt(var + self.eps)).reshape(B, C, L)
        return y * self.weight[None, :, None] + self.bias[None, :, None]


class ConvNormAct(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, 3, padding=1)
        self.norm = MaskedGroupNorm(_groups(cout), cout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return F.mish(self.norm(self.conv(x * mask), mask)) * mask


class ResBlock1D(nn.Module):
    """ResNet1D block; adds the global condition (time + speaker) and the per-frame emotion feature."""

    def __init__(self, cin: int, cout: int, cond_dim: int, emo_dim: int = 0):
        super().__init__()
        self.b1 = ConvNormAct(cin, cout)
        self.cond = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, cout))
        self.emo = nn.Conv1d(emo_dim, cout, 1) if emo_dim > 0 else None
        self.b2 = ConvNormAct(cout, cout)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, mask, c, e=None):
        h = self.b1(x, mask) + self.cond(c)[:, :, None]
        if self.emo is not None and e is not None:
            h = h + self.emo(e)
        h = self.b2(h * mask, mask)
        return h + self.skip(x * mask)


class TransformerBlock1D(nn.Module):
    def __init__(self, ch: int, heads: int, dropout: float):
        super().__init__()
        self.n1 = nn.LayerNorm(ch)
        self.attn = nn.MultiheadAttention(ch, heads, dropout=dropout, batch_first=True)
        self.n2 = nn.LayerNorm(ch)
        self.ff = nn.Sequential(nn.Linear(ch, 2 * ch), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * ch, ch))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)  # [B, L, C]
        pad = mask[:, 0] < 0.5
        q = self.n1(h)
        a, _ = self.attn(q, q, q, key_padding_mask=pad, need_weights=False)
        h = h + a
        h = h + self.ff(self.n2(h))
        return h.transpose(1, 2) * mask


class VelocityUNet(nn.Module):
    """nu_theta(x_t, t; a_spk, v_t, mu, X~1) -> velocity, shape [B, n_mels, L] (L divisible by 2^(levels-1))."""

    def __init__(self, n_mels: int = 80, channels: tuple[int, ...] | list[int] = (128, 128), n_mid_blocks: int = 2,
                 attn_heads: int = 2, n_transformer: int = 1, dropout: float = 0.05, time_emb_dim: int = 128,
                 spk_dim: int = 0, emo_dim: int = 0, emo_hidden: int = 64, use_prompt: bool = False,
                 attn_where: str = "all", linear_skip: bool = False):
        super().__init__()
        channels = list(channels)
        self.n_mels, self.levels, self.use_prompt = n_mels, len(channels), use_prompt
        self.spk_dim, self.emo_dim = spk_dim, emo_dim
        self.time_emb = nn.Sequential(SinusoidalTimeEmbedding(time_emb_dim), nn.Linear(time_emb_dim, time_emb_dim),
                                      nn.Mish(), nn.Linear(time_emb_dim, time_emb_dim))
        self.spk_proj = nn.Linear(spk_dim, time_emb_dim) if spk_dim > 0 else None
        self.emo_in = nn.Sequential(nn.Conv1d(emo_dim, emo_hidden, 1), nn.Mish()) if emo_dim > 0 else None
        eh = emo_hidden if emo_dim > 0 else 0

        if attn_where not in ("all", "mid", "none"):
            raise ValueError(f"attn_where must be all, mid or none, got {attn_where!r}")

        def tf(ch, mid=False):
            n = n_transformer if attn_heads and (attn_where == "all" or (attn_where == "mid" and mid)) else 0
            return nn.ModuleList([TransformerBlock1D(ch, attn_heads, dropout) for _ in range(n)])

        cin = n_mels * (3 if use_prompt else 2)
        self.down = nn.ModuleList()
        for i, ch in enumerate(channels):
            last = i == len(channels) - 1
            self.down.append(nn.ModuleList([
                ResBlock1D(cin, ch, time_emb_dim, eh), tf(ch),
                nn.Conv1d(ch, ch, 3, padding=1) if last else nn.Conv1d(ch, ch, 3, stride=2, padding=1)]))
            cin = ch
        self.mid = nn.ModuleList([nn.ModuleList([ResBlock1D(cin, cin, time_emb_dim, eh), tf(cin, mid=True)])
                                  for _ in range(n_mid_blocks)])
        self.up = nn.ModuleList()
        rev = channels[::-1]
        for i, ch in enumerate(rev):
            last = i == len(rev) - 1
            skip_ch = ch
            out_ch = rev[i + 1] if not last else channels[0]
            self.up.append(nn.ModuleList([
                ResBlock1D(cin + skip_ch, out_ch, time_emb_dim, eh), tf(out_ch),
                nn.Conv1d(out_ch, out_ch, 3, padding=1) if last else nn.ConvTranspose1d(out_ch, out_ch, 4, stride=2, padding=1)]))
            cin = out_ch
        self.final = ConvNormAct(cin, cin)
        self.out = nn.Conv1d(cin, n_mels, 1)
        # optional time-modulated linear path from the inputs to the output (see README: lets a U-Net narrower
        # than n_mels represent the per-bin -x_t / (1 - (1 - sigma) t) part of the optimal OT-CFM velocity)
        self.skip = nn.Conv1d(n_mels * (3 if use_prompt else 2), n_mels, 1) if linear_skip else None
        self.skip_scale = nn.Linear(time_emb_dim, n_mels) if linear_skip else None

    @property
    def multiple(self) -> int:
        return 2 ** (self.levels - 1)

    def forward(self, x, mask, mu, t, spk=None, emo=None, prompt=None):
        if x.shape[-1] % self.multiple:
            raise ValueError(f"length {x.shape[-1]} must be divisible by {self.multiple}; pad first (see pad_to_multiple)")
        c = temb = self.time_emb(t)
        if self.spk_proj is not None:
            if spk is None:
                spk = torch.zeros(x.shape[0], self.spk_dim, device=x.device, dtype=x.dtype)
            c = c + self.spk_proj(spk)
        e = None
        if self.emo_in is not None:
            if emo is None:
                emo = torch.zeros(x.shape[0], self.emo_dim, x.shape[-1], device=x.device, dtype=x.dtype)
            e = self.emo_in(emo) * mask
        parts = [x, mu]
        if self.use_prompt:
            parts.append(prompt if prompt is not None else torch.zeros_like(x))
        h = inp = torch.cat(parts, dim=1)
        masks, skips, embs = [mask], [], [e]
        for res, tfs, down in self.down:
            m, ee = masks[-1], embs[-1]
            h = res(h, m, c, ee)
            for blk in tfs:
                h = blk(h, m)
            skips.append(h)
            h = down(h * m)
            if down.stride[0] == 2:
                masks.append(m[:, :, ::2])
                embs.append(F.avg_pool1d(ee, 2) if ee is not None else None)
        m, ee = masks[-1], embs[-1]
        for res, tfs in self.mid:
            h = res(h, m, c, ee)
            for blk in tfs:
                h = blk(h, m)
        for res, tfs, up in self.up:
            m = masks.pop() if len(masks) > 1 else masks[0]
            ee = embs.pop() if len(embs) > 1 else embs[0]
            h = torch.cat([h, skips.pop()], dim=1)
            h = res(h, m, c, ee)
            for blk in tfs:
                h = blk(h, m)
            h = up(h * m)
        h = self.final(h, mask)
        out = self.out(h * mask)
        if self.skip is not None:
            out = out + self.skip_scale(temb)[:, :, None] * self.skip(inp)
        return out * mask


class UnitEncoder(nn.Module):
    """Frame-level unit ids [B, L] -> mu [B, n_mels, L] (Matcha's encoder output, trained with the prior loss)."""

    def __init__(self, n_units: int, emb_dim: int = 64, n_mels: int = 80, layers: int = 2, kernel: int = 5,
                 dropout: float = 0.1):
        super().__init__()
        self.pad_id = n_units
        self.emb = nn.Embedding(n_units + 1, emb_dim, padding_idx=n_units)
        self.convs = nn.ModuleList([nn.Conv1d(emb_dim, emb_dim, kernel, padding=kernel // 2) for _ in range(layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(emb_dim) for _ in range(layers)])  # per frame, over channels
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Conv1d(emb_dim, n_mels, 1)

    def forward(self, units: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.emb(units.clamp(0, self.pad_id)).transpose(1, 2) * mask
        for conv, norm in zip(self.convs, self.norms):
            h = h + self.drop(norm(F.relu(conv(h * mask)).transpose(1, 2)).transpose(1, 2)) * mask
        return self.proj(h * mask) * mask


def pad_to_multiple(x: torch.Tensor, multiple: int, value: float = 0.0) -> torch.Tensor:
    """Right-pad the last dim to a multiple of ``multiple``."""
    r = (-x.shape[-1]) % multiple
    return F.pad(x, (0, r), value=value) if r else x
