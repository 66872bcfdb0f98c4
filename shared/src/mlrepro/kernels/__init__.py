"""Memory-efficient token log-probs, entropies and divergences over the vocabulary (plain torch, CPU and GPU).

Everything here is chunked over tokens: at most ``chunk_size`` rows of float32 ``[chunk, V]`` buffers are alive at any
time. The *fused linear* variants take hidden states and the lm_head weight instead of logits and never hold the full
``[N, V]`` logits, in forward or backward (the idea behind Liger-Kernel's fused losses, without Triton).

Notation
--------
``p = softmax(teacher_logits / T)`` (teacher), ``q = softmax(student_logits / T)`` (student), per token, over the
vocabulary. Divergence kinds (``kind=``):

============  =================================================  ==========================================
kind          per-token value                                    notes
============  =================================================  ==========================================
``kl``        ``KL(p || q) = sum p (log p - log q)``             forward KL (GKD beta=0, "supervised KD")
``rkl``       ``KL(q || p)``                                     reverse KL
``skew_kl``   ``KL(p || alpha p + (1 - alpha) q)``               DistiLLM SKL; alpha=0 -> kl, alpha=1 -> 0
``skew_rkl``  ``KL(q || (1 - alpha) p + alpha q)``               DistiLLM SRKL; alpha=0 -> rkl, alpha=1 -> 0
``jsd``       ``beta KL(p || m) + (1 - beta) KL(q || m)``,       GKD's generalized JSD, TRL's convention:
              ``m = beta p + (1 - beta) q``                      beta=0 -> kl, beta=1 -> rkl (special-cased)
============  =================================================  ==========================================

``alpha`` is a float or a tensor broadcastable to the token shape (``[N]``, ``[B, T]``, ``[B, 1]``; a 1-D tensor of
length ``B`` with ``[B, T]`` inputs means one alpha per sequence, as in DistiLLM-2's per-sample curriculum alpha);
it is not differentiated. ``detach_mixture=True`` (``skew_rkl``/``jsd``) treats the student's share of the mixture
as a constant, as DistiLLM-2's released SRKL does (``log m = logaddexp(log(1-a) + log p, log a + stopgrad(log q))``).
Logits must be finite (no ``-inf`` vocabulary masking).

Token selection and reduction (all functions)
---------------------------------------------
Inputs are ``[N, ...]`` or ``[B, T, ...]``. ``mask`` (bool/0-1, token shape) and/or ``labels`` with ``ignore_index``
select the tokens; the rest is skipped entirely (no compute). ``reduction``:

* ``"token_mean"``: sum over kept tokens / number of kept tokens (0 when none are kept);
* ``"sum"``: sum over kept tokens;
* ``"none"``: per-token values in the token shape, 0 at dropped tokens;
* ``"seq_mean"`` (``[B, T]`` inputs): per-sequence mean over kept tokens, then mean over the sequences with at least
  one kept token (DistiLLM-2's ``average_log_prob=True`` reduction followed by the batch mean);
* ``"per_seq_mean"`` (``[B, T]`` inputs): the ``[B]`` per-sequence means (0 for empty sequences).

Functions (all return float32, or float64 for float64 inputs; all differentiable once, no double backward)
-------------------------------------------------------------------------------------------------------------
``chunked_divergence(student_logits, teacher_logits, kind="skew_kl", *, alpha=0.1, beta=0.5, temperature=1.0,
mask=None, labels=None, ignore_index=-100, reduction="token_mean", chunk_size=None, detach_mixture=False)``
    From materialised logits ``[..., V]`` (any float dtype, e.g. bf16 model outputs). Gradients flow to both
    logits tensors when they require grad (the teacher's usually do not). Backward recomputes each chunk; the only
    full-size allocation is the gradient of the logits, in the logits' dtype.

``fused_linear_divergence(student_hidden, student_weight, teacher_hidden=None, teacher_weight=None,
teacher_logits=None, kind="skew_kl", *, alpha=0.1, beta=0.5, temperature=1.0, mask=None, labels=None,
ignore_index=-100, reduction="token_mean", chunk_size=None, detach_mixture=False, precompute_grads=None)``
    ``student_hidden [..., H]``, ``student_weight [V, H]`` (the lm_head weight, ``logits = hidden @ weight.T``; no
    bias). Teacher: either ``teacher_hidden [..., H_t]`` + ``teacher_weight [V, H_t]`` (fused too) or
    ``teacher_logits [..., V]``. Gradients go to every input that requires grad (student hidden and weight; the
    teacher's hidden/weight/logits only when they require grad: detach them, or build them under ``no_grad``, to
    keep the teacher frozen). Two gradient strategies:

    * scalar reductions (``token_mean``/``sum``/``seq_mean``) with ``precompute_grads`` None/True: the gradients are
      computed during the forward pass, chunk by chunk (as Liger-Kernel does), so the step costs the same four
      vocabulary matmuls as the naive one; they are kept (weight-sized float32 buffer + hidden-sized buffer) until
      backward, which scales them in place by the incoming gradient and hands them over (one backward per forward:
      a second backward through a retained graph raises; use ``precompute_grads=False`` for that);
    * ``reduction="none"``/``"per_seq_mean"`` or ``precompute_grads=False``: forward computes values only; backward
      recomputes each chunk's logits (one extra matmul per side) and applies the incoming per-token gradient, so any
      function of the per-token values can be differentiated.

    Weight gradients are accumulated across chunks in float32 and returned in the weight's dtype; hidden states
    of another dtype than their head (bf16 activations, fp32 head) are cast to the head's dtype chunk by chunk.
    Under DeepSpeed ZeRO-3 / FSDP the head weight is sharded outside its module's forward: gather it first (e.g.
    ``deepspeed.zero.GatheredParameters``) or call these functions where the full weight is available.

``token_logprobs(logits, labels, *, weight=None, temperature=1.0, ignore_index=-100, chunk_size=None)``
    Per-token ``log softmax(logits / T)[label]`` (token shape, 0 at ignored labels). With ``weight=[V, H]`` the first
    argument is hidden states ``[..., H]`` and the call is :func:`fused_linear_token_logprobs`
    ``(hidden, weight, labels, *, temperature=1.0, ignore_index=-100, chunk_size=None)``. Labels are used as given
    (shift them yourself for next-token prediction).

``token_entropy(logits, *, weight=None, mask=None, temperature=1.0, chunk_size=None)``
    Per-token entropy; with ``weight`` the fused :func:`fused_linear_entropy` ``(hidden, weight, *, mask=None,
    temperature=1.0, chunk_size=None)``.

``chunk_size``: tokens per chunk. Default: ``max(2**22 // V, H // 6, 1)`` for the fused functions (the chunk's ~4
float32 ``[chunk, V]`` buffers then stay below the one weight-sized gradient buffer the fused step needs anyway, and
matmuls stay efficient: 256 tokens at H=1536) and ``max(2**22 // V, 1)`` for logits input (131 at V=32000). Results
do not depend on it beyond floating-point summation order.

Reference (naive, fully materialised, plain autograd; the test oracles): ``divergence_reference``,
``logprobs_reference``, ``entropy_reference`` and ``reduce_tokens(values, mask=None, reduction="token_mean")`` in
:mod:`mlrepro.kernels.reference`.

Example (DistiLLM-2's loss on a batch whose first B rows are teacher responses and last B rows student responses)::

    h = student_model.model(input_ids, attention_mask=am).last_hidden_state[:, :-1]  # [2B, T-1, H]
    with torch.no_grad():
        ht = teacher_model.model(input_ids, attention_mask=am).last_hidden_state[:, :-1]
    lab = labels[:, 1:]
    W, Wt = student_model.lm_head.weight, teacher_model.lm_head.weight.detach()  # frozen teacher
    skl = fused_linear_divergence(h[:B], W, ht[:B], Wt, kind="skew_kl", alpha=0.1, labels=lab[:B],
                                  reduction="seq_mean")
    srkl = fused_linear_divergence(h[B:], W, ht[B:], Wt, kind="skew_rkl", alpha=0.1, labels=lab[B:],
                                   reduction="seq_mean", detach_mixture=True)
    loss = skl + srkl
"""

from .core import (
    KINDS,
    chunked_divergence,
    fused_linear_divergence,
    fused_linear_entropy,
    fused_linear_token_logprobs,
    token_entropy,
    token_logprobs,
)
from .reference import REDUCTIONS, divergence_reference, entropy_reference, logprobs_reference, reduce_tokens

__all__ = [
    "KINDS", "REDUCTIONS",
    "chunked_divergence", "fused_linear_divergence",
    "token_logprobs", "fused_linear_token_logprobs",
    "token_entropy", "fused_linear_entropy",
    "divergence_reference", "logprobs_reference", "entropy_reference", "reduce_tokens",
]
