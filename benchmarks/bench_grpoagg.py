"""grpoagg: the stationary-policy solver (eq. 11) on a 1,000-output space, one core.

Target (issue #3): a 1,000-output space solves in under 1 s on one core. Reported per case: median wall time over
repeats, iterations of the fixed-point iteration, final fixed-point residual and the eq. 11 residual. BLAS is
limited to one thread with threadpoolctl when it is installed (the solver is mostly elementwise numpy anyway).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time

TARGET_S = 1.0


def _one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def run(quick: bool = False) -> dict:
    import numpy as np
    from mlrepro_grpoagg.data import random_problem
    from mlrepro_grpoagg.method import RewardModel, stationary_policy

    K = 1000
    repeats = 1 if quick else 5
    pi_ref_d, rm_distinct = random_problem(K, seed=0)  # 1,000 distinct deterministic rewards
    pi_ref_g, rm_graded = random_problem(K, n_levels=5, seed=1)  # graded rewards on 5 levels
    rng = np.random.default_rng(2)
    rm_bern = RewardModel.bernoulli(rng.random(K))  # stochastic pass/fail rewards
    cases = [
        ("distinct_rewards_G2_beta0.04", pi_ref_d, rm_distinct, 0.04, 2, "reverse"),
        ("distinct_rewards_G2_beta0.5", pi_ref_d, rm_distinct, 0.5, 2, "reverse"),
        ("distinct_rewards_Ginf_beta0.04", pi_ref_d, rm_distinct, 0.04, math.inf, "reverse"),
        ("distinct_rewards_Ginf_beta0.5", pi_ref_d, rm_distinct, 0.5, math.inf, "reverse"),
        ("graded5_G8_beta0.1", pi_ref_g, rm_graded, 0.1, 8, "reverse"),
        ("graded5_G16_beta0.1", pi_ref_g, rm_graded, 0.1, 16, "reverse"),
        ("bernoulli_G16_beta0.1", pi_ref_d, rm_bern, 0.1, 16, "reverse"),
        ("bernoulli_G64_beta0.1", pi_ref_d, rm_bern, 0.1, 64, "reverse"),
        ("distinct_rewards_G2_direct_beta0.5", pi_ref_d, rm_distinct, 0.5, 2, "direct"),
    ]
    if quick:
        cases = cases[:3]
    out = {"K": K, "target_s": TARGET_S, "repeats": repeats, "cases": {}}
    with _one_thread():
        stationary_policy(pi_ref_g, rm_graded, 0.1, 8)  # warm the composition cache and imports
        for name, pi_ref, rm, beta, G, pen in cases:
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                res = stationary_policy(pi_ref, rm, beta, G, penalty=pen)
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            out["cases"][name] = {"time_s": round(med, 4), "max_time_s": round(max(times), 4),
                                  "iterations": res.iterations, "residual": float(f"{res.residual:.3g}"),
                                  "eq11_residual": float(f"{res.eq_residual:.3g}"), "converged": res.converged,
                                  "reward_levels": rm.M, "G": "inf" if math.isinf(G) else G, "beta": beta,
                                  "penalty": pen, "under_target": med < TARGET_S}
    out["max_time_s"] = max(c["time_s"] for c in out["cases"].values())
    out["all_under_target"] = all(c["under_target"] and c["converged"] for c in out["cases"].values())
    return out
