"""The velocity U-Net and the MAVFlow renderer: shapes, masking, NFE accounting, ablations, learning."""

import pytest
import torch
from mlrepro_mavflow.method.decoder import VelocityUNet
from mlrepro_mavflow.method.renderer import MAVFlow


def tiny(**kw):
    torch.manual_seed(0)
    args = dict(n_units=12, n_mels=16, spk_dim=8, emo_dim=4, channels=[16, 16], n_mid_blocks=1, attn_heads=2,
                n_transformer=1, dropout=0.0, time_emb_dim=16, unit_emb_dim=8, encoder_layers=1)
    args.update(kw)
    return MAVFlow(**args)


def batch(B=3, L=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, 16, L, generator=g), torch.ones(B, 1, L), torch.randint(12, (B, L), generator=g),
            torch.randn(B, 8, generator=g), torch.randn(B, 4, L, generator=g))


def test_unet_shapes_and_length_check():
    net = VelocityUNet(16, [8, 8, 8], 1, 2, 1, 0.0, 16, spk_dim=4, emo_dim=3)
    x = torch.randn(2, 16, 12)
    out = net(x, torch.ones(2, 1, 12), torch.randn(2, 16, 12), torch.rand(2), torch.randn(2, 4), torch.randn(2, 3, 12))
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError):
        net(torch.randn(2, 16, 10), torch.ones(2, 1, 10), torch.randn(2, 16, 10), torch.rand(2))


@pytest.mark.parametrize("skip", [False, True])
def test_output_independent_of_padding_and_batch_mates(skip):
    m = tiny(linear_skip=skip).eval()
    x1, mask, u, s, e = batch(B=2, L=20)
    x0 = torch.randn(2, 16, 20)
    L = 13
    alone = m.synthesize(u[:1, :L], torch.ones(1, 1, L), s[:1], e[:1, :, :L], n_steps=3, x0=x0[:1, :, :L])["mel"]
    mask2 = torch.ones(2, 1, 20)
    mask2[0, :, L:] = 0
    u2 = u.clone()
    u2[0, L:] = 12  # pad id
    both = m.synthesize(u2, mask2, s, e * mask2, n_steps=3, x0=x0)["mel"][:1, :, :L]
    assert torch.allclose(alone, both, atol=1e-5)


def test_synthesize_nfe_and_network_evaluations():
    m = tiny().eval()
    _, mask, u, s, e = batch()
    r = m.synthesize(u, mask, s, e, n_steps=4, solver="euler")
    assert r["mel"].shape == (3, 16, 11) and (r["nfe"], r["net_evals"]) == (4, 4)
    r = m.synthesize(u, mask, s, e, n_steps=4, solver="midpoint", w_a=1.0, w_v=0.5, combiner="independent")
    assert (r["nfe"], r["net_evals"]) == (8, 24)
    # an ablation without speaker input ignores w_a: nothing to guide
    r = tiny(use_speaker=False, use_emotion=False).eval().synthesize(u, mask, s, e, n_steps=2, w_a=2.0, w_v=2.0)
    assert r["net_evals"] == 2


def test_guidance_with_zero_weights_equals_plain_sampling():
    m = tiny().eval()
    _, mask, u, s, e = batch()
    x0 = torch.randn(3, 16, 12)
    a = m.synthesize(u, mask, s, e, n_steps=3, x0=x0)["mel"]
    b = m.synthesize(u, mask, s, e, n_steps=3, x0=x0, w_a=0.0, w_v=0.0, combiner="independent")["mel"]
    assert torch.allclose(a, b)


def test_ablations_ignore_their_condition():
    x1, mask, u, s, e = batch()
    x0 = torch.randn(3, 16, 12)
    m = tiny(use_speaker=False).eval()
    a = m.synthesize(u, mask, s, e, n_steps=2, x0=x0)["mel"]
    b = m.synthesize(u, mask, torch.randn_like(s), e, n_steps=2, x0=x0)["mel"]
    assert torch.allclose(a, b)
    m = tiny(use_emotion=False).eval()
    a = m.synthesize(u, mask, s, e, n_steps=2, x0=x0)["mel"]
    b = m.synthesize(u, mask, s, torch.randn_like(e), n_steps=2, x0=x0)["mel"]
    assert torch.allclose(a, b)
    m = tiny().eval()  # the full model does use them
    a = m.synthesize(u, mask, s, e, n_steps=2, x0=x0)["mel"]
    b = m.synthesize(u, mask, torch.randn_like(s), e, n_steps=2, x0=x0)["mel"]
    assert not torch.allclose(a, b)


def test_cfm_loss_decreases_on_a_fixed_batch():
    m = tiny()
    x1, mask, u, s, e = batch(B=8, L=12)

    def held_out_loss():  # same t / noise draws every time
        g = torch.Generator().manual_seed(123)
        with torch.no_grad():
            return sum(m.loss(x1, mask, u, s, e, generator=g)["cfm"].item() for _ in range(8)) / 8

    before = held_out_loss()
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(80):
        out = m.loss(x1, mask, u, s, e, generator=g)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert held_out_loss() < 0.8 * before


def test_prompt_input_masks_the_loss_region():
    m = tiny(use_prompt=True, prompt_prob=1.0, prompt_max_frac=0.5)
    x1, mask, u, s, e = batch()
    prompt, pm = m.make_prompt(x1, mask, torch.Generator().manual_seed(0))
    assert (pm.sum(-1) >= 1).all() and torch.allclose(prompt, x1 * pm)
    out = m.loss(x1, mask, u, s, e)
    assert torch.isfinite(out["loss"])
