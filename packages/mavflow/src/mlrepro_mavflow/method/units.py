"""Speech units: the extractor interface, the k-means CPU stand-in, and unit-to-unit translators (spec §2.1).

Paper: multilingual m-AVHuBERT (audio + lip video) -> 1000 discrete units at 50 Hz, then UTUT translation of the
deduplicated units. Neither checkpoint is reachable offline, so the CPU stand-in clusters MFCC frames of the
log-mel with k-means (k = 50), one unit per mel frame, after dropping c0 and removing the per-utterance cepstral
mean (so units carry content, not loudness or a constant spectral tilt). The paper back-ends are kept behind the
same interface and imported lazily.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy.fft import dct


class UnitExtractor(Protocol):
    k: int

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        """log-mel [n_mels, L] -> frame-level unit ids [L] (int64)."""


class UnitTranslator(Protocol):
    def __call__(self, units: np.ndarray) -> np.ndarray:
        """deduplicated source-language units -> deduplicated target-language units."""


def mfcc_from_logmel(logmel: np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    """DCT-II (orthonormal) over the mel axis of a log-mel [M, L] -> cepstra [n_mfcc, L]."""
    return dct(np.asarray(logmel, dtype=np.float64), type=2, norm="ortho", axis=0)[:n_mfcc]


def unit_features(logmel: np.ndarray, n_mfcc: int = 13, cmn: bool = True) -> np.ndarray:
    """k-means features: c1..c_{n_mfcc-1} per frame [L, n_mfcc - 1], optionally mean-normalised per utterance."""
    c = mfcc_from_logmel(logmel, n_mfcc)[1:].T
    if cmn:
        c = c - c.mean(axis=0, keepdims=True)
    return c.astype(np.float64)


def kmeans(x: np.ndarray, k: int, iters: int = 25, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding (deterministic given ``seed``). Returns centroids [k, D]."""
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    if n < k:
        raise ValueError(f"k-means needs at least k={k} frames, got {n}")
    cent = np.empty((k, x.shape[1]))
    cent[0] = x[rng.integers(n)]
    d2 = ((x - cent[0]) ** 2).sum(1)
    for j in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        cent[j] = x[rng.choice(n, p=p)]
        d2 = np.minimum(d2, ((x - cent[j]) ** 2).sum(1))
    for _ in range(iters):
        assign = assign_nearest(x, cent)
        new = cent.copy()
        for j in range(k):
            sel = assign == j
            if sel.any():
                new[j] = x[sel].mean(0)
            else:  # re-seed an empty cluster at the worst-fit point
                far = ((x - cent[assign]) ** 2).sum(1).argmax()
                new[j] = x[far]
        if np.allclose(new, cent):
            break
        cent = new
    return cent


def assign_nearest(x: np.ndarray, cent: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2 * x @ cent.T + (cent * cent).sum(1)[None]
    return d.argmin(1).astype(np.int64)


class KMeansUnits:
    """CPU stand-in for m-AVHuBERT units: k-means over (CMN) MFCC frames of the log-mel."""

    def __init__(self, k: int = 50, n_mfcc: int = 13, cmn: bool = True, centroids: np.ndarray | None = None):
        self.k, self.n_mfcc, self.cmn = k, n_mfcc, cmn
        self.centroids = centroids

    def fit(self, mels: list[np.ndarray], iters: int = 25, seed: int = 0, max_frames: int = 60000) -> KMeansUnits:
        feats = np.concatenate([unit_features(m, self.n_mfcc, self.cmn) for m in mels])
        if feats.shape[0] > max_frames:
            feats = feats[np.random.default_rng(seed).choice(feats.shape[0], max_frames, replace=False)]
        self.centroids = kmeans(feats, self.k, iters, seed)
        return self

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        if self.centroids is None:
            raise RuntimeError("KMeansUnits is not fitted")
        return assign_nearest(unit_features(mel, self.n_mfcc, self.cmn), self.centroids)

    def state(self) -> dict:
        return {"k": self.k, "n_mfcc": self.n_mfcc, "cmn": self.cmn, "centroids": self.centroids}

    @classmethod
    def from_state(cls, st: dict) -> KMeansUnits:
        return cls(int(st["k"]), int(st["n_mfcc"]), bool(st["cmn"]), np.asarray(st["centroids"]))


class MAVHuBERTUnits:  # pragma: no cover - needs fairseq, the AV-HuBERT user module and checkpoints
    """Paper back-end: m-AVHuBERT features + its k-means quantiser (AV2AV ``av2unit``), 1000 units at 50 Hz.

    ``fairseq`` must be installed and the AV-HuBERT user dir imported before loading the checkpoint, otherwise
    fairseq fails with "Could not infer model/task type" (av_hubert issues #18/#63/#100, muavic #24).
    """

    k = 1000

    def __init__(self, checkpoint: str, km_path: str, user_dir: str, device: str = "cpu"):
        try:
            from argparse import Namespace

            import fairseq  # noqa: F401
            from fairseq import checkpoint_utils, utils
        except ImportError as e:
            raise ImportError("units.backend=mavhubert needs fairseq and the AV-HuBERT code (see README)") from e
        if not Path(checkpoint).exists():
            raise FileNotFoundError(f"m-AVHuBERT checkpoint not found: {checkpoint}")
        sys.path.insert(0, str(Path(user_dir).parent))
        utils.import_user_module(Namespace(user_dir=user_dir))
        models, _, self.task = checkpoint_utils.load_model_ensemble_and_task([checkpoint])
        self.model = models[0].eval().to(device)
        import joblib

        self.km = joblib.load(km_path)
        self.device = device

    def __call__(self, audio_video) -> np.ndarray:
        import torch

        audio, video = audio_video
        with torch.no_grad():
            feats, _ = self.model.extract_finetune(source={"audio": audio, "video": video}, padding_mask=None,
                                                   output_layer=None)
        return self.km.predict(feats[0].cpu().numpy()).astype(np.int64)


class IdentityTranslator:
    """Same-language rendering (resynthesis) or units that are already in the target language."""

    def __call__(self, units: np.ndarray) -> np.ndarray:
        return np.asarray(units)


class RemapTranslator:
    """Toy 'translation': a fixed random permutation of the unit inventory (a stand-in for UTUT)."""

    def __init__(self, k: int, seed: int = 0):
        self.table = np.random.default_rng(seed).permutation(k)

    def __call__(self, units: np.ndarray) -> np.ndarray:
        return self.table[np.asarray(units)]


class UTUTTranslator:  # pragma: no cover - needs fairseq and the UTUT checkpoint
    """Paper back-end: UTUT multilingual unit-to-unit transformer (AV2AV ``unit2unit``), language tag appended."""

    def __init__(self, checkpoint: str, tgt_lang: str = "en"):
        try:
            from fairseq import checkpoint_utils
        except ImportError as e:
            raise ImportError("units.translator=utut needs fairseq and the UTUT checkpoint (see README)") from e
        models, _, self.task = checkpoint_utils.load_model_ensemble_and_task([checkpoint])
        self.model, self.tgt_lang = models[0].eval(), tgt_lang

    def __call__(self, units: np.ndarray) -> np.ndarray:
        raise NotImplementedError("UTUT beam-search decoding is run with fairseq-generate in the paper recipe")


def build_translator(name: str, k: int, seed: int = 0, checkpoint: str = ""):
    if name == "identity":
        return IdentityTranslator()
    if name == "remap":
        return RemapTranslator(k, seed)
    if name == "utut":
        return UTUTTranslator(checkpoint)
    raise ValueError(f"unknown translator {name!r}")
