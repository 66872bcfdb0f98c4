"""Metrics (spec §2.4, with our stand-in definitions where the paper's are [UNKNOWN]).

- SECS / SS: cosine between verifier embeddings of the source clip and of the generated mel (``method.speaker``).
- mel MSE: mean squared error of log-mels of equal length.
- MCD: mel-cepstral distortion, (10 / ln 10) * sqrt(2 * sum_{k=1..12} (c_k - c'_k)^2) per frame, averaged over
  frames; c_k = the real cepstrum of the log-magnitude mel spectrum, DCT-II(log mel)_k / (2 M) (c0, the energy
  term, excluded). Frame-aligned, for outputs of equal length.
- DTW: librosa DTW (Euclidean local cost on the same cepstra c1..c12, steps (1,1), (0,1), (1,0)) between generated
  and reference; reported as accumulated cost / path length. ``dtw_warp`` = path length / reference length - 1 (0 when
  the timing needs no warping). Stand-ins for the paper's DTW / DTW-SL, whose definitions are [UNKNOWN].
- length-match error: |frames(output) - frames(source)| (the isometric constraint asks for 0).
- Emo-Acc: accuracy of the emotion classifier (``emotion.EmotionClassifier``) on generated mels.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

MCD_CONST = 10.0 / np.log(10.0)


def mel_cepstrum(logmel: np.ndarray, n: int = 13) -> np.ndarray:
    """Real cepstrum of a natural-log mel spectrum [M, L]: c_k = DCT-II(log S)_k / (2 M), k = 0..n-1."""
    x = np.asarray(logmel, dtype=np.float64)
    return dct(x, type=2, norm=None, axis=0)[:n] / (2 * x.shape[0])


def mel_mse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"mel_mse needs equal shapes, got {a.shape} vs {b.shape}")
    return float(((a - b) ** 2).mean())


def mcd(a: np.ndarray, b: np.ndarray, n_mfcc: int = 13) -> float:
    """Frame-aligned mel-cepstral distortion (dB) of two log-mels [M, L] of equal length."""
    ca, cb = mel_cepstrum(a, n_mfcc)[1:], mel_cepstrum(b, n_mfcc)[1:]
    if ca.shape != cb.shape:
        raise ValueError("mcd needs equal lengths (use dtw_distance for unequal ones)")
    return float((MCD_CONST * np.sqrt(2.0 * ((ca - cb) ** 2).sum(0))).mean())


def dtw_distance(a: np.ndarray, b: np.ndarray, n_mfcc: int = 13) -> tuple[float, float]:
    """(accumulated cost / path length, path length / len(b) - 1) of the DTW alignment of cepstra(a) to cepstra(b)."""
    import librosa

    fa, fb = mel_cepstrum(a, n_mfcc)[1:], mel_cepstrum(b, n_mfcc)[1:]
    D, wp = librosa.sequence.dtw(X=fa, Y=fb, metric="euclidean")
    return float(D[-1, -1] / len(wp)), float(len(wp) / fb.shape[1] - 1.0)


def dtw_bruteforce(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Reference DP (steps (1,1),(1,0),(0,1), unit weights) on feature columns; (cost, path length). For tests."""
    n, m = x.shape[1], y.shape[1]
    C = np.sqrt(((x[:, :, None] - y[:, None, :]) ** 2).sum(0))
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            D[i, j] = C[i - 1, j - 1] + min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
    i, j, steps = n, m, 1
    while (i, j) != (1, 1):
        cands = [(D[i - 1, j - 1], i - 1, j - 1), (D[i - 1, j], i - 1, j), (D[i, j - 1], i, j - 1)]
        _, i, j = min(cands, key=lambda c: c[0])
        steps += 1
    return float(D[n, m]), steps


def length_match_error(n_out: int, n_src: int) -> int:
    return abs(int(n_out) - int(n_src))


def accuracy(pred, labels) -> float:
    pred, labels = np.asarray(pred), np.asarray(labels)
    return float((pred == labels).mean()) if len(labels) else float("nan")


def summarize(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}


def bootstrap_diff_ci(a, b, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(a - b) over paired items."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
