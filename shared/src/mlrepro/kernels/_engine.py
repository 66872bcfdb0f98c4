"""Chunk loops and the two autograd Functions (logits input, fused linear input).

An *op* is a callable ``op(bufs, j0, j1, w, need_s, need_t) -> (values[c], grad_s[c,V] | None, grad_t[c,V] | None)``
working on the rows ``j0:j1`` of the selected-row list (see ``_ops``); ``bufs = [s]`` or ``[s, t]`` holds fresh
float32 logits buffers that the op takes over (pops), so they can be freed or reused as soon as the op is done with
them.
"""

from __future__ import annotations

import torch

# Default chunk budget: at least _CHUNK_ELEMS // V rows, i.e. about 16 MiB per float32 [chunk, V] buffer (an op keeps
# about four such buffers alive), more for large hidden sizes (see resolve_chunk_size).
_CHUNK_ELEMS = 1 << 22


def acc_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 stays float64 (gradcheck); everything else accumulates in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def resolve_chunk_size(chunk_size: int | None, vocab: int, hidden: int | None = None) -> int:
    """Rows per chunk. Default: ``max(2**22 // V, H // 6, 1)``. The fused path always holds one weight-sized float32
    gradient buffer ([V, H]); ``H // 6`` rows keep the chunk's ~4 float32 [chunk, V] buffers at about 2/3 of it,
    while the chunk stays large enough for efficient matmuls."""
    if chunk_size is None:
        return max(1, _CHUNK_ELEMS // max(1, vocab), (hidden or 0) // 6)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(chunk_size)


def _fresh(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` (always a new tensor here: an ``index_select`` or matmul result) in ``dtype``; ops may overwrite it."""
    return x.to(dtype)


# --------------------------------------------------------------------------------------- logits input
def _logits_loop(op, rows, s_logits, t_logits, w, need_s, need_t, chunk):
    """Run ``op`` over rows of materialised logits. Returns values [M] and full-size grads (or None)."""
    dt = acc_dtype(s_logits)
    m = rows.numel()
    vals = torch.empty(m, dtype=dt, device=s_logits.device)
    gs_full = torch.zeros_like(s_logits) if need_s else None
    gt_full = torch.zeros_like(t_logits) if need_t else None
    for j0 in range(0, m, chunk):
        j1 = min(m, j0 + chunk)
        idx = rows[j0:j1]
        bufs = [_fresh(s_logits.index_select(0, idx), dt)]
        if t_logits is not None:
            bufs.append(_fresh(t_logits.index_select(0, idx), dt))
        v, gs, gt = op(bufs, j0, j1, None if w is None else w[j0:j1], need_s, need_t)
        vals[j0:j1] = v
        if gs is not None:
            gs_full.index_copy_(0, idx, gs.to(gs_full.dtype))
        if gt is not None:
            gt_full.index_copy_(0, idx, gt.to(gt_full.dtype))
        del bufs, v, gs, gt
    return vals, gs_full, gt_full


class ChunkedLogitsFn(torch.autograd.Function):
    """values[M] = op(student_logits[rows], teacher_logits[rows]); backward recomputes chunk by chunk."""

    @staticmethod
    def forward(ctx, op, rows, chunk, s_logits, t_logits):
        vals, _, _ = _logits_loop(op, rows, s_logits, t_logits, None, False, False, chunk)
        ctx.op, ctx.chunk = op, chunk
        ctx.save_for_backward(rows, s_logits, t_logits)
        return vals

    @staticmethod
    def backward(ctx, grad_vals):
        rows, s_logits, t_logits = ctx.saved_tensors
        need_s, need_t = ctx.needs_input_grad[3], ctx.needs_input_grad[4]
        if not (need_s or need_t):
            return None, None, None, None, None
        _, gs, gt = _logits_loop(ctx.op, rows, s_logits, t_logits, grad_vals.contiguous(), need_s, need_t, ctx.chunk)
        return None, None, None, gs, gt


# --------------------------------------------------------------------------------------- fused linear input
def _mm_acc(buf: torch.Tensor, g: torch.Tensor, x: torch.Tensor) -> None:
    """``buf += g.T @ x`` with ``buf`` float32/64 (accumulation across chunks in float32)."""
    if x.dtype == buf.dtype:
        buf.addmm_(g.t().to(buf.dtype), x)
    else:  # low-precision weights: chunk matmul in the weight dtype (fp32 accumulate inside), sum in fp32
        buf.add_(torch.mm(g.t().to(x.dtype), x))


def _fused_loop(op, rows, sh, sw, th, tw, tl, w, need, chunk):
    """Run ``op`` over chunks of rows, computing logits from hidden states on the fly.

    ``need`` = (sh, sw, th, tw, tl) booleans; grads are computed only when ``w`` is given. Returns ``(values[M],
    [grad_sh, grad_sw, grad_th, grad_tw, grad_tl])`` with grads in the inputs' dtypes (or None).
    """
    dt = acc_dtype(sh)
    m = rows.numel()
    vals = torch.empty(m, dtype=dt, device=sh.device)
    if w is None:
        need = (False,) * 5
    n_sh, n_sw, n_th, n_tw, n_tl = need
    need_s = n_sh or n_sw
    need_t = n_th or n_tw or n_tl
    g_sh = torch.zeros_like(sh) if n_sh else None
    g_sw = torch.zeros(sw.shape, dtype=dt, device=sw.device) if n_sw else None
    g_th = torch.zeros_like(th) if n_th else None
    g_tw = torch.zeros(tw.shape, dtype=dt, device=tw.device) if n_tw else None
    g_tl = torch.zeros_like(tl) if n_tl else None
    for j0 in range(0, m, chunk):
        j1 = min(m, j0 + chunk)
        idx = rows[j0:j1]
        hs = sh.index_select(0, idx).to(sw.dtype)  # e.g. bf16 activations with an fp32 head (autocast training)
        bufs = [_fresh(hs @ sw.t(), dt)]
        ht = None
        if tl is not None:
            bufs.append(_fresh(tl.index_select(0, idx), dt))
        elif th is not None:
            ht = th.index_select(0, idx).to(tw.dtype)
            bufs.append(_fresh(ht @ tw.t(), dt))
        v, gs, gt = op(bufs, j0, j1, None if w is None else w[j0:j1], need_s, need_t)
        vals[j0:j1] = v
        del bufs
        if gs is not None:
            if n_sh:
                g_sh.index_copy_(0, idx, (gs.to(sw.dtype) @ sw).to(g_sh.dtype))
            if n_sw:
                _mm_acc(g_sw, gs, hs)
        if gt is not None:
            if n_th:
                g_th.index_copy_(0, idx, (gt.to(tw.dtype) @ tw).to(g_th.dtype))
            if n_tw:
                _mm_acc(g_tw, gt, ht)
            if n_tl:
                g_tl.index_copy_(0, idx, gt.to(g_tl.dtype))
        del v, gs, gt, hs, ht
    if g_sw is not None and g_sw.dtype != sw.dtype:
        g_sw = g_sw.to(sw.dtype)
    if g_tw is not None and g_tw.dtype != tw.dtype:
        g_tw = g_tw.to(tw.dtype)
    return vals, [g_sh, g_sw, g_th, g_tw, g_tl]


class FusedLinearFn(torch.autograd.Function):
    """Fused ``hidden @ weight.T`` + op, chunk by chunk.

    Two modes:
    * ``weights is not None`` ("precompute", scalar output ``sum_i weights_i * value_i``): gradients are computed in
      the forward pass (no second matmul over the vocabulary) and only scaled by the incoming scalar in backward;
    * ``weights is None`` ("recompute", output ``values[M]``): forward computes values only, backward recomputes the
      logits of each chunk and applies the incoming per-row gradient.
    """

    @staticmethod
    def forward(ctx, op, rows, chunk, weights, sh, sw, th, tw, tl):
        need = tuple(bool(x) for x in ctx.needs_input_grad[4:9])
        ctx.op, ctx.chunk, ctx.precomputed = op, chunk, weights is not None
        if weights is not None:
            vals, grads = _fused_loop(op, rows, sh, sw, th, tw, tl, weights, need, chunk)
            ctx.grads = grads
            return (vals * weights.to(vals.dtype)).sum()
        vals, _ = _fused_loop(op, rows, sh, sw, th, tw, tl, None, need, chunk)
        ctx.save_for_backward(rows, sh, sw, th, tw, tl)
        return vals

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.precomputed:
            # The buffers hold d(sum_i w_i v_i)/d(input); scale them in place and hand them over (no reference kept,
            # so autograd can adopt a buffer as ``.grad`` without a copy). A second backward through a retained graph
            # is therefore not possible in this mode.
            grads, ctx.grads = ctx.grads, None
            if grads is None:
                raise RuntimeError("fused_linear_divergence(precompute_grads=True) supports a single backward pass; "
                                   "use precompute_grads=False to backward through the graph more than once")
            scale = float(grad_out)
            if scale != 1.0:
                for g in grads:
                    if g is not None:
                        g.mul_(scale)
            return (None, None, None, None, *grads)
        rows, sh, sw, th, tw, tl = ctx.saved_tensors
        need = tuple(bool(x) for x in ctx.needs_input_grad[4:9])
        if not any(need):
            return (None,) * 9
        _, grads = _fused_loop(ctx.op, rows, sh, sw, th, tw, tl, grad_out.contiguous(), need, ctx.chunk)
        return (None, None, None, None, *grads)
