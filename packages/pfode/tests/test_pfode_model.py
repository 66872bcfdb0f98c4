"""Score network (model.py, neuraloperator FNO blocks) and the training loop (trainer.py)."""

import pytest
import torch
from mlrepro_pfode.method.noise import TraceClassNoise
from mlrepro_pfode.method.sde import make_sde
from mlrepro_pfode.model import ScoreFNO, timestep_embedding
from mlrepro_pfode.trainer import train


def _tiny(seed=0):
    torch.manual_seed(seed)
    return ScoreFNO(n_modes=8, width=8, n_layers=2, time_dim=8)


def test_model_shapes_and_resolution_transfer():
    net = _tiny().eval()
    t = torch.rand(3)
    for n in (16, 32, 77):  # any grid at least as fine as the Fourier modes
        y = net(torch.randn(3, n), t)
        assert y.shape == (3, n) and torch.isfinite(y).all()
    # the same weights act on the same function seen at two resolutions consistently (smooth input)
    x16 = torch.cos(torch.pi * (torch.arange(16) + 0.5) / 16)[None]
    x64 = torch.cos(torch.pi * (torch.arange(64) + 0.5) / 64)[None]
    with torch.no_grad():
        y16, y64 = net(x16, t[:1]), net(x64, t[:1])
    assert torch.isfinite(y64).all() and y16.shape == (1, 16)
    with pytest.raises(ValueError, match="coarser than"):
        net(torch.randn(2, 4), t[:2])
    with pytest.raises(ValueError, match="batch, n_points"):
        net(torch.randn(2, 1, 16), t[:2])
    assert timestep_embedding(torch.tensor([0.0, 0.5]), 7).shape == (2, 7)


def _train(tmp, stop_after=None, steps=6):
    sde = make_sde("vp", schedule="cosine", T=0.9946, eps=1e-5)
    noise = TraceClassNoise("se", length=0.04)
    data = torch.randn(32, 16, generator=torch.Generator().manual_seed(7)) * 0.3
    return train(_tiny(), sde, noise.sampler(16), data, steps=steps, batch_size=8, lr=1e-3, warmup=2, ema_decay=0.9,
                 ckpt_every=100, ckpt_dir=tmp, seed=3, progress=False, stop_after=stop_after)


def test_training_resumes_exactly(tmp_path):
    """A run killed after 2 steps and resumed ends with the same weights as an uninterrupted run."""
    full = _train(tmp_path / "a")
    part = _train(tmp_path / "b", stop_after=2)
    assert part["steps"] == 2 and not part["finished"]
    resumed = _train(tmp_path / "b")
    assert resumed["steps"] == 6 and resumed["finished"]
    for k, v in full["weights"].items():
        assert torch.allclose(v, resumed["weights"][k], atol=1e-6), k
    assert all(torch.isfinite(v).all() for v in full["weights"].values())
    with pytest.raises(ValueError, match="bad training settings"):
        _train(tmp_path / "c", steps=0)
