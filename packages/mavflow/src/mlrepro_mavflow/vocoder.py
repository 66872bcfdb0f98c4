"""Vocoder interface: log-mel [n_mels, L] -> waveform.

- ``GriffinLimVocoder``: librosa's mel inversion + Griffin-Lim (CPU; used by the mini pipeline demo).
- ``HiFiGANGenerator``: HiFi-GAN V1 generator (Kong et al. 2020) for the paper recipe, with a loader that merges
  the weight-norm parameters (``weight_g``/``weight_v``) of released checkpoints (Matcha ships
  ``hifigan_univ_v1``; AV2AV used a unit HiFi-GAN). Which vocoder MAVFlow used is [UNKNOWN]; BigVGAN fits the same
  interface. The default config is HiFi-GAN V1 for hop 256 (rates 8, 8, 2, 2).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Vocoder(Protocol):
    sample_rate: int

    def __call__(self, logmel: np.ndarray) -> np.ndarray: ...


class GriffinLimVocoder:
    def __init__(self, sample_rate: int = 16000, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 80,
                 fmin: float = 0.0, fmax: float = 8000.0, n_iter: int = 32):
        self.sample_rate, self.n_fft, self.hop, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.fmin, self.fmax, self.n_iter = fmin, fmax, n_iter

    def __call__(self, logmel: np.ndarray) -> np.ndarray:
        import librosa

        m = np.exp(np.asarray(logmel, dtype=np.float64))
        wav = librosa.feature.inverse.mel_to_audio(m, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop,
                                                   win_length=self.n_fft, power=1.0, n_iter=self.n_iter,
                                                   fmin=self.fmin, fmax=self.fmax)
        return wav.astype(np.float32)


class _ResBlock(nn.Module):
    def __init__(self, ch: int, k: int, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList([nn.Conv1d(ch, ch, k, dilation=d, padding=d * (k - 1) // 2) for d in dilations])
        self.convs2 = nn.ModuleList([nn.Conv1d(ch, ch, k, padding=(k - 1) // 2) for _ in dilations])

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN generator: conv_pre -> [upsample -> multi-receptive-field resblocks] x N -> conv_post -> tanh."""

    def __init__(self, n_mels: int = 80, upsample_rates=(8, 8, 2, 2), upsample_kernel_sizes=(16, 16, 4, 4),
                 upsample_initial_channel: int = 512, resblock_kernel_sizes=(3, 7, 11),
                 resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5))):
        super().__init__()
        self.conv_pre = nn.Conv1d(n_mels, upsample_initial_channel, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for u, k in zip(upsample_rates, upsample_kernel_sizes):
            self.ups.append(nn.ConvTranspose1d(ch, ch // 2, k, u, padding=(k - u) // 2))
            ch //= 2
            for rk, rd in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(_ResBlock(ch, rk, rd))
        self.conv_post = nn.Conv1d(ch, 1, 7, padding=3)
        self.num_kernels = len(resblock_kernel_sizes)
        self.hop = int(np.prod(upsample_rates))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            x = sum(self.resblocks[i * self.num_kernels + j](x) for j in range(self.num_kernels)) / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def merge_weight_norm(sd: dict) -> dict:
    """Turn ``*.weight_g``/``*.weight_v`` pairs (torch weight_norm, dim 0) into plain ``*.weight``."""
    out = {}
    for k, v in sd.items():
        if k.endswith("weight_g"):
            base = k[: -len("_g")]
            g, w = v, sd[base + "_v"]
            norm = w.flatten(1).norm(dim=1).reshape(-1, *([1] * (w.ndim - 1)))
            out[base] = g * w / norm
        elif k.endswith("weight_v"):
            continue
        else:
            out[k] = v
    return out


class HiFiGANVocoder:  # pragma: no cover - needs a released checkpoint
    def __init__(self, checkpoint: str, sample_rate: int = 22050, device: str = "cpu", **gen_kwargs):
        self.sample_rate = sample_rate
        self.gen = HiFiGANGenerator(**gen_kwargs)
        sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.gen.load_state_dict(merge_weight_norm(sd.get("generator", sd)))
        self.gen.eval().to(device)
        self.device = device

    @torch.no_grad()
    def __call__(self, logmel: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(logmel, dtype=torch.float32, device=self.device)[None]
        return self.gen(x)[0, 0].cpu().numpy()


def build_vocoder(vcfg, dcfg, device: str = "cpu"):
    if vcfg.backend == "griffinlim":
        return GriffinLimVocoder(dcfg.sample_rate, dcfg.n_fft, dcfg.hop_length, dcfg.n_mels, dcfg.fmin, dcfg.fmax,
                                 vcfg.n_iter)
    if vcfg.backend == "hifigan":
        return HiFiGANVocoder(vcfg.checkpoint, dcfg.sample_rate, device, n_mels=dcfg.n_mels,
                              upsample_rates=vcfg.upsample_rates, upsample_kernel_sizes=vcfg.upsample_kernel_sizes,
                              upsample_initial_channel=vcfg.upsample_initial_channel,
                              resblock_kernel_sizes=vcfg.resblock_kernel_sizes,
                              resblock_dilation_sizes=vcfg.resblock_dilation_sizes)
    raise ValueError(f"unknown vocoder {vcfg.backend!r}")
