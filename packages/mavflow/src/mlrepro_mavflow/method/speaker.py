"""Speaker embeddings and speaker similarity (spec §2.1 step 4, §2.4 "SS").

- Training conditions on the speaker-level embedding a_spk = (1/N) sum_i a_utt,i (mean x-vector over the N
  utterances of the speaker); inference uses the utterance-level a_utt of the source clip. Both are L2-normalised
  before use [INFERRED: keeps the training / inference inputs on the same scale].
- SECS / SS = cosine similarity of two speaker embeddings.

Back-ends:
- ``XVectorTDNN``: a small trainable x-vector (speechbrain layout: 5 TDNN layers with kernels [5,3,3,1,1] and
  dilations [1,2,3,1,1], statistics pooling, embedding layer; narrower channels on CPU).
- ``GE2EEncoder``: resemblyzer's GE2E d-vector (3-layer LSTM 256, linear 256, ReLU, L2) re-implemented so the
  weights that ship in the resemblyzer wheel can be loaded with ``torch.load(weights_only=True)`` without
  importing resemblyzer (whose ``webrtcvad`` dependency imports ``pkg_resources``).
- ``ResemblyzerEncoder``: the resemblyzer package itself (optional extra ``speaker``).
- ``SpeechBrainXVector``: ``speechbrain/spkrec-xvect-voxceleb`` (paper recipe; needs speechbrain + hub).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def cosine(a, b, eps: float = 1e-8):
    """Cosine similarity along the last axis (numpy or torch)."""
    if isinstance(a, torch.Tensor):
        return F.cosine_similarity(a, b, dim=-1, eps=eps)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), eps)


def secs(emb_a, emb_b) -> np.ndarray:
    """Speaker-encoder cosine similarity (SECS / SS) per pair."""
    return np.asarray(cosine(np.asarray(emb_a), np.asarray(emb_b)))


def l2norm(x, eps: float = 1e-8):
    if isinstance(x, torch.Tensor):
        return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def speaker_average(embs: np.ndarray, speakers: np.ndarray, normalize: bool = True) -> dict[int, np.ndarray]:
    """a_spk = (1/N) sum_i a_utt,i for each speaker id (per-utterance embeddings L2-normalised first)."""
    embs = l2norm(embs) if normalize else np.asarray(embs)
    out = {}
    for s in np.unique(speakers):
        m = embs[speakers == s].mean(0)
        out[int(s)] = l2norm(m) if normalize else m
    return out


class XVectorTDNN(nn.Module):
    """x-vector: TDNN frames -> statistics pooling (mean, std) -> embedding; a linear classifier for training."""

    def __init__(self, n_feats: int = 80, channels=(64, 64, 64, 64, 192), kernels=(5, 3, 3, 1, 1),
                 dilations=(1, 2, 3, 1, 1), emb_dim: int = 64, n_classes: int = 0, sentence_norm: bool = False):
        super().__init__()
        convs, norms, cin = [], [], n_feats
        for ch, k, d in zip(channels, kernels, dilations):
            convs.append(nn.Conv1d(cin, ch, k, dilation=d, padding=d * (k - 1) // 2))
            norms.append(nn.BatchNorm1d(ch))
            cin = ch
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.emb = nn.Linear(2 * cin, emb_dim)
        self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.BatchNorm1d(emb_dim), nn.Linear(emb_dim, n_classes)) if n_classes else None
        self.sentence_norm = sentence_norm

    def embed(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """feats [B, F, L] (normalised log-mel), mask [B, 1, L] -> x-vector [B, emb_dim]."""
        if mask is None:
            mask = torch.ones_like(feats[:, :1])
        n = mask.sum(-1).clamp_min(1)
        if self.sentence_norm:
            feats = (feats - (feats * mask).sum(-1, keepdim=True) / n[..., None]) * mask
        h = feats * mask
        for conv, norm in zip(self.convs, self.norms):
            h = norm(F.leaky_relu(conv(h), 0.2)) * mask  # re-mask: padded frames never reach valid ones
        mean = h.sum(-1) / n
        var = ((h - mean[..., None]) ** 2 * mask).sum(-1) / n
        return self.emb(torch.cat([mean, var.clamp_min(1e-6).sqrt()], dim=-1))

    def forward(self, feats, mask=None):
        e = self.embed(feats, mask)
        return self.head(e) if self.head is not None else e


# ----------------------------------------------------------------------------------------------------------------
# resemblyzer (GE2E): weights shipped in the PyPI wheel; 16 kHz, 40 mels, 25 ms / 10 ms, 160-frame partials.
GE2E_SR, GE2E_MELS, GE2E_PARTIAL = 16000, 40, 160


def resemblyzer_weights_path() -> Path | None:
    """Path of ``pretrained.pt`` inside an installed resemblyzer, found without importing the package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    return p if p.exists() else None


def ge2e_frames(wav: np.ndarray, sr: int = GE2E_SR) -> np.ndarray:
    """40-band mel power frames [L, 40] with 25 ms windows and 10 ms hops (GE2E front end)."""
    import librosa

    if sr != GE2E_SR:
        wav = librosa.resample(np.asarray(wav, dtype=np.float32), orig_sr=sr, target_sr=GE2E_SR)
    m = librosa.feature.melspectrogram(y=np.asarray(wav, dtype=np.float32), sr=GE2E_SR, n_fft=int(GE2E_SR * 0.025),
                                       hop_length=int(GE2E_SR * 0.01), n_mels=GE2E_MELS)
    return m.astype(np.float32).T


class GE2EEncoder(nn.Module):
    """3-layer LSTM(40 -> 256) -> linear(256) -> ReLU -> L2 norm; utterance embedding = normalised mean of
    the embeddings of 160-frame partials taken every 80 frames (the last one padded)."""

    def __init__(self, hidden: int = 256, emb: int = 256, layers: int = 3):
        super().__init__()
        self.lstm = nn.LSTM(GE2E_MELS, hidden, layers, batch_first=True)
        self.linear = nn.Linear(hidden, emb)

    @classmethod
    def from_resemblyzer_weights(cls, path: str | Path | None = None) -> GE2EEncoder:
        path = Path(path) if path else resemblyzer_weights_path()
        if path is None or not Path(path).exists():
            raise FileNotFoundError("resemblyzer weights not found: install the 'speaker' extra "
                                    "(uv sync --extra speaker) or pass the path of pretrained.pt")
        ck = torch.load(path, map_location="cpu", weights_only=True)
        sd = ck.get("model_state", ck)
        model = cls()
        model.load_state_dict({k: v for k, v in sd.items() if k.startswith(("lstm.", "linear."))})
        return model.eval()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(frames)
        return l2norm(F.relu(self.linear(h[-1])))

    @torch.no_grad()
    def embed_utterance(self, wav: np.ndarray, sr: int = GE2E_SR, rate_frames: int = 80) -> np.ndarray:
        fr = ge2e_frames(wav, sr)
        n = max(1, int(np.ceil(max(len(fr) - GE2E_PARTIAL, 0) / rate_frames)) + 1)
        need = (n - 1) * rate_frames + GE2E_PARTIAL
        if len(fr) < need:
            fr = np.pad(fr, ((0, need - len(fr)), (0, 0)))
        parts = np.stack([fr[i * rate_frames: i * rate_frames + GE2E_PARTIAL] for i in range(n)])
        e = self(torch.from_numpy(parts)).mean(0)
        return l2norm(e).numpy()


class ResemblyzerEncoder:  # pragma: no cover - optional extra
    """The resemblyzer package (``uv sync --extra speaker``): ``VoiceEncoder.embed_utterance`` on 16 kHz audio."""

    def __init__(self, device: str = "cpu"):
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as e:
            raise ImportError("speaker backend 'resemblyzer' needs the optional extra: "
                              "uv sync --package mlrepro-mavflow --extra speaker") from e
        self.enc = VoiceEncoder(device, verbose=False)

    def embed_utterance(self, wav: np.ndarray, sr: int = 16000) -> np.ndarray:
        from resemblyzer import preprocess_wav

        return self.enc.embed_utterance(preprocess_wav(wav, source_sr=sr))


class SpeechBrainXVector:  # pragma: no cover - needs speechbrain and the hub
    """Paper recipe: ``speechbrain/spkrec-xvect-voxceleb`` (512-d x-vector) via ``EncoderClassifier``."""

    def __init__(self, hub_id: str = "speechbrain/spkrec-xvect-voxceleb", savedir: str | None = None, device: str = "cpu"):
        try:
            from speechbrain.inference.speaker import EncoderClassifier
        except ImportError as e:
            raise ImportError("speaker backend 'speechbrain' needs `pip install speechbrain` (not a dependency)") from e
        self.model = EncoderClassifier.from_hparams(source=hub_id, savedir=savedir, run_opts={"device": device})

    def embed_utterance(self, wav: np.ndarray, sr: int = 16000) -> np.ndarray:
        x = torch.as_tensor(np.asarray(wav, dtype=np.float32))[None]
        return self.model.encode_batch(x).squeeze().cpu().numpy()
