"""Per-chunk maths: values and closed-form gradients w.r.t. the raw logits of one chunk of rows.

Every op works on fresh float32 (or float64) buffers ``s`` (student logits) and ``t`` (teacher logits) of shape
``[c, V]`` that it may overwrite. ``w`` is ``None`` (values only) or the per-row upstream weights ``[c]``; when given,
the op also returns the gradients of ``sum_i w_i * value_i`` w.r.t. the raw (untempered) ``s`` and ``t``.

Gradient recipe used throughout: write the per-row value as a function of the log-probabilities ``l = log_softmax(z)``
(treated as free coordinates), take ``g = d value / d l``, then apply the Jacobian of log-softmax,
``d value / d z = g - softmax(z) * sum(g)``, and the temperature, ``d z / d logits = 1 / T``.
"""

from __future__ import annotations

import math

import torch

KINDS = ("kl", "rkl", "skew_kl", "skew_rkl", "jsd")


def log_softmax_(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-place ``log_softmax(x / temperature)`` along the last dim."""
    if temperature != 1.0:
        x.div_(temperature)
    x.sub_(torch.logsumexp(x, dim=-1, keepdim=True))
    return x


def rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a * b).sum(-1)`` for [c, V] tensors without a [c, V] temporary (batched matmul)."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(-1)


def _scale(g: torch.Tensor, w: torch.Tensor, temperature: float) -> torch.Tensor:
    g.mul_(w.unsqueeze(-1).to(g.dtype))
    if temperature != 1.0:
        g.div_(temperature)
    return g


def _skew_kl_core(lf, lg, log_a, log_1ma, need_f, need_g, detach_f_in_mix):
    """``KL(f || a f + (1-a) g)`` per row from log-probs ``lf``, ``lg`` (``log_a is None`` means a = 0, plain KL).

    Returns ``(d, grad_zf, grad_zg)`` where the grads are w.r.t. the tempered logits (before ``w`` and ``1/T``).
    With the mixture ``m`` and ``r = (1-a) g / m``: ``dd/dlf = f (lf - lm + r)`` (``f (lf - lm + 1)`` when f's share of
    the mixture is detached) and ``dd/dlg = -f r``. Both inputs are overwritten (the buffers are reused); at most four
    [c, V] buffers are alive.
    """
    if log_a is None:  # plain KL(f || g): m = g, r = 1
        diff = torch.sub(lf, lg)
        f = lf.exp_()
        d = rowdot(f, diff)
        gf = gg = None
        if need_f:  # f (diff + 1) - f (d + 1)
            gf = diff.sub_(d.unsqueeze(-1)).mul_(f)
        del diff
        if need_g:  # -f + q_g
            gg = lg.exp_().sub_(f)
        return d, gf, gg
    r = torch.add(lg, log_1ma)
    lm = torch.add(lf, log_a)
    torch.logaddexp(lm, r, out=lm)
    r.sub_(lm).exp_()  # r = (1 - a) g / m, in [0, 1]
    diff = torch.sub(lf, lm, out=lm)  # lf - lm
    del lm
    f = lf.exp_()
    d = rowdot(f, diff)
    gf = gg = None
    if need_f:
        if detach_f_in_mix:  # g = f (diff + 1) -> f (diff - d)
            gf = diff.sub_(d.unsqueeze(-1)).mul_(f)
        else:  # g = f (diff + r) -> g - f sum(g)
            diff.add_(r)
            gf = diff.sub_(rowdot(f, diff).unsqueeze(-1)).mul_(f)
    del diff
    if need_g:  # g = -f r -> -f r + q_g sum(f r)
        fr = r.mul_(f)
        del f
        gg = lg.exp_().mul_(fr.sum(-1, keepdim=True)).sub_(fr)
    return d, gf, gg


def divergence_chunk(bufs, *, kind, alpha, beta, temperature, w, need_s, need_t, detach_mixture):
    """Per-row divergence between teacher ``p = softmax(t/T)`` and student ``q = softmax(s/T)``.

    ``bufs = [s, t]`` is emptied (the op owns and reuses the buffers). ``alpha`` is ``None`` or a ``[c, 1]`` tensor
    (per-row skew). Returns ``(d, grad_s, grad_t)``.
    """
    if w is None:
        need_s = need_t = False
    ls = log_softmax_(bufs.pop(0), temperature)
    lt = log_softmax_(bufs.pop(0), temperature)
    if kind == "jsd" and beta == 0.0:
        kind = "kl"
    elif kind == "jsd" and beta == 1.0:
        kind = "rkl"
    if kind in ("kl", "skew_kl"):  # f = teacher, g = student
        log_a = log_1ma = None
        if kind == "skew_kl":
            log_a, log_1ma = torch.log(alpha), torch.log1p(-alpha)
        d, gt, gs = _skew_kl_core(lt, ls, log_a, log_1ma, need_t, need_s, False)
    elif kind in ("rkl", "skew_rkl"):  # f = student, g = teacher
        log_a = log_1ma = None
        if kind == "skew_rkl":
            log_a, log_1ma = torch.log(alpha), torch.log1p(-alpha)
        d, gs, gt = _skew_kl_core(ls, lt, log_a, log_1ma, need_s, need_t, detach_mixture)
    elif kind == "jsd":  # beta KL(p || m) + (1 - beta) KL(q || m), m = beta p + (1 - beta) q
        lm = torch.add(lt, math.log(beta))
        tmp = torch.add(ls, math.log1p(-beta))
        torch.logaddexp(lm, tmp, out=lm)
        del tmp
        p = lt.exp()
        dt = lt.sub_(lm)  # lt - lm
        kl_p = rowdot(p, dt).unsqueeze(-1)
        q = ls.exp()
        ds = ls.sub_(lm)  # ls - lm
        del lm
        kl_q = rowdot(q, ds).unsqueeze(-1)
        d = (beta * kl_p + (1.0 - beta) * kl_q).squeeze(-1)
        gs = ds.sub_(kl_q).mul_(q).mul_(1.0 - beta) if need_s else None
        gt = dt.sub_(kl_p).mul_(p).mul_(beta) if need_t else None
    else:  # pragma: no cover - validated by the callers
        raise ValueError(f"unknown divergence kind {kind!r}; expected one of {KINDS}")
    del ls, lt
    if gs is not None:
        gs = _scale(gs, w, temperature)
    if gt is not None:
        gt = _scale(gt, w, temperature)
    return d, (gs if need_s else None), (gt if need_t else None)


def logprob_chunk(bufs, labels, *, temperature, w, need_s):
    """``log softmax(s/T)[label]`` per row; grad ``w (onehot - q) / T``. ``bufs = [s]`` is emptied."""
    s = bufs.pop(0)
    if temperature != 1.0:
        s.div_(temperature)
    lse = torch.logsumexp(s, dim=-1, keepdim=True)
    rows = torch.arange(s.shape[0], device=s.device)
    lp = s[rows, labels] - lse.squeeze(-1)
    gs = None
    if w is not None and need_s:
        gs = s.sub_(lse).exp_().neg_()
        gs[rows, labels] += 1.0
        gs = _scale(gs, w, temperature)
    return lp, gs


def entropy_chunk(bufs, *, temperature, w, need_s):
    """``H(softmax(s/T))`` per row; grad ``-w q (log q + H) / T``. ``bufs = [s]`` is emptied."""
    ls = log_softmax_(bufs.pop(0), temperature)
    q = ls.exp()
    h = -rowdot(q, ls)
    gs = None
    if w is not None and need_s:
        gs = ls.add_(h.unsqueeze(-1)).mul_(q).neg_()
        gs = _scale(gs, w, temperature)
    return h, gs
