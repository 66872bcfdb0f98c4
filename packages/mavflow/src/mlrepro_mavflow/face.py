"""Face renderer interface: re-synthesise the talking face from the generated speech (spec §2.1 step 7).

MAVFlow uses a Wav2Lip-based generator; how the emotion reaches it is [UNKNOWN]. Wav2Lip computes its OWN mel
(16 kHz, n_fft 800, hop 200, win 800, fmin 55, fmax 7600, pre-emphasis 0.97, symmetric scaling to [-4, 4]) from the
vocoded waveform, so the renderer takes the waveform, not the CFM mel (spec §3 integration note).

- ``ToyFaceRenderer`` (CPU): draws a face whose mouth opening follows the speech energy and whose brows follow the
  valence of the emotion stream; it keeps the frame count of the source video (isometric dubbing).
- ``Wav2LipRenderer`` (paper): loads the Wav2Lip model from a local clone + checkpoint and runs it on 96x96 face
  crops with 5-frame windows and 16 mel frames per video frame.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

import numpy as np


class FaceRenderer(Protocol):
    def __call__(self, faces: np.ndarray, wav: np.ndarray, sr: int, emotion: np.ndarray | None = None) -> np.ndarray:
        """faces [T, H, W, 3] uint8 -> rendered frames [T, H, W, 3] uint8 (same T)."""


def wav2lip_mel(wav: np.ndarray, sr: int = 16000) -> np.ndarray:
    """Wav2Lip's audio features [80, n] (80 frames/s at 16 kHz)."""
    import librosa
    from scipy.signal import lfilter

    if sr != 16000:
        wav = librosa.resample(np.asarray(wav, dtype=np.float32), orig_sr=sr, target_sr=16000)
    y = lfilter([1, -0.97], [1], wav)
    S = np.abs(librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800))
    mel = librosa.feature.melspectrogram(S=S, sr=16000, n_mels=80, fmin=55, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    return np.clip(8 * ((db + 100) / 100) - 4, -4, 4).astype(np.float32)


def wav2lip_mel_chunks(mel: np.ndarray, n_frames: int, fps: float = 25.0, step: int = 16) -> np.ndarray:
    """One 16-frame mel window per video frame (Wav2Lip's ``mel_idx_multiplier = 80 / fps``)."""
    mult = 80.0 / fps
    chunks = []
    for i in range(n_frames):
        s = int(i * mult)
        if s + step > mel.shape[1]:
            s = max(0, mel.shape[1] - step)
        c = mel[:, s:s + step]
        if c.shape[1] < step:
            c = np.pad(c, ((0, 0), (0, step - c.shape[1])), mode="edge")
        chunks.append(c)
    return np.stack(chunks)


def frame_energy(wav: np.ndarray, sr: int, n_frames: int, fps: float = 25.0) -> np.ndarray:
    hop = sr / fps
    e = np.array([np.sqrt(np.mean(wav[int(i * hop):int((i + 1) * hop)] ** 2) + 1e-12) if int(i * hop) < len(wav) else 0.0
                  for i in range(n_frames)])
    return e / (e.max() + 1e-8)


class ToyFaceRenderer:
    def __init__(self, size: int = 96, fps: float = 25.0):
        self.size, self.fps = size, fps

    def blank_faces(self, n_frames: int) -> np.ndarray:
        s = self.size
        yy, xx = np.mgrid[:s, :s]
        face = ((yy - s / 2) ** 2 / (0.45 * s) ** 2 + (xx - s / 2) ** 2 / (0.35 * s) ** 2) <= 1
        img = np.zeros((s, s, 3), dtype=np.uint8)
        img[face] = (224, 180, 150)
        return np.repeat(img[None], n_frames, 0)

    def __call__(self, faces, wav, sr, emotion=None):
        faces = np.array(faces, copy=True)
        T, s = faces.shape[0], faces.shape[1]
        open_ = frame_energy(np.asarray(wav), sr, T, self.fps)
        val = np.zeros(T) if emotion is None or emotion.shape[-1] < 2 else np.asarray(emotion)[:T, -2]
        yy, xx = np.mgrid[:s, :s]
        for t in range(T):
            h = 1 + 0.12 * s * open_[t]
            mouth = ((yy - 0.7 * s) ** 2 / h**2 + (xx - s / 2) ** 2 / (0.15 * s) ** 2) <= 1
            faces[t][mouth] = (120, 30, 40)
            brow_y = int(0.35 * s - 0.05 * s * float(np.clip(val[t] if t < len(val) else 0, -1, 1)))
            faces[t, max(brow_y, 0), int(0.3 * s):int(0.45 * s)] = (60, 40, 30)
            faces[t, max(brow_y, 0), int(0.55 * s):int(0.7 * s)] = (60, 40, 30)
        return faces


class Wav2LipRenderer:  # pragma: no cover - needs the Wav2Lip code and checkpoint
    def __init__(self, repo: str, checkpoint: str, device: str = "cpu", batch_size: int = 32):
        import torch

        if not repo or not Path(repo).exists():
            raise FileNotFoundError("face.backend=wav2lip needs face.wav2lip_repo (a clone of Rudrabha/Wav2Lip)")
        sys.path.insert(0, str(repo))
        from models import Wav2Lip  # the repo's own module (Wav2Lip issue #92: import path)

        self.model = Wav2Lip()
        ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
        sd = ck.get("state_dict", ck)
        self.model.load_state_dict({k.replace("module.", ""): v for k, v in sd.items()})
        self.model.eval().to(device)
        self.device, self.batch_size = device, batch_size

    def __call__(self, faces, wav, sr, emotion=None):
        """faces: pre-cropped 96x96 faces [T, 96, 96, 3]; returns the re-synthesised crops."""
        import torch

        T = faces.shape[0]
        chunks = wav2lip_mel_chunks(wav2lip_mel(wav, sr), T)
        out = []
        for i in range(0, T, self.batch_size):
            f = faces[i:i + self.batch_size].astype(np.float32) / 255.0
            masked = f.copy()
            masked[:, f.shape[1] // 2:] = 0
            img = torch.from_numpy(np.concatenate([masked, f], axis=3)).permute(0, 3, 1, 2).to(self.device)
            mel = torch.from_numpy(chunks[i:i + self.batch_size])[:, None].to(self.device)
            with torch.no_grad():
                pred = self.model(mel, img)
            out.append((pred.permute(0, 2, 3, 1).cpu().numpy() * 255).clip(0, 255).astype(np.uint8))
        return np.concatenate(out)


def build_face_renderer(fcfg, device: str = "cpu"):
    if fcfg.backend == "toy":
        return ToyFaceRenderer(fcfg.size)
    if fcfg.backend == "wav2lip":
        return Wav2LipRenderer(fcfg.wav2lip_repo, fcfg.checkpoint, device)
    return None
