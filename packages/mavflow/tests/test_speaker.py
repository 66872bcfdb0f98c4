"""Speaker embeddings: cosine / SECS, speaker averaging, the x-vector TDNN, the GE2E (resemblyzer) encoder."""

import numpy as np
import pytest
import torch
from mlrepro_mavflow.method.speaker import (
    GE2EEncoder,
    XVectorTDNN,
    cosine,
    l2norm,
    resemblyzer_weights_path,
    secs,
    speaker_average,
)


def test_cosine_hand_values():
    assert secs([1, 0], [0, 1]) == pytest.approx(0.0)
    assert secs([1, 1], [2, 2]) == pytest.approx(1.0)
    assert secs([1, 0], [-3, 0]) == pytest.approx(-1.0)
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[4.0, 3.0]])
    assert cosine(a, b).item() == pytest.approx(24 / 25)


def test_speaker_average_is_normalised_mean():
    e = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    avg = speaker_average(e, np.array([0, 0, 1]))
    assert np.allclose(avg[0], [np.sqrt(0.5), np.sqrt(0.5)])
    assert np.allclose(avg[1], l2norm(np.array([1.0, 1.0])))


def test_averaged_embedding_is_closer_to_heldout_utterances_than_a_single_one():
    rng = np.random.default_rng(0)
    wins = []
    for _ in range(200):
        mu = rng.normal(size=16)
        utts = mu + rng.normal(0, 1.0, (9, 16))
        held = utts[0]
        wins.append(secs(utts[1:].mean(0), held) > secs(utts[1], held))
    assert np.mean(wins) > 0.8


def test_tdnn_shapes_and_padding_invariance():
    torch.manual_seed(0)
    m = XVectorTDNN(16, [8, 8, 8, 8, 16], [5, 3, 3, 1, 1], [1, 2, 3, 1, 1], emb_dim=6, n_classes=4).eval()
    x = torch.randn(2, 16, 20)
    assert m(x).shape == (2, 4) and m.embed(x).shape == (2, 6)
    mask = torch.ones(2, 1, 20)
    mask[0, :, 12:] = 0
    xp = x.clone()
    xp[0, :, 12:] = 99.0  # garbage in the padding
    a = m.embed(x[:1, :, :12])
    b = m.embed(xp, mask)[:1]
    assert torch.allclose(a, b, atol=1e-5)


def test_ge2e_encoder_is_unit_norm():
    torch.manual_seed(0)
    enc = GE2EEncoder().eval()
    e = enc(torch.rand(3, 160, 40))
    assert e.shape == (3, 256) and torch.allclose(e.norm(dim=-1), torch.ones(3), atol=1e-5)
    wav = np.random.default_rng(0).normal(0, 0.1, 16000 * 3).astype(np.float32)
    u = enc.embed_utterance(wav)
    assert u.shape == (256,) and abs(np.linalg.norm(u) - 1) < 1e-5


@pytest.mark.skipif(resemblyzer_weights_path() is None, reason="resemblyzer (extra 'speaker') not installed")
def test_shipped_resemblyzer_weights_match_the_package():
    from resemblyzer import VoiceEncoder

    enc = GE2EEncoder.from_resemblyzer_weights()
    ref = VoiceEncoder("cpu", verbose=False)
    frames = torch.rand(2, 160, 40)
    with torch.no_grad():
        assert torch.allclose(enc(frames), ref(frames), atol=1e-5)
