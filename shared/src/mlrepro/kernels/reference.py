"""Naive reference implementations (materialise the full log-probabilities; plain autograd).

These are the test oracles of :mod:`mlrepro.kernels` and the "naive" arm of ``benchmarks/bench_kernels.py``. They are
correct but allocate several float32 ``[N, V]`` tensors; use the chunked/fused functions in training code.
"""

from __future__ import annotations

import math

import torch

REDUCTIONS = ("token_mean", "sum", "none", "seq_mean", "per_seq_mean")


def _f(x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    x = x if x.dtype == torch.float64 else x.float()
    return x if temperature == 1.0 else x / temperature


def _alpha_column(alpha, lead_shape, ref: torch.Tensor) -> torch.Tensor:
    a = torch.as_tensor(alpha, dtype=ref.dtype, device=ref.device)
    if a.ndim == 1 and len(lead_shape) == 2 and a.shape[0] == lead_shape[0]:
        a = a.unsqueeze(-1)  # per sequence
    return a.expand(lead_shape).unsqueeze(-1)


def divergence_reference(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str = "skew_kl", *,
                         alpha=0.1, beta: float = 0.5, temperature: float = 1.0,
                         detach_mixture: bool = False) -> torch.Tensor:
    """Per-token divergence ``[...]`` between teacher ``p`` and student ``q`` (see :mod:`mlrepro.kernels`)."""
    ls = torch.log_softmax(_f(student_logits, temperature), dim=-1)
    lt = torch.log_softmax(_f(teacher_logits, temperature), dim=-1)
    if kind == "jsd" and beta == 0.0:
        kind = "kl"
    elif kind == "jsd" and beta == 1.0:
        kind = "rkl"
    if kind == "kl":
        return (lt.exp() * (lt - ls)).sum(-1)
    if kind == "rkl":
        return (ls.exp() * (ls - lt)).sum(-1)
    if kind == "skew_kl":
        a = _alpha_column(alpha, ls.shape[:-1], ls)
        lm = torch.logaddexp(lt + torch.log(a), ls + torch.log1p(-a))
        return (lt.exp() * (lt - lm)).sum(-1)
    if kind == "skew_rkl":
        a = _alpha_column(alpha, ls.shape[:-1], ls)
        inner = ls.detach() if detach_mixture else ls
        lm = torch.logaddexp(lt + torch.log1p(-a), inner + torch.log(a))
        return (ls.exp() * (ls - lm)).sum(-1)
    if kind == "jsd":
        inner = ls.detach() if detach_mixture else ls
        lm = torch.logaddexp(lt + math.log(beta), inner + math.log1p(-beta))
        return beta * (lt.exp() * (lt - lm)).sum(-1) + (1 - beta) * (ls.exp() * (ls - lm)).sum(-1)
    raise ValueError(f"unknown divergence kind {kind!r}")


def logprobs_reference(logits: torch.Tensor, labels: torch.Tensor, *, temperature: float = 1.0,
                       ignore_index: int = -100) -> torch.Tensor:
    """``log softmax(logits / T)[label]`` per token, 0 where ``labels == ignore_index``."""
    lp = torch.log_softmax(_f(logits, temperature), dim=-1)
    keep = labels != ignore_index
    out = lp.gather(-1, torch.where(keep, labels, 0).unsqueeze(-1)).squeeze(-1)
    return torch.where(keep, out, torch.zeros_like(out))


def entropy_reference(logits: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    lp = torch.log_softmax(_f(logits, temperature), dim=-1)
    return -(lp.exp() * lp).sum(-1)


def reduce_tokens(values: torch.Tensor, mask: torch.Tensor | None = None, reduction: str = "token_mean") -> torch.Tensor:
    """Reduce per-token ``values`` (shape ``[N]`` or ``[B, T]``) over the tokens where ``mask`` is true.

    ``token_mean``: sum / number of kept tokens; ``sum``; ``none``: values with zeros at masked tokens;
    ``seq_mean`` (``[B, T]`` only): per-sequence mean over kept tokens, then the mean over sequences that have at least
    one kept token; ``per_seq_mean``: the ``[B]`` per-sequence means (0 for empty sequences).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    keep = torch.ones_like(values, dtype=torch.bool) if mask is None else mask.to(torch.bool)
    v = torch.where(keep, values, torch.zeros_like(values))
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    if reduction == "token_mean":
        return v.sum() / keep.sum().clamp(min=1)
    if v.ndim != 2:
        raise ValueError(f"reduction {reduction!r} needs [B, T] token values, got shape {tuple(v.shape)}")
    counts = keep.sum(-1)
    per_seq = v.sum(-1) / counts.clamp(min=1)
    if reduction == "per_seq_mean":
        return per_seq
    return per_seq.sum() / (counts > 0).sum().clamp(min=1)
