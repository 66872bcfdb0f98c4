"""mlrepro.kernels: chunked / fused-linear log-probs, entropies and divergences against the naive computation."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck
from torch.overrides import TorchFunctionMode

from mlrepro.kernels import (
    KINDS,
    chunked_divergence,
    divergence_reference,
    entropy_reference,
    fused_linear_divergence,
    fused_linear_entropy,
    fused_linear_token_logprobs,
    logprobs_reference,
    reduce_tokens,
    token_entropy,
    token_logprobs,
)

F64 = torch.float64
KIND_CASES = [(k, False) for k in KINDS] + [("skew_rkl", True), ("jsd", True)]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _leaf(*shape, dtype=F64, g=None, scale=1.0, grad=True):
    return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_(grad)


def _ref_loss(sh, sw, th, tw, kind, reduction="token_mean", mask=None, **kw):
    t = th @ tw.T
    return reduce_tokens(divergence_reference(sh @ sw.T, t, kind, **kw), mask, reduction)


# ------------------------------------------------------------------------------------------------ gradcheck (float64)
@pytest.mark.parametrize("kind,detach", KIND_CASES)
def test_fused_gradcheck_and_match_reference(kind, detach):
    """Grads w.r.t. student hidden/weight and teacher hidden/weight (all requiring grad) in float64."""
    g = _gen(1)
    n, h, ht, v = 5, 3, 4, 7
    sh, sw, th, tw = _leaf(n, h, g=g), _leaf(v, h, g=g), _leaf(n, ht, g=g), _leaf(v, ht, g=g)
    mask = torch.tensor([True, False, True, True, True])
    kw = dict(alpha=0.3, beta=0.3, temperature=1.7, detach_mixture=detach)

    def fused(a, b, c, d, red="token_mean", pre=False):
        return fused_linear_divergence(a, b, c, d, kind=kind, mask=mask, reduction=red, chunk_size=2,
                                       precompute_grads=pre, **kw)

    if not detach:  # detach_mixture deliberately is not the gradient of the value: checked against autograd below
        assert gradcheck(lambda *x: fused(*x, red="token_mean"), (sh, sw, th, tw))
        assert gradcheck(lambda *x: fused(*x, red="none"), (sh, sw, th, tw))
    for red in ("token_mean", "sum", "none"):
        ref = _ref_loss(sh, sw, th, tw, kind, red, mask, **kw)
        g_ref = torch.autograd.grad(ref.sum(), (sh, sw, th, tw))
        for pre in (True, False):
            out = fused(sh, sw, th, tw, red=red, pre=pre)
            torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
            g_out = torch.autograd.grad(out.sum(), (sh, sw, th, tw))
            for a, b in zip(g_out, g_ref):
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind,detach", KIND_CASES)
def test_chunked_logits_gradcheck(kind, detach):
    g = _gen(2)
    s, t = _leaf(2, 3, 6, g=g, scale=2.0), _leaf(2, 3, 6, g=g, scale=2.0)
    labels = torch.tensor([[1, -100, 2], [0, 4, -100]])
    alpha = torch.tensor([0.2, 0.6])  # one alpha per sequence
    kw = dict(alpha=alpha, beta=0.7, temperature=0.8, detach_mixture=detach)

    def f(a, b, red):
        return chunked_divergence(a, b, kind, labels=labels, reduction=red, chunk_size=2, **kw)

    if not detach:
        assert gradcheck(lambda a, b: f(a, b, "seq_mean"), (s, t))
    for red in ("seq_mean", "per_seq_mean", "none"):
        ref = reduce_tokens(divergence_reference(s, t, kind, **kw), labels != -100, red)
        out = f(s, t, red)
        torch.testing.assert_close(out, ref)
        for a, b in zip(torch.autograd.grad(out.sum(), (s, t)), torch.autograd.grad(ref.sum(), (s, t))):
            torch.testing.assert_close(a, b)


def test_logprobs_and_entropy_gradcheck():
    g = _gen(3)
    hid, w, logits = _leaf(2, 3, 4, g=g), _leaf(9, 4, g=g), _leaf(2, 3, 9, g=g, scale=2.0)
    labels = torch.tensor([[1, 8, -100], [0, 3, 5]])
    mask = labels != -100
    assert gradcheck(lambda a, b: token_logprobs(a, labels, weight=b, temperature=0.7, chunk_size=2), (hid, w))
    assert gradcheck(lambda a, b: token_entropy(a, weight=b, mask=mask, temperature=1.3, chunk_size=4), (hid, w))
    assert gradcheck(lambda a: token_logprobs(a, labels, temperature=0.7, chunk_size=2), (logits,))
    assert gradcheck(lambda a: token_entropy(a, mask=mask, temperature=1.3, chunk_size=5), (logits,))
    torch.testing.assert_close(token_logprobs(logits, labels, temperature=0.7),
                               logprobs_reference(logits, labels, temperature=0.7))
    torch.testing.assert_close(fused_linear_token_logprobs(hid, w, labels),
                               logprobs_reference(hid @ w.T, labels))
    ent = entropy_reference(logits, temperature=1.3) * mask
    torch.testing.assert_close(token_entropy(logits, mask=mask, temperature=1.3), ent)
    torch.testing.assert_close(fused_linear_entropy(hid, w), entropy_reference(hid @ w.T))
    assert (token_logprobs(logits, labels)[~mask] == 0).all()


def test_fused_teacher_logits_gradcheck():
    g = _gen(4)
    sh, sw, tl = _leaf(4, 3, g=g), _leaf(6, 3, g=g), _leaf(4, 6, g=g)
    for kind in ("skew_kl", "jsd"):
        assert gradcheck(lambda a, b, c, k=kind: fused_linear_divergence(a, b, teacher_logits=c, kind=k, chunk_size=3,
                                                                 reduction="none"), (sh, sw, tl))
        out = fused_linear_divergence(sh, sw, teacher_logits=tl, kind=kind, chunk_size=3)
        ref = divergence_reference(sh @ sw.T, tl, kind).mean()
        torch.testing.assert_close(out, ref)
        for a, b in zip(torch.autograd.grad(out, (sh, sw, tl)), torch.autograd.grad(ref, (sh, sw, tl))):
            torch.testing.assert_close(a, b)


# ------------------------------------------------------------------------------------------------ float32, realistic
@pytest.mark.parametrize("kind", ["skew_kl", "skew_rkl", "jsd", "kl"])
def test_fused_float32_realistic_matches_naive(kind):
    g = _gen(5)
    b, t, h, v = 2, 96, 128, 32000
    sh = _leaf(b, t, h, dtype=torch.float32, g=g)
    sw = _leaf(v, h, dtype=torch.float32, g=g, scale=0.1)
    th = torch.randn(b, t, h, generator=g)
    tw = torch.randn(v, h, generator=g) * 0.1
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, :10] = -100
    labels[1, :30] = -100
    alpha = torch.tensor([0.1, 0.05])
    kw = dict(alpha=alpha, beta=0.4, detach_mixture=kind == "skew_rkl")
    out = fused_linear_divergence(sh, sw, th, tw, kind=kind, labels=labels, reduction="seq_mean", **kw)
    gs = torch.autograd.grad(out, (sh, sw))
    ref = reduce_tokens(divergence_reference(sh @ sw.T, th @ tw.T, kind, **kw), labels != -100, "seq_mean")
    gr = torch.autograd.grad(ref, (sh, sw))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    for a, r in zip(gs, gr):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-4 * float(r.abs().max()))
    assert float(gs[0][0, :10].abs().max()) == 0.0  # ignored tokens get no gradient


def test_chunked_float32_bf16_logits_match_naive():
    g = _gen(6)
    s = (torch.randn(300, 5000, generator=g) * 3).to(torch.bfloat16).requires_grad_()
    t = (torch.randn(300, 5000, generator=g) * 3).to(torch.bfloat16)
    out = chunked_divergence(s, t, "skew_kl", alpha=0.1, temperature=2.0)
    ref = divergence_reference(s, t, "skew_kl", alpha=0.1, temperature=2.0).mean()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    (ga,), (gb,) = torch.autograd.grad(out, (s,)), torch.autograd.grad(ref, (s,))
    assert ga.dtype == torch.bfloat16
    torch.testing.assert_close(ga.float(), gb.float(), rtol=2e-2, atol=1e-7)


def test_bf16_weights_fused_close_to_fp32():
    g = _gen(7)
    sh32, sw32 = torch.randn(64, 32, generator=g), torch.randn(500, 32, generator=g) * 0.2
    th32, tw32 = torch.randn(64, 32, generator=g), torch.randn(500, 32, generator=g) * 0.2
    sh, sw = sh32.bfloat16().requires_grad_(), sw32.bfloat16().requires_grad_()
    out = fused_linear_divergence(sh, sw, th32.bfloat16(), tw32.bfloat16(), kind="skew_kl", chunk_size=16)
    out.backward()
    assert out.dtype == torch.float32 and sw.grad.dtype == torch.bfloat16 and sh.grad.dtype == torch.bfloat16
    ref_w = sw32.clone().requires_grad_()
    ref = divergence_reference(sh32 @ ref_w.T, th32 @ tw32.T, "skew_kl").mean()
    ref.backward()
    assert abs(out.item() - ref.item()) < 0.02 * ref.item()
    cos = torch.nn.functional.cosine_similarity(sw.grad.float().flatten(), ref_w.grad.flatten(), dim=0)
    assert float(cos) > 0.99


def test_bf16_hidden_with_fp32_head():
    g = _gen(15)
    sh = torch.randn(2, 8, 16, generator=g).bfloat16().requires_grad_()
    sw = (torch.randn(40, 16, generator=g) * 0.3).requires_grad_()
    tl = torch.randn(2, 8, 40, generator=g).bfloat16()
    for pre in (True, False):
        out = fused_linear_divergence(sh, sw, teacher_logits=tl, kind="skew_rkl", chunk_size=5, precompute_grads=pre)
        gh, gw = torch.autograd.grad(out, (sh, sw))
        assert gh.dtype == torch.bfloat16 and gw.dtype == torch.float32
        ref = divergence_reference(sh.float() @ sw.T, tl, "skew_rkl").mean()
        rh, rw = torch.autograd.grad(ref, (sh, sw))
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(gw, rw)
        torch.testing.assert_close(gh, rh)


# ------------------------------------------------------------------------------------------------ invariances, masks
def test_chunk_size_invariance():
    g = _gen(8)
    sh, sw, th, tw = _leaf(37, 8, g=g), _leaf(50, 8, g=g), _leaf(37, 8, g=g), _leaf(50, 8, g=g)
    results = []
    for chunk in (1, 4, 13, 37, 1000, None):
        for pre in (True, False):
            out = fused_linear_divergence(sh, sw, th, tw, kind="skew_rkl", alpha=0.2, chunk_size=chunk,
                                          precompute_grads=pre)
            results.append((out.detach(), *torch.autograd.grad(out, (sh, sw, th, tw))))
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_masks_and_labels_select_the_same_tokens():
    g = _gen(9)
    sh, sw, tl = _leaf(3, 5, 4, g=g), _leaf(11, 4, g=g), torch.randn(3, 5, 11, generator=g, dtype=F64)
    labels = torch.randint(0, 11, (3, 5), generator=g)
    labels[0, :2] = -100
    labels[2, :] = -100  # an empty sequence
    mask = labels != -100
    a = fused_linear_divergence(sh, sw, teacher_logits=tl, labels=labels, reduction="none")
    b = fused_linear_divergence(sh, sw, teacher_logits=tl, mask=mask, reduction="none")
    torch.testing.assert_close(a, b)
    assert (a[~mask] == 0).all() and (a[mask] > 0).all()
    # seq_mean ignores the empty sequence; per_seq_mean reports 0 for it
    per_seq = fused_linear_divergence(sh, sw, teacher_logits=tl, mask=mask, reduction="per_seq_mean")
    assert per_seq[2].item() == 0.0
    sm = fused_linear_divergence(sh, sw, teacher_logits=tl, mask=mask, reduction="seq_mean")
    torch.testing.assert_close(sm, per_seq[:2].mean())
    # masked tokens get exactly zero gradient, kept tokens do not
    loss = fused_linear_divergence(sh, sw, teacher_logits=tl, mask=mask)
    (gh,) = torch.autograd.grad(loss, (sh,))
    assert float(gh[~mask].abs().max()) == 0.0 and float(gh[mask].abs().min()) > 0
    # everything masked: a zero loss that still backpropagates (zero grads)
    none = torch.zeros_like(mask)
    z = fused_linear_divergence(sh, sw, teacher_logits=tl, mask=none)
    (gz,) = torch.autograd.grad(z, (sh,))
    assert z.item() == 0.0 and float(gz.abs().max()) == 0.0


def test_frozen_teacher_gets_no_grad():
    g = _gen(10)
    sh, sw = _leaf(6, 4, g=g), _leaf(9, 4, g=g)
    th, tw = _leaf(6, 5, g=g, grad=False), _leaf(9, 5, g=g, grad=False)
    loss = fused_linear_divergence(sh, sw, th, tw, kind="jsd")
    loss.backward()
    assert th.grad is None and tw.grad is None and sw.grad is not None and sh.grad is not None
    tw2 = tw.clone().requires_grad_()  # a trainable teacher head gets its gradient
    fused_linear_divergence(sh, sw, th, tw2, kind="jsd").backward()
    assert tw2.grad is not None and float(tw2.grad.abs().max()) > 0


def test_precompute_single_backward_and_accumulation():
    g = _gen(11)
    sh, sw, th, tw = _leaf(6, 4, g=g), _leaf(9, 4, g=g), _leaf(6, 4, g=g, grad=False), _leaf(9, 4, g=g, grad=False)
    loss = fused_linear_divergence(sh, sw, th, tw, precompute_grads=True)
    (3.0 * loss).backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="single backward"):
        loss.backward()
    # gradient accumulation into existing .grad and upstream scaling
    ref_w = sw.detach().clone().requires_grad_()
    ref = divergence_reference(sh.detach() @ ref_w.T, th @ tw.T, "skew_kl").mean()
    (3.0 * ref).backward()
    torch.testing.assert_close(sw.grad, ref_w.grad)
    fused_linear_divergence(sh, sw, th, tw, precompute_grads=True).backward()
    torch.testing.assert_close(sw.grad, ref_w.grad * 4.0 / 3.0)


# ------------------------------------------------------------------------------------------------ divergence maths
def test_divergence_properties():
    g = _gen(12)
    s, t = torch.randn(20, 30, generator=g, dtype=F64) * 2, torch.randn(20, 30, generator=g, dtype=F64) * 2

    def d(kind, a=None, b=None, **kw):
        return chunked_divergence(a if a is not None else s, b if b is not None else t, kind, reduction="none", **kw)

    torch.testing.assert_close(d("skew_kl", alpha=0.0), d("kl"))
    torch.testing.assert_close(d("skew_rkl", alpha=0.0), d("rkl"))
    torch.testing.assert_close(d("jsd", beta=0.0), d("kl"))
    torch.testing.assert_close(d("jsd", beta=1.0), d("rkl"))
    assert float(d("skew_kl", alpha=1.0).abs().max()) < 1e-12
    assert float(d("skew_rkl", alpha=1.0).abs().max()) < 1e-12
    for kind in KINDS:  # nonnegative, zero at p == q
        assert float(d(kind, alpha=0.1).min()) >= -1e-12
        assert float(d(kind, s, s.clone(), alpha=0.1).abs().max()) < 1e-12
    # skew divergences are bounded by -log(alpha); jsd(1/2) by log 2
    assert float(d("skew_kl", s * 30, t * 30, alpha=0.1).max()) <= -math.log(0.1) + 1e-9
    assert float(d("skew_rkl", s * 30, t * 30, alpha=0.1).max()) <= -math.log(0.1) + 1e-9
    assert float(d("jsd", s * 30, t * 30, beta=0.5).max()) <= math.log(2) + 1e-9
    # hand-computed two-token example: p = (1/2, 1/2), q = (1, 0) in the limit; skew KL with alpha = 1/2:
    # m = (3/4, 1/4) -> KL(p || m) = 1/2 log(2/3) + 1/2 log 2
    big = torch.tensor([[50.0, -50.0]], dtype=F64)
    even = torch.tensor([[0.0, 0.0]], dtype=F64)
    want = 0.5 * math.log(2 / 3) + 0.5 * math.log(2)
    got = chunked_divergence(big, even, "skew_kl", alpha=0.5, reduction="sum")
    assert abs(float(got) - want) < 1e-12


def test_srkl_detached_gradient_closed_form():
    """DistiLLM-2's SRKL with a detached student share in the mixture: dSRKL/dz = q (h - sum q h), h = log q - log m."""
    g = _gen(13)
    s, t = _leaf(4, 9, g=g), torch.randn(4, 9, generator=g, dtype=F64)
    a = 0.1
    out = chunked_divergence(s, t, "skew_rkl", alpha=a, detach_mixture=True, reduction="sum")
    (gs,) = torch.autograd.grad(out, (s,))
    q, p = torch.softmax(s.detach(), -1), torch.softmax(t, -1)
    hv = q.log() - ((1 - a) * p + a * q).log()
    want = q * (hv - (q * hv).sum(-1, keepdim=True))
    torch.testing.assert_close(gs, want)
    # and the undetached SKL gradient: q (g - sum q g), g = -(1 - a) p / m with m = a p + (1 - a) q
    out2 = chunked_divergence(s, t, "skew_kl", alpha=a, reduction="sum")
    (gs2,) = torch.autograd.grad(out2, (s,))
    gv = -(1 - a) * p / (a * p + (1 - a) * q)
    torch.testing.assert_close(gs2, q * (gv - (q * gv).sum(-1, keepdim=True)))


# ------------------------------------------------------------------------------------------------ memory structure
class _MaxNumel(TorchFunctionMode):
    """Largest tensor returned by any torch call made from Python (our forward and backward code included)."""

    def __init__(self):
        super().__init__()
        self.max_numel = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, tuple | list) else (out,):
            if isinstance(o, torch.Tensor):
                self.max_numel = max(self.max_numel, o.numel())
        return out


def test_fused_never_materialises_full_logits():
    """No tensor of N x V elements is created in forward or backward (both gradient strategies)."""
    g = _gen(14)
    n, h, v, chunk = 256, 16, 1000, 32
    sh, sw = _leaf(n, h, dtype=torch.float32, g=g), _leaf(v, h, dtype=torch.float32, g=g)
    th, tw = torch.randn(n, h, generator=g), torch.randn(v, h, generator=g)
    for pre, red in ((True, "token_mean"), (False, "none")):
        with _MaxNumel() as m:
            out = fused_linear_divergence(sh, sw, th, tw, kind="skew_kl", chunk_size=chunk, reduction=red,
                                          precompute_grads=pre)
            out.sum().backward()
        assert m.max_numel <= max(chunk * v, v * h) < n * v, (pre, m.max_numel)
    with _MaxNumel() as m:
        fused_linear_token_logprobs(sh, sw, torch.randint(0, v, (n,), generator=g), chunk_size=chunk).sum().backward()
    assert m.max_numel <= max(chunk * v, v * h)


# ------------------------------------------------------------------------------------------------ validation
def test_bad_inputs_raise():
    s, t = torch.randn(4, 6), torch.randn(4, 6)
    with pytest.raises(ValueError, match="kind"):
        chunked_divergence(s, t, "tvd")
    with pytest.raises(ValueError, match="alpha"):
        chunked_divergence(s, t, "skew_kl", alpha=1.5)
    with pytest.raises(ValueError, match="beta"):
        chunked_divergence(s, t, "jsd", beta=-0.1)
    with pytest.raises(ValueError, match="reduction"):
        chunked_divergence(s, t, reduction="mean")
    with pytest.raises(ValueError, match="seq_mean"):
        chunked_divergence(s, t, reduction="seq_mean")  # needs [B, T, V]
    with pytest.raises(ValueError, match="same shape"):
        chunked_divergence(s, t[:, :5])
    with pytest.raises(ValueError, match="detach_mixture"):
        chunked_divergence(s, t, "skew_kl", detach_mixture=True)
    with pytest.raises(ValueError, match="temperature"):
        chunked_divergence(s, t, temperature=0.0)
    with pytest.raises(ValueError, match="exactly one"):
        fused_linear_divergence(torch.randn(4, 3), torch.randn(6, 3))
    with pytest.raises(ValueError, match="teacher_weight must be"):
        fused_linear_divergence(torch.randn(4, 3), torch.randn(6, 3), torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="labels must be in"):
        token_logprobs(s, torch.tensor([0, 1, 6, -100]))
    with pytest.raises(ValueError, match="mask has shape"):
        chunked_divergence(s, t, mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="alpha of shape"):
        chunked_divergence(s, t, "skew_kl", alpha=torch.full((3,), 0.1))
