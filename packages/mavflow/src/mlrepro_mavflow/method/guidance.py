"""Classifier-free condition dropout and dual guidance (spec §2.3, [INFERRED design]).

The paper's "dual guidance" means two conditioning streams, a global speaker x-vector a and a per-frame visual
emotion stream v. Whether MAVFlow also uses classifier-free guidance is [UNKNOWN]; we implement it as an option
(default off: w_a = w_v = 0) with the two combiners of the spec:

nested:       v = v(0,0) + (1 + w_a) [v(a,0) - v(0,0)] + (1 + w_v) [v(a,v) - v(a,0)]
independent:  v = v(a,v) + w_a [v(a,v) - v(0,v)] + w_v [v(a,v) - v(a,0)]

Both reduce to v(a,v) at w_a = w_v = 0. "0" is the null condition (zeros), the same value used by the training
dropout.
"""

from __future__ import annotations

import torch


def condition_dropout(batch_size: int, p: float, generator: torch.Generator | None = None,
                      device: str | torch.device = "cpu") -> torch.Tensor:
    """Keep-mask [B] (1 = keep the condition, 0 = replace by the null condition) with P(drop) = p."""
    if p <= 0:
        return torch.ones(batch_size, device=device)
    u = torch.rand(batch_size, generator=generator, device=device)
    return (u >= p).float()


def combine_nested(v_00: torch.Tensor, v_a0: torch.Tensor, v_av: torch.Tensor, w_a: float, w_v: float) -> torch.Tensor:
    """Nested dual-CFG: v(0,0) + (1 + w_a)(v(a,0) - v(0,0)) + (1 + w_v)(v(a,v) - v(a,0))."""
    return v_00 + (1.0 + w_a) * (v_a0 - v_00) + (1.0 + w_v) * (v_av - v_a0)


def combine_independent(v_av: torch.Tensor, v_0v: torch.Tensor, v_a0: torch.Tensor, w_a: float, w_v: float) -> torch.Tensor:
    """Independent dual-CFG: v(a,v) + w_a (v(a,v) - v(0,v)) + w_v (v(a,v) - v(a,0))."""
    return v_av + w_a * (v_av - v_0v) + w_v * (v_av - v_a0)


def needed_conditions(combiner: str, w_a: float, w_v: float) -> list[tuple[bool, bool]]:
    """Which (speaker kept, emotion kept) evaluations a combiner needs; one when both weights are zero."""
    if w_a == 0 and w_v == 0:
        return [(True, True)]
    if combiner == "nested":
        return [(False, False), (True, False), (True, True)]
    if combiner == "independent":
        return [(True, True), (False, True), (True, False)]
    raise ValueError(f"unknown combiner {combiner!r} (nested, independent)")


def guided_velocity(net_fn, combiner: str, w_a: float, w_v: float):
    """Build v(x, t) from ``net_fn(x, t, keep_spk: bool, keep_emo: bool)`` with the chosen combiner.

    All needed condition sets are evaluated in one batched call when ``net_fn`` supports it; here we call it
    per condition set (the network cost is what the NFE counts report).
    """
    conds = needed_conditions(combiner, w_a, w_v)

    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        outs = {c: net_fn(x, t, *c) for c in conds}
        if len(conds) == 1:
            return outs[(True, True)]
        if combiner == "nested":
            return combine_nested(outs[(False, False)], outs[(True, False)], outs[(True, True)], w_a, w_v)
        return combine_independent(outs[(True, True)], outs[(False, True)], outs[(True, False)], w_a, w_v)

    v.n_conditions = len(conds)  # type: ignore[attr-defined]
    return v
