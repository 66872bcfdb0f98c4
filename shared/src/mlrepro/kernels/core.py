"""Public chunked / fused-linear functions; see the package docstring of :mod:`mlrepro.kernels` for the API."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _ops
from ._engine import ChunkedLogitsFn, FusedLinearFn, resolve_chunk_size
from .reference import REDUCTIONS

KINDS = _ops.KINDS
SCALAR_REDUCTIONS = ("token_mean", "sum", "seq_mean")


# ------------------------------------------------------------------------------------------------ helpers
def _check_common(kind: str | None, alpha, beta: float, temperature: float, reduction: str | None,
                  detach_mixture: bool = False) -> None:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown divergence kind {kind!r}; expected one of {KINDS}")
    if reduction is not None and reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if kind in ("skew_kl", "skew_rkl"):
        a = torch.as_tensor(alpha)
        if a.numel() == 0 or bool((a < 0).any()) or bool((a > 1).any()) or bool(torch.isnan(a).any()):
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if kind == "jsd" and not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta}")
    if detach_mixture and kind not in ("skew_rkl", "jsd"):
        raise ValueError(f"detach_mixture only applies to kind='skew_rkl' (or 'jsd'), got kind={kind!r}")


def _rows(lead: Sequence[int], device, mask=None, labels=None, ignore_index: int = -100) -> torch.Tensor:
    """Flat indices of the kept tokens."""
    keep = None
    for name, m in (("mask", mask), ("labels", labels)):
        if m is None:
            continue
        if tuple(m.shape) != tuple(lead):
            raise ValueError(f"{name} has shape {tuple(m.shape)}, expected the token shape {tuple(lead)}")
        k = m.to(device).bool() if name == "mask" else (m.to(device) != ignore_index)
        keep = k if keep is None else keep & k
    n = 1
    for d in lead:
        n *= int(d)
    if keep is None:
        return torch.arange(n, device=device)
    return keep.reshape(-1).nonzero().squeeze(-1)


def _alpha_rows(alpha, lead, rows: torch.Tensor, dtype) -> torch.Tensor:
    a = torch.as_tensor(alpha, dtype=dtype, device=rows.device)
    if a.ndim == 1 and len(lead) == 2 and a.shape[0] == lead[0] and a.shape[0] != 1:
        a = a.unsqueeze(-1)  # one alpha per sequence
    try:
        a = a.expand(tuple(lead))
    except RuntimeError as e:
        raise ValueError(f"alpha of shape {tuple(a.shape)} does not broadcast to the token shape {tuple(lead)}") from e
    return a.reshape(-1).index_select(0, rows).unsqueeze(-1).contiguous()


def _row_weights(rows: torch.Tensor, lead, reduction: str, dtype) -> torch.Tensor:
    m = rows.numel()
    if reduction == "sum":
        return torch.ones(m, dtype=dtype, device=rows.device)
    if reduction == "token_mean":
        return torch.full((m,), 1.0 / max(m, 1), dtype=dtype, device=rows.device)
    seq = rows // int(lead[1])
    counts = torch.bincount(seq, minlength=int(lead[0])).to(dtype)
    n_seq = (counts > 0).sum().clamp(min=1).to(dtype)
    return 1.0 / (counts.index_select(0, seq) * n_seq)


def _reduce_rows(vals: torch.Tensor, rows: torch.Tensor, lead, reduction: str) -> torch.Tensor:
    n = 1
    for d in lead:
        n *= int(d)
    if reduction == "none":
        return torch.zeros(n, dtype=vals.dtype, device=vals.device).index_copy(0, rows, vals).reshape(tuple(lead))
    if reduction == "sum":
        return vals.sum()
    if reduction == "token_mean":
        return vals.sum() / max(rows.numel(), 1)
    b, t = int(lead[0]), int(lead[1])
    seq = rows // t
    counts = torch.bincount(seq, minlength=b).to(vals.dtype)
    per_seq = torch.zeros(b, dtype=vals.dtype, device=vals.device).index_add(0, seq, vals) / counts.clamp(min=1)
    if reduction == "per_seq_mean":
        return per_seq
    return per_seq.sum() / (counts > 0).sum().clamp(min=1)


def _check_seq(reduction: str, lead) -> None:
    if reduction in ("seq_mean", "per_seq_mean") and len(lead) != 2:
        raise ValueError(f"reduction {reduction!r} needs [B, T, ...] inputs, got token shape {tuple(lead)}")


def _acc(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _div_op(kind, alpha_rows, beta, temperature, detach_mixture):
    def op(bufs, j0, j1, w, need_s, need_t):
        a = None if alpha_rows is None else alpha_rows[j0:j1].to(bufs[0].dtype)
        return _ops.divergence_chunk(bufs, kind=kind, alpha=a, beta=float(beta), temperature=temperature, w=w,
                                     need_s=need_s, need_t=need_t, detach_mixture=detach_mixture)

    return op


# ------------------------------------------------------------------------------------------------ divergences
def chunked_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str = "skew_kl", *,
                       alpha=0.1, beta: float = 0.5, temperature: float = 1.0, mask: torch.Tensor | None = None,
                       labels: torch.Tensor | None = None, ignore_index: int = -100, reduction: str = "token_mean",
                       chunk_size: int | None = None, detach_mixture: bool = False) -> torch.Tensor:
    """Divergence between ``softmax(teacher_logits/T)`` (p) and ``softmax(student_logits/T)`` (q), chunked over tokens.

    Logits ``[N, V]`` or ``[B, T, V]`` (any float dtype; maths in float32). Only chunk-sized float32 buffers are made
    in forward and backward; the only full-size tensor is the gradient w.r.t. the logits (in the logits' dtype).
    """
    _check_common(kind, alpha, beta, temperature, reduction, detach_mixture)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits {tuple(student_logits.shape)} and teacher_logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape")
    lead, v = tuple(student_logits.shape[:-1]), int(student_logits.shape[-1])
    _check_seq(reduction, lead)
    rows = _rows(lead, student_logits.device, mask, labels, ignore_index)
    dt = _acc(student_logits)
    a_rows = _alpha_rows(alpha, lead, rows, dt) if kind in ("skew_kl", "skew_rkl") else None
    op = _div_op(kind, a_rows, beta, temperature, detach_mixture)
    vals = ChunkedLogitsFn.apply(op, rows, resolve_chunk_size(chunk_size, v),
                                 student_logits.reshape(-1, v), teacher_logits.reshape(-1, v))
    return _reduce_rows(vals, rows, lead, reduction)


def fused_linear_divergence(student_hidden: torch.Tensor, student_weight: torch.Tensor,
                            teacher_hidden: torch.Tensor | None = None, teacher_weight: torch.Tensor | None = None,
                            teacher_logits: torch.Tensor | None = None, kind: str = "skew_kl", *, alpha=0.1,
                            beta: float = 0.5, temperature: float = 1.0, mask: torch.Tensor | None = None,
                            labels: torch.Tensor | None = None, ignore_index: int = -100,
                            reduction: str = "token_mean", chunk_size: int | None = None,
                            detach_mixture: bool = False, precompute_grads: bool | None = None) -> torch.Tensor:
    """Divergence between teacher and student next-token distributions computed from hidden states, chunk by chunk.

    Student logits are ``student_hidden @ student_weight.T``; the teacher's are ``teacher_hidden @ teacher_weight.T``
    or the given ``teacher_logits``. The ``[N, V]`` logits never exist in full, in forward or backward.
    """
    _check_common(kind, alpha, beta, temperature, reduction, detach_mixture)
    h = int(student_hidden.shape[-1])
    if student_weight.ndim != 2 or int(student_weight.shape[1]) != h:
        raise ValueError(f"student_weight must be [V, {h}], got {tuple(student_weight.shape)}")
    v = int(student_weight.shape[0])
    lead = tuple(student_hidden.shape[:-1])
    if (teacher_logits is None) == (teacher_hidden is None):
        raise ValueError("give exactly one of teacher_logits or (teacher_hidden, teacher_weight)")
    if teacher_hidden is not None:
        if teacher_weight is None:
            raise ValueError("teacher_hidden needs teacher_weight")
        if tuple(teacher_hidden.shape[:-1]) != lead:
            raise ValueError(f"teacher_hidden token shape {tuple(teacher_hidden.shape[:-1])} != student's {lead}")
        if teacher_weight.ndim != 2 or tuple(teacher_weight.shape) != (v, int(teacher_hidden.shape[-1])):
            raise ValueError(f"teacher_weight must be [{v}, {int(teacher_hidden.shape[-1])}], got "
                             f"{tuple(teacher_weight.shape)}")
    elif tuple(teacher_logits.shape) != (*lead, v):
        raise ValueError(f"teacher_logits must have shape {(*lead, v)}, got {tuple(teacher_logits.shape)}")
    elif teacher_weight is not None:
        raise ValueError("teacher_weight given without teacher_hidden")
    _check_seq(reduction, lead)
    rows = _rows(lead, student_hidden.device, mask, labels, ignore_index)
    dt = _acc(student_hidden)
    a_rows = _alpha_rows(alpha, lead, rows, dt) if kind in ("skew_kl", "skew_rkl") else None
    op = _div_op(kind, a_rows, beta, temperature, detach_mixture)
    sh = student_hidden.reshape(-1, h)
    th = teacher_hidden.reshape(-1, int(teacher_hidden.shape[-1])) if teacher_hidden is not None else None
    tl = teacher_logits.reshape(-1, v) if teacher_logits is not None else None
    tw = teacher_weight if teacher_hidden is not None else None
    chunk = resolve_chunk_size(chunk_size, v, h)
    needs_grad = torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in (sh, student_weight, th, tw, tl))
    if precompute_grads is None:
        precompute_grads = True
    if needs_grad and precompute_grads and reduction in SCALAR_REDUCTIONS:
        w = _row_weights(rows, lead, reduction, dt)
        return FusedLinearFn.apply(op, rows, chunk, w, sh, student_weight, th, tw, tl)
    vals = FusedLinearFn.apply(op, rows, chunk, None, sh, student_weight, th, tw, tl)
    return _reduce_rows(vals, rows, lead, reduction)


# ------------------------------------------------------------------------------------------------ log-probs, entropy
def _lp_op(labels_rows, temperature):
    def op(bufs, j0, j1, w, need_s, need_t):
        lp, gs = _ops.logprob_chunk(bufs, labels_rows[j0:j1], temperature=temperature, w=w, need_s=need_s)
        return lp, gs, None

    return op


def _ent_op(temperature):
    def op(bufs, j0, j1, w, need_s, need_t):
        h, gs = _ops.entropy_chunk(bufs, temperature=temperature, w=w, need_s=need_s)
        return h, gs, None

    return op


def _label_rows(labels, lead, v, device, ignore_index):
    if tuple(labels.shape) != tuple(lead):
        raise ValueError(f"labels have shape {tuple(labels.shape)}, expected {tuple(lead)}")
    rows = _rows(lead, device, None, labels, ignore_index)
    lab = labels.to(device).reshape(-1).index_select(0, rows).long()
    if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= v):
        raise ValueError(f"labels must be in [0, {v}) or equal ignore_index={ignore_index}")
    return rows, lab


def fused_linear_token_logprobs(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, *,
                                temperature: float = 1.0, ignore_index: int = -100,
                                chunk_size: int | None = None) -> torch.Tensor:
    """``log softmax(hidden @ weight.T / T)[labels]`` per token (0 at ignored tokens), chunked; float32."""
    _check_common(None, 0.0, 0.5, temperature, None)
    h = int(hidden.shape[-1])
    if weight.ndim != 2 or int(weight.shape[1]) != h:
        raise ValueError(f"weight must be [V, {h}], got {tuple(weight.shape)}")
    v, lead = int(weight.shape[0]), tuple(hidden.shape[:-1])
    rows, lab = _label_rows(labels, lead, v, hidden.device, ignore_index)
    vals = FusedLinearFn.apply(_lp_op(lab, temperature), rows, resolve_chunk_size(chunk_size, v, h), None,
                               hidden.reshape(-1, h), weight, None, None, None)
    return _reduce_rows(vals, rows, lead, "none")


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor, *, weight: torch.Tensor | None = None,
                   temperature: float = 1.0, ignore_index: int = -100, chunk_size: int | None = None) -> torch.Tensor:
    """Per-token ``log p(label)``: from ``logits [..., V]``, or, when ``weight [V, H]`` is given, from hidden states
    ``logits=hidden [..., H]`` (fused; see :func:`fused_linear_token_logprobs`). 0 at ``ignore_index`` labels."""
    if weight is not None:
        return fused_linear_token_logprobs(logits, weight, labels, temperature=temperature,
                                           ignore_index=ignore_index, chunk_size=chunk_size)
    _check_common(None, 0.0, 0.5, temperature, None)
    lead, v = tuple(logits.shape[:-1]), int(logits.shape[-1])
    rows, lab = _label_rows(labels, lead, v, logits.device, ignore_index)
    vals = ChunkedLogitsFn.apply(_lp_op(lab, temperature), rows, resolve_chunk_size(chunk_size, v),
                                 logits.reshape(-1, v), None)
    return _reduce_rows(vals, rows, lead, "none")


def fused_linear_entropy(hidden: torch.Tensor, weight: torch.Tensor, *, mask: torch.Tensor | None = None,
                         temperature: float = 1.0, chunk_size: int | None = None) -> torch.Tensor:
    """Per-token entropy of ``softmax(hidden @ weight.T / T)`` (0 at masked tokens), chunked; float32."""
    _check_common(None, 0.0, 0.5, temperature, None)
    h = int(hidden.shape[-1])
    if weight.ndim != 2 or int(weight.shape[1]) != h:
        raise ValueError(f"weight must be [V, {h}], got {tuple(weight.shape)}")
    v, lead = int(weight.shape[0]), tuple(hidden.shape[:-1])
    rows = _rows(lead, hidden.device, mask)
    vals = FusedLinearFn.apply(_ent_op(temperature), rows, resolve_chunk_size(chunk_size, v, h), None,
                               hidden.reshape(-1, h), weight, None, None, None)
    return _reduce_rows(vals, rows, lead, "none")


def token_entropy(logits: torch.Tensor, *, weight: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                  temperature: float = 1.0, chunk_size: int | None = None) -> torch.Tensor:
    """Per-token entropy of ``softmax(logits / T)`` (0 at masked tokens); with ``weight`` given, ``logits`` are hidden
    states and the computation is fused (see :func:`fused_linear_entropy`)."""
    if weight is not None:
        return fused_linear_entropy(logits, weight, mask=mask, temperature=temperature, chunk_size=chunk_size)
    _check_common(None, 0.0, 0.5, temperature, None)
    lead, v = tuple(logits.shape[:-1]), int(logits.shape[-1])
    rows = _rows(lead, logits.device, mask)
    vals = ChunkedLogitsFn.apply(_ent_op(temperature), rows, resolve_chunk_size(chunk_size, v),
                                 logits.reshape(-1, v), None)
    return _reduce_rows(vals, rows, lead, "none")
