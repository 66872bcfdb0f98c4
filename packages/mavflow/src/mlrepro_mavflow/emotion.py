"""Per-frame visual emotion stream and the speech-emotion classifier used for Emo-Acc.

MAVFlow feeds v_t = EmoFAN(f_t) for every face frame into the CFM renderer. Which EmoFAN layer is used is
[UNKNOWN]; we use its outputs (8 expression scores + valence + arousal = 10-d), interpolated from 25 fps to the
mel frame rate [INFERRED]. The EmoFAN weights are not reachable offline, so:
- the synthetic world supplies a noisy EmoFAN-shaped observation of its emotion state (``data.SyntheticWorld``);
- ``EmoFANEncoder`` wraps the real model for the paper recipe (needs the ``face-analysis/emonet`` code and
  ``emonet_8.pth``); ``EmoFANShaped`` is a tiny random network with the same input/output shapes for dry runs.

Emo-Acc: a small conv classifier trained on ground-truth mels of the training speakers predicts the emotion
class of generated mels (the paper uses a speech emotion classifier on CREMA-D labels).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn


class EmotionClassifier(nn.Module):
    """log-mel [B, M, L] (+ mask) -> emotion logits; conv stack + masked mean/std pooling."""

    def __init__(self, n_mels: int = 80, n_classes: int = 4, channels: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(n_mels, channels, 5, padding=2), nn.ReLU(), nn.BatchNorm1d(channels),
            nn.Conv1d(channels, channels, 5, padding=4, dilation=2), nn.ReLU(), nn.BatchNorm1d(channels))
        self.head = nn.Linear(2 * channels, n_classes)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones_like(x[:, :1])
        h = self.net(x * mask) * mask
        n = mask.sum(-1).clamp_min(1)
        mean = h.sum(-1) / n
        std = (((h - mean[..., None]) ** 2 * mask).sum(-1) / n).clamp_min(1e-6).sqrt()
        return self.head(torch.cat([mean, std], -1))


class EmoFANShaped(nn.Module):
    """Random stand-in with EmoFAN's interface: face crops [T, 3, H, W] -> 256-d feature -> 8 expr + V + A."""

    def __init__(self, n_expression: int = 8, feat: int = 256):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 16, 5, stride=4), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, feat))
        self.head = nn.Sequential(nn.Linear(feat, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, n_expression + 2))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(frames))


class EmoFANEncoder:  # pragma: no cover - needs the emonet code and weights
    """Paper back-end: EmoNet/EmoFAN (Toisoul et al. 2021) on 256x256 face crops -> [T, 10]."""

    def __init__(self, emonet_repo: str, checkpoint: str, n_expression: int = 8, device: str = "cpu"):
        if not emonet_repo or not Path(emonet_repo).exists():
            raise FileNotFoundError("emotion.backend=emofan needs emotion.emonet_repo (a clone of face-analysis/emonet)")
        sys.path.insert(0, str(emonet_repo))
        from emonet.models import EmoNet

        self.net = EmoNet(n_expression=n_expression).to(device).eval()
        sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.net.load_state_dict({k.replace("module.", ""): v for k, v in sd.items()}, strict=False)
        self.device = device

    @torch.no_grad()
    def __call__(self, faces: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(faces, dtype=torch.float32, device=self.device)
        if x.shape[-1] == 3:
            x = x.permute(0, 3, 1, 2)
        x = torch.nn.functional.interpolate(x / 255.0 if x.max() > 1.5 else x, size=(256, 256), mode="bilinear")
        out = self.net(x)
        return torch.cat([out["expression"], out["valence"][:, None], out["arousal"][:, None]], 1).cpu().numpy()


def temporal_smooth(v: np.ndarray, weights=(0.1, 0.1, 0.15, 0.25, 0.4)) -> np.ndarray:
    """EmoNet's optional causal 5-frame smoothing of per-frame predictions."""
    w = np.asarray(weights, dtype=np.float64)
    out = np.empty_like(v, dtype=np.float64)
    for t in range(len(v)):
        lo = max(0, t - len(w) + 1)
        ww = w[len(w) - (t - lo + 1):]
        out[t] = (v[lo:t + 1] * ww[:, None]).sum(0) / ww.sum()
    return out.astype(v.dtype)
