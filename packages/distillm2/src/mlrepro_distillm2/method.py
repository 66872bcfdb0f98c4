"""DistiLLM-2 (arXiv 2503.07067) as pure torch functions: the divergences, every training loss of the paper's
comparison, the curriculum skew coefficient alpha and the SRKL weight beta.

No I/O, no trainer, no global state. The trainer (:mod:`mlrepro_distillm2.trainer`) only gathers the predictions of
both models and calls :func:`distillation_loss`.

Notation (paper §2-3, spec digest §2.1): prompt x, response y, teacher next-token distribution p_t, student q_t.

* SKL_a(p||q)  = KL(p || a p + (1 - a) q)          (skew forward KL; DistiLLM eq. 3)
* SRKL_a(p||q) = KL(q || (1 - a) p + a q)          (skew reverse KL; DistiLLM eq. 4)
* DistiLLM-2 (paper eq. 2): L = 1/(2|D|) sum_{(x, y_t, y_s)} [(1 - beta) SKL_{a_t}(x, y_t) + beta SRKL_{a_s}(x, y_s)]
  where y_t are teacher responses ("chosen" rows) and y_s student responses ("rejected" rows).

Predictions
-----------
A model's next-token predictions on a batch are a :class:`Preds`: either materialised ``logits [N, T, V]`` or
``hidden [N, T, H]`` plus the LM-head ``weight [V, H]`` (the fused path: the ``[N, T, V]`` logits are never built).
They are aligned with ``labels [N, T]`` (already shifted; ``-100`` marks prompt and padding positions). The first
``n_chosen`` rows are teacher responses, the rest student responses (the official code's concatenated batch).

Implementations (``impl=``)
---------------------------
``"chunked"``: :mod:`mlrepro.kernels` (memory-bounded, chunk-sized float32 buffers; fused linear when ``Preds`` holds
hidden states). ``"naive"``: full-vocabulary float32 log-softmax of both models, written like the released code
(``naive_*`` functions below; the test oracle and the benchmark's baseline).

Reductions (``reduction=``)
---------------------------
``"seq_mean"`` (the released code, ``average_log_prob=True``): per-sequence mean over response tokens, then the
mean over sequences. ``"sum"`` (the paper's eq. 1): per-sequence sum over response tokens, then the mean over
sequences. For DistiLLM-2 the weighting follows the same split: the code's ``(2 - b) SKL + b SRKL`` with ``b = 2 beta``
for ``seq_mean``, the paper's ``1/2 [(1 - beta) SKL + beta SRKL]`` for ``sum`` (so at beta = 0.5 the code's loss is
2x the paper's bracket, 4x eq. 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100

DIVERGENCES = ("kl", "rkl", "skl", "srkl", "jsd")
LOSSES = ("distillm_v2", "distillm_v1", "kd", "seqkd", "gkd", "dpkd", "imitkd", "speculative_kd",
          *DIVERGENCES)
REDUCTIONS = ("seq_mean", "sum")
IMPLS = ("chunked", "naive")
ALPHA_SCHEDULES = ("off", "paper", "code")
ALPHA_PAIRINGS = ("code", "printed")
BETA_SCHEDULES = ("off", "paper", "paper_global", "code")
DATA_SIDES = ("chosen", "rejected", "both")

_KERNEL_KIND = {"kl": "kl", "rkl": "rkl", "skl": "skew_kl", "srkl": "skew_rkl", "jsd": "jsd"}


# ------------------------------------------------------------------------------------------------ predictions
@dataclass
class Preds:
    """Next-token predictions of one model, aligned with the (shifted) labels: ``logits [N, T, V]`` or
    ``hidden [N, T, H]`` + ``weight [V, H]`` (``logits = hidden @ weight.T``, no bias)."""

    logits: torch.Tensor | None = None
    hidden: torch.Tensor | None = None
    weight: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if (self.logits is None) == (self.hidden is None):
            raise ValueError("Preds needs exactly one of logits or hidden (+ weight)")
        if self.hidden is not None and self.weight is None:
            raise ValueError("Preds(hidden=...) needs the LM-head weight [V, H]")

    @property
    def fused(self) -> bool:
        return self.hidden is not None

    @property
    def vocab_size(self) -> int:
        return int(self.weight.shape[0]) if self.fused else int(self.logits.shape[-1])

    @property
    def num_rows(self) -> int:
        return int((self.hidden if self.fused else self.logits).shape[0])

    def rows(self, sl: slice) -> Preds:
        """The predictions of rows ``sl`` (e.g. ``slice(0, B)`` for the teacher responses)."""
        if self.fused:
            return Preds(hidden=self.hidden[sl], weight=self.weight)
        return Preds(logits=self.logits[sl])

    def full_logits(self) -> torch.Tensor:
        """Materialised logits (the naive path; allocates ``[N, T, V]``)."""
        return self.logits if not self.fused else self.hidden @ self.weight.T

    def detach(self) -> Preds:
        if self.fused:
            return Preds(hidden=self.hidden.detach(), weight=self.weight.detach())
        return Preds(logits=self.logits.detach())


@dataclass
class LossOutput:
    """A training loss and JSON-able diagnostics (detached floats)."""

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


def _fp(x: torch.Tensor) -> torch.Tensor:
    """float32 maths, except float64 inputs stay float64 (gradient checks)."""
    return x if x.dtype == torch.float64 else x.float()


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; expected one of {allowed}")


def _nonempty(labels: torch.Tensor) -> torch.Tensor:
    return (labels != IGNORE_INDEX).any(-1).sum().clamp(min=1)


# ------------------------------------------------------------------------------------------------ naive (code-like)
def naive_token_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str, *,
                           alpha: float | torch.Tensor = 0.1, beta: float = 0.9,
                           detach_mixture: bool = False) -> torch.Tensor:
    """Per-token divergence ``[N, T]`` from full logits, written like the released code's ``kd_loss``: full-vocabulary
    log-softmax of both models, the mixtures in log space with ``logsumexp``, a sum over the vocabulary.

    ``alpha`` is a float or one value per row (``[N]``, the code's ``[B, 1, 1]``). ``jsd``: GKD's
    ``beta KL(p||m) + (1 - beta) KL(q||m)`` with ``m = beta p + (1 - beta) q``.
    """
    _check("divergence", kind, DIVERGENCES)
    logq = torch.log_softmax(_fp(student_logits), dim=-1)
    logp = torch.log_softmax(_fp(teacher_logits), dim=-1)
    a = torch.as_tensor(alpha, dtype=logq.dtype, device=logq.device)
    if a.ndim == 1:
        a = a.view(-1, *([1] * (logq.ndim - 1)))
    if kind == "kl":
        return (logp.exp() * (logp - logq)).sum(-1)
    if kind == "rkl":
        return (logq.exp() * (logq - logp)).sum(-1)
    if kind == "skl":
        mix = torch.logsumexp(torch.stack([torch.log(a) + logp, torch.log1p(-a) + logq.expand_as(logp)]), dim=0)
        return (logp.exp() * (logp - mix)).sum(-1)
    if kind == "srkl":
        inner = logq.detach() if detach_mixture else logq
        mix = torch.logsumexp(torch.stack([torch.log1p(-a) + logp, torch.log(a) + inner]), dim=0)
        return (logq.exp() * (logq - mix)).sum(-1)
    inner = logq.detach() if detach_mixture else logq
    mix = torch.logsumexp(torch.stack([math.log(beta) + logp, math.log1p(-beta) + inner]), dim=0)
    return beta * (logp.exp() * (logp - mix)).sum(-1) + (1 - beta) * (logq.exp() * (logq - mix)).sum(-1)


def naive_token_logps(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[label]`` per token ``[N, T]`` (0 at ignored labels), full vocabulary, float32."""
    lp = torch.log_softmax(_fp(logits), dim=-1)
    keep = labels != IGNORE_INDEX
    out = lp.gather(-1, torch.where(keep, labels, 0).unsqueeze(-1)).squeeze(-1)
    return out * keep


def reduce_sequences(values: torch.Tensor, labels: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-token ``values [N, T]`` -> scalar: ``seq_mean`` (per-sequence mean over kept tokens, mean over non-empty
    sequences), ``sum`` (per-sequence sum, mean over non-empty sequences); ``per_seq_mean`` / ``per_seq_sum`` give
    the ``[N]`` per-sequence values."""
    keep = labels != IGNORE_INDEX
    v = torch.where(keep, values, torch.zeros_like(values))
    counts = keep.sum(-1)
    if reduction in ("per_seq_sum", "sum"):
        per = v.sum(-1)
    elif reduction in ("per_seq_mean", "seq_mean"):
        per = v.sum(-1) / counts.clamp(min=1)
    else:
        raise ValueError(f"unknown reduction {reduction!r}")
    if reduction.startswith("per_seq"):
        return per
    return per.sum() / (counts > 0).sum().clamp(min=1)


# ------------------------------------------------------------------------------------------------ building blocks
def divergence(student: Preds, teacher: Preds, labels: torch.Tensor, kind: str, *,
               alpha: float | torch.Tensor = 0.1, beta: float = 0.9, detach_mixture: bool = False,
               reduction: str = "seq_mean", impl: str = "chunked", chunk_size: int | None = None) -> torch.Tensor:
    """A token-level divergence between teacher and student over the full vocabulary, reduced over response tokens.

    ``kind``: ``kl`` KL(p||q), ``rkl`` KL(q||p), ``skl`` SKL_alpha, ``srkl`` SRKL_alpha (``detach_mixture=True``:
    the student's share of the mixture is a constant, as in DistiLLM-2's code; ``False``: DistiLLM v1's
    ``skewed_reverse_kl``), ``jsd`` GKD's generalised JSD with weight ``beta``. ``alpha``: float or ``[N]`` (one per
    sequence, not differentiated). ``reduction``: ``seq_mean``, ``sum``, ``per_seq_mean``, ``per_seq_sum``.
    """
    _check("divergence", kind, DIVERGENCES)
    _check("impl", impl, IMPLS)
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach()
    detach = bool(detach_mixture) and kind in ("srkl", "jsd")
    if impl == "naive":
        vals = naive_token_divergence(student.full_logits(), teacher.full_logits(), kind, alpha=alpha, beta=beta,
                                      detach_mixture=detach)
        return reduce_sequences(vals, labels, reduction)
    from mlrepro import kernels as K

    if kind == "jsd" and beta in (0.0, 1.0):
        kind = "kl" if beta == 0.0 else "rkl"  # the kernel's special cases, in the kernel's convention
    kw: dict[str, Any] = dict(kind=_KERNEL_KIND[kind], labels=labels, chunk_size=chunk_size, detach_mixture=detach)
    if kind in ("skl", "srkl"):
        kw["alpha"] = alpha
    if kind == "jsd":
        kw["beta"] = float(beta)
    kred = {"seq_mean": "seq_mean", "sum": "sum", "per_seq_mean": "per_seq_mean", "per_seq_sum": "none"}.get(reduction)
    if kred is None:
        raise ValueError(f"unknown reduction {reduction!r}")
    kw["reduction"] = kred
    if student.fused:
        if teacher.fused:
            out = K.fused_linear_divergence(student.hidden, student.weight, teacher.hidden, teacher.weight, **kw)
        else:
            out = K.fused_linear_divergence(student.hidden, student.weight, teacher_logits=teacher.logits, **kw)
    else:
        out = K.chunked_divergence(student.logits, teacher.full_logits(), **kw)
    if reduction == "sum":
        out = out / _nonempty(labels)
    elif reduction == "per_seq_sum":
        out = out.sum(-1)
    return out


def token_logps(preds: Preds, labels: torch.Tensor, *, impl: str = "chunked",
                chunk_size: int | None = None) -> torch.Tensor:
    """Per-token log-probabilities of the labels ``[N, T]`` (0 at ignored positions); differentiable."""
    _check("impl", impl, IMPLS)
    if impl == "naive":
        return naive_token_logps(preds.full_logits(), labels)
    from mlrepro import kernels as K

    if preds.fused:
        return K.token_logprobs(preds.hidden, labels, weight=preds.weight, chunk_size=chunk_size)
    return K.token_logprobs(preds.logits, labels, chunk_size=chunk_size)


def sequence_logps(preds: Preds, labels: torch.Tensor, *, average: bool = True, impl: str = "chunked",
                   chunk_size: int | None = None) -> torch.Tensor:
    """Per-sequence log-likelihood ``[N]``: mean over response tokens (``average=True``, the code's
    ``average_log_prob``) or sum. Differentiable w.r.t. the predictions."""
    lp = token_logps(preds, labels, impl=impl, chunk_size=chunk_size)
    return reduce_sequences(lp, labels, "per_seq_mean" if average else "per_seq_sum")


# ------------------------------------------------------------------------------------------------ curriculum
def skew_log_ratio(p: torch.Tensor | float, q: torch.Tensor | float, alpha: float) -> torch.Tensor:
    """Exact ``log(p / (alpha p + (1 - alpha) q))`` (the quantity the curriculum approximates, paper §3.3)."""
    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)
    return torch.log(p) - torch.log(alpha * p + (1 - alpha) * q)


def mercator_gap(p: torch.Tensor | float, q: torch.Tensor | float, alpha: float) -> torch.Tensor:
    """First-order (Mercator, ``log z ~ z - 1``) approximation ``(1 - alpha)(p - q)`` of :func:`skew_log_ratio`
    (paper App. B.3); good near p = q = 1, poor when p or q << 1."""
    p, q = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)
    return (1 - alpha) * (p - q)


def adaptive_alpha(gap: torch.Tensor, reference_gap: float | torch.Tensor, *, alpha0: float = 0.1,
                   alpha_min: float = 0.01, eps: float = 1e-5) -> torch.Tensor:
    """Curriculum skew coefficient (paper §3.3, App. B.3): ``alpha = 1 - (1 - alpha0) m / (gap + eps)``, clipped to
    ``[alpha_min, alpha0]``.

    ``gap`` is the per-sample sentence-probability gap (``P(y) - Q(y)`` on teacher responses, ``Q(y) - P(y)`` on
    student responses, see :func:`curriculum_alphas`), ``reference_gap`` the anchor m. gap = m gives alpha0; a harder
    sample (gap > m) clips to alpha0; an easier one shrinks alpha toward alpha_min; a negative gap (raw alpha > 1)
    clips to alpha0. Returned detached (spec: the code does not detach; we do).
    """
    if not 0 <= alpha_min <= alpha0 <= 1:
        raise ValueError(f"need 0 <= alpha_min <= alpha0 <= 1 (got {alpha_min}, {alpha0})")
    gap = torch.as_tensor(gap).detach()
    raw = 1.0 - (1.0 - alpha0) * torch.as_tensor(reference_gap, dtype=gap.dtype, device=gap.device) / (gap + eps)
    return raw.clamp(min=alpha_min, max=alpha0)


def sentence_gaps(teacher_logps_chosen: torch.Tensor, student_logps_chosen: torch.Tensor,
                  teacher_logps_rejected: torch.Tensor, student_logps_rejected: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaps of geometric-mean sentence probabilities ``P(y) = exp(mean_t log p(y_t))`` (the code's definition):
    ``g_t = P(y_t) - Q(y_t)`` on teacher responses, ``g_s = Q(y_s) - P(y_s)`` on student responses; in [-1, 1]."""
    g_t = teacher_logps_chosen.detach().exp() - student_logps_chosen.detach().exp()
    g_s = student_logps_rejected.detach().exp() - teacher_logps_rejected.detach().exp()
    return g_t, g_s


def curriculum_alphas(g_t: torch.Tensor, g_s: torch.Tensor, m_t: float, m_s: float, *, alpha0: float = 0.1,
                      alpha_min: float = 0.01, pairing: str = "code") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (alpha_t for SKL on y_t, alpha_s for SRKL on y_s).

    ``pairing="code"`` (the released code's per-side rule, spec §2.4): alpha_t from g_t and anchor m_t, alpha_s from
    g_s and m_s. ``pairing="printed"``: Algorithm 1 as printed, alpha_t from the y_s gap ``P(y_s) - Q(y_s) = -g_s``
    and alpha_s from the y_t gap ``P(y_t) - Q(y_t) = g_t`` (p - q in both denominators); with the usual negative
    ``P(y_s) - Q(y_s)`` alpha_t then always clips to alpha0. The anchors keep their sides.
    """
    _check("alpha pairing", pairing, ALPHA_PAIRINGS)
    if pairing == "code":
        return (adaptive_alpha(g_t, m_t, alpha0=alpha0, alpha_min=alpha_min),
                adaptive_alpha(g_s, m_s, alpha0=alpha0, alpha_min=alpha_min))
    return (adaptive_alpha(-g_s, m_t, alpha0=alpha0, alpha_min=alpha_min),
            adaptive_alpha(g_t, m_s, alpha0=alpha0, alpha_min=alpha_min))


def srkl_beta(schedule: str, *, beta0: float = 0.5, epoch: int = 1, num_epochs: int = 1, step_in_epoch: int = 0,
              steps_per_epoch: int = 1, global_step: int = 0, max_steps: int = 1) -> float:
    """Weight beta of the SRKL term (paper eq. 2; Algorithm 1, Table 11), in the paper's convention (the code's
    ``b`` is ``2 beta``).

    * ``off``: beta0 (the released code: ``gradual_beta=False``, b = 1, i.e. beta = 0.5);
    * ``paper``: Algorithm 1 literally, ``clip(e/E + tau/T, beta0, 1)`` with epoch ``e = 1..E`` and iteration
      ``tau = 1..T`` in the epoch; for E = 3 it reaches 1 (SKL switched off) two thirds into epoch 1, restarts at
      2/3 + 1/T in epoch 2 and reaches 1 again a third into it;
    * ``paper_global``: the global-progress reading ``clip((e - 1)/E + tau/(E T), beta0, 1)`` [INFERRED];
    * ``code``: the released (disabled) ``gradual_beta`` ramp, ``b = 1 + 0.5 min(1, 2 step / max_steps)`` of one
      training call, i.e. beta from 0.5 to 0.75 over the first half of each call.

    ``step_in_epoch`` / ``global_step`` are the number of optimizer steps already taken (tau = step_in_epoch + 1).
    """
    _check("beta schedule", schedule, BETA_SCHEDULES)
    if schedule == "off":
        return float(beta0)
    if schedule == "code":
        b = 1.0 + 0.5 * min(1.0, 2.0 * global_step / max(1, max_steps))
        return b / 2.0
    tau, big_t = step_in_epoch + 1, max(1, steps_per_epoch)
    if schedule == "paper":
        raw = epoch / max(1, num_epochs) + tau / big_t
    else:
        raw = (epoch - 1) / max(1, num_epochs) + tau / (max(1, num_epochs) * big_t)
    return float(min(1.0, max(beta0, raw)))


# ------------------------------------------------------------------------------------------------ losses
def _side(preds: Preds, labels: torch.Tensor, n_chosen: int, side: str) -> tuple[Preds, torch.Tensor]:
    sl = slice(0, n_chosen) if side == "chosen" else slice(n_chosen, None)
    return preds.rows(sl), labels[sl]


def _f(x: torch.Tensor) -> float:
    return float(x.detach().double().mean().item())


def distillm_v2_loss(student: Preds, teacher: Preds, labels: torch.Tensor, n_chosen: int, *,
                     alpha_t: float | torch.Tensor = 0.1, alpha_s: float | torch.Tensor = 0.1, beta: float = 0.5,
                     reduction: str = "seq_mean", detach_mixture: bool = True, impl: str = "chunked",
                     chunk_size: int | None = None) -> LossOutput:
    """DistiLLM-2 (paper eq. 2 / eq. 5; code ``distillm_v2``): SKL_{alpha_t} on the teacher responses (rows
    ``[:n_chosen]``) plus SRKL_{alpha_s} on the student responses (rows ``[n_chosen:]``), the SRKL mixture detached
    as in the code. ``seq_mean``: ``mean_b[(2 - 2 beta) SKL_b + 2 beta SRKL_b]`` (code, b = 2 beta);
    ``sum``: ``1/2 mean_b[(1 - beta) SKL_b + beta SRKL_b]`` with token sums (paper eq. 2)."""
    _check("reduction", reduction, REDUCTIONS)
    s_c, lab_c = _side(student, labels, n_chosen, "chosen")
    t_c, _ = _side(teacher, labels, n_chosen, "chosen")
    s_r, lab_r = _side(student, labels, n_chosen, "rejected")
    t_r, _ = _side(teacher, labels, n_chosen, "rejected")
    skl = divergence(s_c, t_c, lab_c, "skl", alpha=alpha_t, reduction=reduction, impl=impl, chunk_size=chunk_size)
    srkl = divergence(s_r, t_r, lab_r, "srkl", alpha=alpha_s, detach_mixture=detach_mixture, reduction=reduction,
                      impl=impl, chunk_size=chunk_size)
    if reduction == "seq_mean":
        loss = (2.0 - 2.0 * beta) * skl + 2.0 * beta * srkl
    else:
        loss = 0.5 * ((1.0 - beta) * skl + beta * srkl)
    return LossOutput(loss, {"skl": _f(skl), "srkl": _f(srkl), "beta": float(beta),
                             "alpha_t": _f(torch.as_tensor(alpha_t)), "alpha_s": _f(torch.as_tensor(alpha_s))})


def distillm_v1_loss(student: Preds, teacher: Preds, labels: torch.Tensor, n_chosen: int, *, alpha: float = 0.1,
                     reduction: str = "seq_mean", detach_mixture: bool = True, impl: str = "chunked",
                     chunk_size: int | None = None) -> LossOutput:
    """DistiLLM v1 as run in the DistiLLM-2 code (``distillm_v1``): SRKL_alpha on teacher and on student responses,
    summed (detached mixture, as that code does; DistiLLM v1's own ``skewed_reverse_kl`` did not detach)."""
    parts = {}
    for side in ("chosen", "rejected"):
        s, lab = _side(student, labels, n_chosen, side)
        t, _ = _side(teacher, labels, n_chosen, side)
        parts[side] = divergence(s, t, lab, "srkl", alpha=alpha, detach_mixture=detach_mixture, reduction=reduction,
                                 impl=impl, chunk_size=chunk_size)
    loss = parts["chosen"] + parts["rejected"]
    return LossOutput(loss, {"srkl_chosen": _f(parts["chosen"]), "srkl_rejected": _f(parts["rejected"])})


def gkd_loss(student: Preds, teacher: Preds, labels: torch.Tensor, n_chosen: int, *, jsd_beta: float = 0.9,
             reduction: str = "seq_mean", impl: str = "chunked", chunk_size: int | None = None) -> LossOutput:
    """GKD as run in the DistiLLM-2 code (``gkd``): the generalised JSD ``b KL(p||m) + (1-b) KL(q||m)``,
    ``m = b p + (1-b) q``, b = 0.9, on teacher and on student responses, summed."""
    parts = {}
    for side in ("chosen", "rejected"):
        s, lab = _side(student, labels, n_chosen, side)
        t, _ = _side(teacher, labels, n_chosen, side)
        parts[side] = divergence(s, t, lab, "jsd", beta=jsd_beta, reduction=reduction, impl=impl,
                                 chunk_size=chunk_size)
    loss = parts["chosen"] + parts["rejected"]
    return LossOutput(loss, {"jsd_chosen": _f(parts["chosen"]), "jsd_rejected": _f(parts["rejected"])})


def seqkd_loss(student: Preds, labels: torch.Tensor, n_chosen: int, *, reduction: str = "seq_mean",
               impl: str = "chunked", chunk_size: int | None = None) -> LossOutput:
    """SeqKD (``seqkd``): negative log-likelihood of the teacher responses (mean or sum over tokens per sequence)."""
    s, lab = _side(student, labels, n_chosen, "chosen")
    lp = token_logps(s, lab, impl=impl, chunk_size=chunk_size)
    loss = -reduce_sequences(lp, lab, reduction)
    return LossOutput(loss, {"nll_chosen": _f(loss)})


def dpkd_loss(student: Preds, teacher: Preds, labels: torch.Tensor, n_chosen: int, *, dpo_beta: float = 0.1,
              reduction: str = "seq_mean", impl: str = "chunked", chunk_size: int | None = None) -> LossOutput:
    """DPKD (``dpkd``): DPO with the teacher as reference, teacher responses preferred over student responses:
    ``-log sigmoid(b [(log q(y_t) - log p(y_t)) - (log q(y_s) - log p(y_s))])``, sequence log-probs averaged over
    tokens (``seq_mean``, the code) or summed (``sum``, standard DPO)."""
    avg = reduction == "seq_mean"
    lq = sequence_logps(student, labels, average=avg, impl=impl, chunk_size=chunk_size)
    with torch.no_grad():
        lp = sequence_logps(teacher.detach(), labels, average=avg, impl=impl, chunk_size=chunk_size)
    margin = (lq[:n_chosen] - lp[:n_chosen]) - (lq[n_chosen:] - lp[n_chosen:])
    loss = -F.logsigmoid(dpo_beta * margin).mean()
    return LossOutput(loss, {"logps_chosen": _f(lq[:n_chosen]), "logps_rejected": _f(lq[n_chosen:]),
                             "margin": _f(margin)})


def side_divergence_loss(student: Preds, teacher: Preds, labels: torch.Tensor, n_chosen: int, kind: str, *,
                         on: str = "chosen", alpha: float = 0.1, jsd_beta: float = 0.9, detach_mixture: bool = False,
                         reduction: str = "seq_mean", impl: str = "chunked",
                         chunk_size: int | None = None) -> LossOutput:
    """One divergence on teacher responses (``on="chosen"``), student responses (``"rejected"``) or both (summed):
    KD is ``kl`` on chosen, ImitKD ``kl`` on rejected, the SKL-only / SRKL-only ablations of Fig. 1(c) are ``skl``
    on chosen / ``srkl`` on rejected."""
    _check("data side", on, DATA_SIDES)
    sides = ("chosen", "rejected") if on == "both" else (on,)
    total, metrics = None, {}
    for side in sides:
        s, lab = _side(student, labels, n_chosen, side)
        t, _ = _side(teacher, labels, n_chosen, side)
        v = divergence(s, t, lab, kind, alpha=alpha, beta=jsd_beta, detach_mixture=detach_mixture,
                       reduction=reduction, impl=impl, chunk_size=chunk_size)
        metrics[f"{kind}_{side}"] = _f(v)
        total = v if total is None else total + v
    return LossOutput(total, metrics)


def needs_teacher(loss: str) -> bool:
    return loss != "seqkd"


def distillation_loss(loss: str, student: Preds, teacher: Preds | None, labels: torch.Tensor, n_chosen: int, *,
                      reduction: str = "seq_mean", alpha_t: float | torch.Tensor = 0.1,
                      alpha_s: float | torch.Tensor = 0.1, beta: float = 0.5, alpha: float = 0.1,
                      jsd_beta: float = 0.9, dpo_beta: float = 0.1, srkl_detach_mixture: bool = True,
                      divergence_on: str = "chosen", impl: str = "chunked",
                      chunk_size: int | None = None) -> LossOutput:
    """Every loss of the paper's comparison by its code name (``loss_type``):

    ``distillm_v2`` (DistiLLM-2), ``distillm_v1``, ``kd`` (forward KL on teacher responses), ``seqkd`` (NLL on teacher
    responses), ``gkd`` (JSD 0.9 on both), ``dpkd`` (DPO with the teacher as reference), ``imitkd`` (forward KL on
    student responses [INFERRED: the paper's ImitKD baseline; not in the code]), ``speculative_kd`` (forward KL on the
    chosen rows, which should then hold speculative-decoding outputs), and the bare divergences ``kl``, ``rkl``,
    ``skl``, ``srkl``, ``jsd`` on ``divergence_on`` rows. ``student``/``teacher`` hold all ``2B`` rows.
    """
    _check("loss", loss, LOSSES)
    _check("reduction", reduction, REDUCTIONS)
    if teacher is None and needs_teacher(loss):
        raise ValueError(f"loss {loss!r} needs the teacher's predictions")
    if teacher is not None and teacher.vocab_size != student.vocab_size:
        raise ValueError(f"teacher vocabulary ({teacher.vocab_size}) != student vocabulary ({student.vocab_size}): "
                         "resize both to the shared tokenizer first (see trainer.align_vocab)")
    common = dict(reduction=reduction, impl=impl, chunk_size=chunk_size)
    if loss == "distillm_v2":
        return distillm_v2_loss(student, teacher, labels, n_chosen, alpha_t=alpha_t, alpha_s=alpha_s, beta=beta,
                                detach_mixture=srkl_detach_mixture, **common)
    if loss == "distillm_v1":
        return distillm_v1_loss(student, teacher, labels, n_chosen, alpha=alpha, detach_mixture=srkl_detach_mixture,
                                **common)
    if loss == "gkd":
        return gkd_loss(student, teacher, labels, n_chosen, jsd_beta=jsd_beta, **common)
    if loss == "seqkd":
        return seqkd_loss(student, labels, n_chosen, **common)
    if loss == "dpkd":
        return dpkd_loss(student, teacher, labels, n_chosen, dpo_beta=dpo_beta, **common)
    if loss in ("kd", "speculative_kd"):
        return side_divergence_loss(student, teacher, labels, n_chosen, "kl", on="chosen", **common)
    if loss == "imitkd":
        return side_divergence_loss(student, teacher, labels, n_chosen, "kl", on="rejected", **common)
    return side_divergence_loss(student, teacher, labels, n_chosen, loss, on=divergence_on, alpha=alpha,
                                jsd_beta=jsd_beta, detach_mixture=srkl_detach_mixture and loss in ("srkl", "jsd"),
                                **common)


def naive_distillm_v2_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                           n_chosen: int, *, alpha_t: float = 0.1, alpha_s: float = 0.1, b: float = 1.0,
                           upcast: bool = True) -> torch.Tensor:
    """The released code's DistiLLM-2 step written out naively (spec §2.3): full log-softmax of the 2B student and
    teacher rows, per-token SKL / SRKL (detached mixture) at every position, masked per-sequence means, then
    ``mean((2 - b) chosen_kl + b rejected_kl)``. Materialises several ``[2B, T, V]`` tensors: the benchmark's
    baseline and a test oracle independent of :mod:`mlrepro.kernels`. ``upcast=False`` keeps the logits' dtype
    throughout (the code under DeepSpeed bf16, where the model and its logits are bf16 and no autocast upcasts)."""
    if upcast:
        student_logits, teacher_logits = _fp(student_logits), _fp(teacher_logits)
    logq = torch.log_softmax(student_logits, dim=-1)
    logp = torch.log_softmax(teacher_logits, dim=-1)
    mask = (labels != IGNORE_INDEX).to(logq.dtype)
    a1 = torch.tensor(alpha_t, dtype=logq.dtype, device=logq.device)
    a2 = torch.tensor(alpha_s, dtype=logq.dtype, device=logq.device)
    mix1 = torch.logsumexp(torch.stack([torch.log(a1) + logp, torch.log1p(-a1) + logq], dim=0), dim=0)
    tea_pos_kl = (logp.exp() * (logp - mix1)).sum(-1)
    mix2 = torch.logsumexp(torch.stack([torch.log1p(-a2) + logp, torch.log(a2) + logq.detach()], dim=0), dim=0)
    ref_pos_kl = (logq.exp() * (logq - mix2)).sum(-1)
    tea_kl = (tea_pos_kl * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    ref_kl = (ref_pos_kl * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    chosen_kl, rejected_kl = tea_kl[:n_chosen], ref_kl[n_chosen:]
    return ((2 - b) * chosen_kl + b * rejected_kl).mean()
