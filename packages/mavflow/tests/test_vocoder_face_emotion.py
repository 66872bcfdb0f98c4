"""Vocoder, face renderer and emotion-stream helpers."""

import numpy as np
import pytest
import torch
from mlrepro_mavflow.config import DataConfig
from mlrepro_mavflow.data import logmel
from mlrepro_mavflow.emotion import EmoFANShaped, EmotionClassifier, temporal_smooth
from mlrepro_mavflow.face import ToyFaceRenderer, frame_energy, wav2lip_mel, wav2lip_mel_chunks
from mlrepro_mavflow.vocoder import GriffinLimVocoder, HiFiGANGenerator, merge_weight_norm


def test_griffinlim_roundtrip_keeps_the_spectral_envelope():
    cfg = DataConfig()
    t = np.arange(16000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1500 * t)).astype(np.float32)
    m = logmel(wav, cfg)
    out = GriffinLimVocoder(n_iter=16)(m)
    assert abs(len(out) - len(wav)) <= cfg.hop_length
    m2 = logmel(out, cfg)[:, : m.shape[1]]
    assert m.mean(1).argmax() == m2.mean(1).argmax()  # the strongest band survives
    assert np.corrcoef(m.mean(1), m2.mean(1))[0, 1] > 0.7


def test_merge_weight_norm_matches_torch_weight_norm():
    conv = torch.nn.utils.weight_norm(torch.nn.Conv1d(3, 4, 5))
    sd = {k: v.detach() for k, v in conv.state_dict().items()}
    assert {"weight_g", "weight_v"} <= set(sd)
    merged = merge_weight_norm(sd)
    assert torch.allclose(merged["weight"], conv.weight.detach(), atol=1e-6) and "weight_v" not in merged


def test_hifigan_output_length_is_hop_times_frames():
    g = HiFiGANGenerator(16, (4, 2), (8, 4), 16, (3,), ((1, 3),))
    assert g(torch.randn(1, 16, 7)).shape == (1, 1, 7 * 8) and g.hop == 8


def test_wav2lip_mel_rate_and_chunks():
    wav = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    m = wav2lip_mel(wav)
    assert m.shape[0] == 80 and abs(m.shape[1] - 81) <= 1 and m.min() >= -4 and m.max() <= 4
    ch = wav2lip_mel_chunks(m, 25)
    assert ch.shape == (25, 80, 16)


def test_toy_face_renderer_keeps_frame_count_and_follows_energy():
    r = ToyFaceRenderer(32)
    wav = np.concatenate([np.zeros(8000), 0.5 * np.ones(8000)]).astype(np.float32)
    frames = r(r.blank_faces(25), wav, 16000, np.zeros((25, 10)))
    assert frames.shape == (25, 32, 32, 3) and frames.dtype == np.uint8
    e = frame_energy(wav, 16000, 25)
    assert e[:10].max() < 0.01 and e[-5:].min() > 0.9
    # open mouth (energy) paints more mouth pixels
    mouth = lambda f: (f == np.array([120, 30, 40], np.uint8)).all(-1).sum()  # noqa: E731
    assert mouth(frames[-1]) > mouth(frames[0])


def test_emotion_modules_shapes_and_smoothing():
    assert EmotionClassifier(16, 4, 8)(torch.randn(2, 16, 9)).shape == (2, 4)
    assert EmoFANShaped().eval()(torch.rand(3, 3, 64, 64)).shape == (3, 10)
    v = np.array([[1.0], [1.0], [1.0], [1.0], [6.0]])
    s = temporal_smooth(v)
    assert s[0, 0] == 1.0 and s[4, 0] == pytest.approx(1 * 0.6 + 6 * 0.4)
