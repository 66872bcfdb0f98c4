"""Units -> durations -> frames, and the isometric length regulator (spec §2.1 step 3).

- ``dedup``: remove consecutive duplicates, returning run-length durations (AV2AV: units are deduplicated before
  unit-to-unit translation).
- ``DurationPredictor``: AV2AV's conv variance predictor (hidden 128, kernel 3, dropout 0.5) predicting log(1 + d);
  d = clamp(round(exp(.) - 1), min 1).
- ``regulate_to_length``: MAVFlow interpolates the expanded frame sequence to the SOURCE length, so the dubbed
  clip keeps the video length. Method [UNKNOWN]; ``nearest`` (spec suggestion: nearest-neighbour resampling of
  frame indices, units stay discrete) or ``scale`` (largest-remainder rescaling of the durations, which keeps every
  unit whenever target_len >= number of units). Both hit the target length exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def dedup(units) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encode: [5, 5, 2, 2, 2, 7] -> ([5, 2, 7], [2, 3, 1])."""
    u = np.asarray(units).reshape(-1)
    if u.size == 0:
        return u.copy(), np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(np.diff(u)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [u.size]])
    return u[starts], (ends - starts).astype(np.int64)


def expand(units, durations) -> np.ndarray:
    """Inverse of :func:`dedup`: repeat each unit ``durations[i]`` times."""
    return np.repeat(np.asarray(units), np.asarray(durations, dtype=np.int64))


def scale_durations(durations, target_len: int) -> np.ndarray:
    """Rescale integer durations to sum exactly to ``target_len`` (largest remainder, each >= 1 when possible)."""
    d = np.asarray(durations, dtype=np.float64)
    n = d.size
    if n == 0:
        raise ValueError("no units to regulate")
    if target_len < n:  # cannot keep every unit: fall back to nearest-neighbour frame selection
        return None  # type: ignore[return-value]
    exact = d / d.sum() * target_len
    base = np.maximum(np.floor(exact), 1).astype(np.int64)
    diff = target_len - int(base.sum())
    rem = exact - np.floor(exact)
    if diff > 0:
        for i in np.argsort(-rem, kind="stable")[:diff]:
            base[i] += 1
    elif diff < 0:
        order = np.argsort(rem, kind="stable")
        k = 0
        while diff < 0:
            i = order[k % n]
            if base[i] > 1:
                base[i] -= 1
                diff += 1
            k += 1
    return base


def regulate_to_length(units, durations, target_len: int, mode: str = "nearest") -> np.ndarray:
    """Expand deduplicated ``units`` by ``durations`` and stretch to exactly ``target_len`` frames.

    nearest: frame j of the output takes expanded frame floor((j + 0.5) * T / target_len), T = sum(durations).
    scale:   durations rescaled by largest remainder to sum to target_len (nearest when target_len < #units).
    """
    if target_len < 1:
        raise ValueError("target_len must be >= 1")
    units = np.asarray(units)
    durations = np.maximum(np.asarray(durations, dtype=np.int64), 1)
    if mode == "scale":
        d = scale_durations(durations, target_len)
        if d is not None:
            return expand(units, d)
        mode = "nearest"
    if mode != "nearest":
        raise ValueError(f"unknown regulator mode {mode!r} (nearest, scale)")
    frames = expand(units, durations)
    T = frames.size
    idx = np.floor((np.arange(target_len) + 0.5) * T / target_len).astype(np.int64)
    return frames[np.clip(idx, 0, T - 1)]


def durations_from_log(log_d: torch.Tensor) -> torch.Tensor:
    """AV2AV: d = clamp(round(exp(log(1 + d)) - 1), min=1)."""
    return torch.clamp(torch.round(torch.exp(log_d) - 1), min=1).long()


class DurationPredictor(nn.Module):
    """Conv variance predictor on deduplicated unit ids -> log(1 + d) per unit (AV2AV ``duration_predictor``)."""

    def __init__(self, n_units: int, hidden: int = 128, kernel: int = 3, dropout: float = 0.5):
        super().__init__()
        self.pad_id = n_units
        self.emb = nn.Embedding(n_units + 1, hidden, padding_idx=n_units)
        self.c1 = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.n1 = nn.LayerNorm(hidden)
        self.c2 = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.n2 = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 1)

    def forward(self, units: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """units [B, N] long -> log(1 + d) [B, N]."""
        h = self.emb(units.clamp(0, self.pad_id))
        h = self.drop(self.n1(torch.relu(self.c1(h.transpose(1, 2)).transpose(1, 2))))
        h = self.drop(self.n2(torch.relu(self.c2(h.transpose(1, 2)).transpose(1, 2))))
        out = self.out(h).squeeze(-1)
        return out * mask if mask is not None else out


def duration_loss(log_d_pred: torch.Tensor, durations: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE on log(1 + d), masked."""
    target = torch.log1p(durations.float())
    return (((log_d_pred - target) ** 2) * mask).sum() / mask.sum().clamp_min(1)
