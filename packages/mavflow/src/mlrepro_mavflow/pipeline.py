"""End-to-end zero-shot AV dubbing (spec §2.1): units -> (translation) -> durations -> length regulation to the
source length -> CFM mel conditioned on the source speaker and the source face's emotion -> vocoder -> face.

The same ``prepare_condition`` is used by the batched evaluation in ``reproduce.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import resample_to_mel_rate
from .method.durations import dedup, regulate_to_length
from .trainer import predict_durations


@dataclass
class RenderInputs:
    units: np.ndarray      # frame-level target units, exactly the source length
    spk: np.ndarray        # utterance-level speaker vector a_utt of the source
    emo: np.ndarray        # [E, L] visual emotion stream at the mel rate
    n_target_units: int


def prepare_condition(content_units: np.ndarray, src_len: int, vis: np.ndarray, a_utt: np.ndarray, dur_model,
                      translator, mel_rate: float, video_fps: float, mode: str = "nearest") -> RenderInputs:
    """Frame-level content units of ANY length -> target units regulated to ``src_len`` + conditions."""
    u, _ = dedup(content_units)
    u = translator(u)
    d = predict_durations(dur_model, u)
    frames = regulate_to_length(u, d, src_len, mode)
    emo = resample_to_mel_rate(vis, src_len, mel_rate, video_fps).T
    return RenderInputs(frames.astype(np.int64), np.asarray(a_utt, dtype=np.float32), emo.astype(np.float32), len(u))


class DubbingPipeline:
    """Wraps the trained parts; ``__call__`` renders one clip and returns mel, waveform and face frames."""

    def __init__(self, unit_extractor, translator, dur_model, speaker_embed, renderer, mel_stats, vocoder=None,
                 face=None, mel_rate: float = 62.5, video_fps: float = 25.0, regulator: str = "nearest"):
        self.units, self.translator, self.dur = unit_extractor, translator, dur_model
        self.speaker_embed, self.renderer, self.mel_stats = speaker_embed, renderer, mel_stats
        self.vocoder, self.face = vocoder, face
        self.mel_rate, self.video_fps, self.regulator = mel_rate, video_fps, regulator

    @torch.no_grad()
    def __call__(self, src_mel: np.ndarray, content_mel: np.ndarray, vis: np.ndarray, n_steps: int = 10,
                 solver: str = "euler", temperature: float = 0.667, w_a: float = 0.0, w_v: float = 0.0,
                 combiner: str = "nested", seed: int = 0, faces: np.ndarray | None = None) -> dict:
        mean, std = self.mel_stats
        L = src_mel.shape[1]
        a_utt = self.speaker_embed(src_mel)
        inp = prepare_condition(self.units(content_mel), L, vis, a_utt, self.dur, self.translator, self.mel_rate,
                                self.video_fps, self.regulator)
        g = torch.Generator().manual_seed(seed)
        out = self.renderer.synthesize(torch.from_numpy(inp.units)[None], torch.ones(1, 1, L),
                                       torch.from_numpy(inp.spk)[None], torch.from_numpy(inp.emo)[None],
                                       n_steps=n_steps, solver=solver, temperature=temperature, w_a=w_a, w_v=w_v,
                                       combiner=combiner, generator=g)
        mel = out["mel"][0].numpy() * std + mean
        res = {"mel": mel, "units": inp.units, "nfe": out["nfe"], "net_evals": out["net_evals"]}
        if self.vocoder is not None:
            res["wav"] = self.vocoder(mel)
            if self.face is not None:
                n_video = vis.shape[0] if faces is None else faces.shape[0]
                base = faces if faces is not None else self.face.blank_faces(n_video)
                res["frames"] = self.face(base, res["wav"], self.vocoder.sample_rate, vis)
        return res
