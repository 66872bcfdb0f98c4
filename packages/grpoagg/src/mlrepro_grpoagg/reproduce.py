"""Stage orchestration: closed forms vs solver -> finite G vs large G -> GRPO vs log pooling -> direct-KL
non-uniqueness -> simulated GRPO -> figure curves -> report.

Each stage is a pure function of the config returning a JSON-able dict; :class:`mlrepro.runs.RunDir` stores it
under ``stages/<name>/output.json`` with a ``DONE`` marker, so ``--resume`` skips finished stages.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

import numpy as np

from mlrepro.runs import get_logger

from . import method as M
from .config import Config
from .data import binary_problem, margin_problem, setup_problem

log = get_logger("mlrepro.grpoagg")
INF = math.inf


def _solver(cfg: Config):
    s = cfg.solver
    return partial(M.stationary_policy, tol=s.tol, max_iter=s.max_iter, anderson=s.anderson)


def _gname(G) -> str:
    return "inf" if math.isinf(G) else str(int(G))


def _tqdm(it, desc: str, total: int | None = None):
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, total=total, leave=False, mininterval=2.0)


# ---------------------------------------------------------------------------------------------------------------
# stage 1: every closed form against the general solver
# ---------------------------------------------------------------------------------------------------------------


def stage_closed_forms(cfg: Config) -> dict:
    c = cfg.closed_forms
    solve = _solver(cfg)
    rows: list[dict] = []

    def add(case, beta, p, margin, G, res, closed):
        rows.append({"case": case, "beta": beta, "p_ref": p, "margin": margin, "G": _gname(G),
                     "solver": float(res.pi[0]), "closed": float(closed), "abs_err": abs(float(res.pi[0]) - float(closed)),
                     "iterations": res.iterations, "converged": bool(res.converged), "boundary": bool(res.boundary)})

    grid = [(b, p) for b in c.betas for p in c.p_refs]
    for beta, p in _tqdm(grid, "closed forms"):
        for gam in c.margins:
            pi_ref, rm = margin_problem(p, gam)  # Bernoulli rewards with confidence margin gam
            add("eq14_g2_bernoulli", beta, p, gam, 2, solve(pi_ref, rm, beta, 2), M.binary_stationary(p, beta, gam, 2))
            add("eq14_g2_sample_std", beta, p, gam, 2, solve(pi_ref, rm, beta, 2, normalization="sample"),
                M.binary_stationary(p, beta, gam, 2, normalization="sample"))
            add("direct_g2_bernoulli", beta, p, gam, 2, solve(pi_ref, rm, beta, 2, penalty="direct"),
                M.binary_stationary(p, beta, gam, 2, penalty="direct"))
            pi_ref, rd = binary_problem(p, (gam, 0.0))  # deterministic rewards, gap gam: only the order matters
            add("eq14_g2_deterministic", beta, p, gam, 2, solve(pi_ref, rd, beta, 2), M.binary_stationary(p, beta, 1.0, 2))
            add("eq15_ginf_deterministic", beta, p, gam, INF, solve(pi_ref, rd, beta, INF),
                M.binary_stationary(p, beta, 1.0, INF))
            for G in [*c.shift_only_G, INF]:
                add("shift_only_reverse", beta, p, gam, G, solve(pi_ref, rd, beta, G, normalization="none"),
                    M.binary_stationary(p, beta, gam, G, normalization="none"))
                add("shift_only_direct", beta, p, gam, G,
                    solve(pi_ref, rd, beta, G, normalization="none", penalty="direct"),
                    M.binary_stationary(p, beta, gam, G, penalty="direct", normalization="none"))
        # direct KL as G -> inf: the stationary points are the roots x1 < x2 of h (App. B.2) when they exist, and
        # the vertex p = 1. Which one an iteration finds depends on where it starts, so each root is checked
        # from a start next to it; without roots the solver must end at the vertex.
        pi_ref, rd = binary_problem(p)
        roots = M.direct_large_g_roots(p, beta)
        if roots is None:
            add("direct_ginf_vertex", beta, p, 1.0, INF, solve(pi_ref, rd, beta, INF, penalty="direct"), 1.0)
        else:
            for name, xr in zip(("direct_ginf_root_x1", "direct_ginf_root_x2"), roots):
                x0 = xr + 1e-3 * min(xr, 1 - xr)
                add(name, beta, p, 1.0, INF, solve(pi_ref, rd, beta, INF, penalty="direct", pi0=[x0, 1 - x0]), xr)

    # identity E_pi[P_G(.|pi)] = 0 on random instances (ties included, stochastic rewards included)
    rng = np.random.default_rng(cfg.seed)
    ident = 0.0
    for trial in range(12):
        K = int(rng.integers(2, 6))
        pi = rng.dirichlet(np.ones(K))
        if trial % 2:
            rm = M.RewardModel.bernoulli(rng.random(K))
        else:
            rm = M.RewardModel.deterministic(rng.integers(0, 3, K).astype(float))
        for G in (2, 3, 5, 8, INF):
            for norm in M.NORMALIZATIONS:
                ident = max(ident, abs(M.expected_preference(pi, rm, G, norm)))

    by_case: dict[str, dict] = {}
    for r in rows:
        d = by_case.setdefault(r["case"], {"n": 0, "max_abs_err": 0.0, "max_iterations": 0, "all_converged": True})
        d["n"] += 1
        d["max_abs_err"] = max(d["max_abs_err"], r["abs_err"])
        d["max_iterations"] = max(d["max_iterations"], r["iterations"])
        d["all_converged"] = d["all_converged"] and r["converged"]
    worst = max(rows, key=lambda r: r["abs_err"])
    return {
        "rows": rows,
        "by_case": by_case,
        "n_cases": len(rows),
        "max_abs_err": max(r["abs_err"] for r in rows),
        "worst": worst,
        "all_converged": all(r["converged"] for r in rows),
        "expected_preference_max_abs": ident,
        "sqrt_point_p_ref_0_25": float(M.binary_stationary(0.25, 1.0, 1.0, 2)),
    }


# ---------------------------------------------------------------------------------------------------------------
# stage 2: finite-G stationary policies approach the large-G formula (eq. 15)
# ---------------------------------------------------------------------------------------------------------------


def stage_large_g(cfg: Config) -> dict:
    g = cfg.large_g
    solve = _solver(cfg)
    points = [(g.p_ref, g.beta)] + [(p, b) for p in g.grid_p_refs for b in g.grid_betas if (p, b) != (g.p_ref, g.beta)]
    tables = []
    for p, beta in _tqdm(points, "finite G"):
        pi_ref, rd = binary_problem(p)
        p_inf = float(M.binary_ginf(p, beta))
        vals, errs, iters = [], [], []
        for G in g.group_sizes:
            res = solve(pi_ref, rd, beta, G)
            vals.append(float(res.pi[0]))
            errs.append(abs(float(res.pi[0]) - p_inf))
            iters.append(res.iterations)
        gs = np.log(np.asarray(g.group_sizes[-3:], dtype=float))
        slope = float(np.polyfit(gs, np.log(np.maximum(errs[-3:], 1e-300)), 1)[0])
        tables.append({"p_ref": p, "beta": beta, "G": list(g.group_sizes), "p_G": vals, "p_inf": p_inf,
                       "p_G2_closed": float(M.binary_g2(p, beta)), "abs_err": errs, "iterations": iters,
                       "monotone_decreasing_err": bool(all(errs[i + 1] < errs[i] for i in range(len(errs) - 1))),
                       "loglog_slope_last3": slope})
    return {"headline": tables[0], "tables": tables,
            "all_monotone": all(t["monotone_decreasing_err"] for t in tables),
            "max_final_err": max(t["abs_err"][-1] for t in tables)}


# ---------------------------------------------------------------------------------------------------------------
# stage 3: GRPO aggregation vs logarithmic pooling
# ---------------------------------------------------------------------------------------------------------------


def stage_logpool(cfg: Config) -> dict:
    lp = cfg.logpool
    solve = _solver(cfg)
    beta = lp.beta
    p = np.asarray(lp.p_refs)
    table = {
        "p_ref": p.tolist(),
        "grpo_g2": M.binary_stationary(p, beta, 1.0, 2).tolist(),
        "grpo_ginf": M.binary_stationary(p, beta, 1.0, INF).tolist(),
        "direct_g2": M.binary_stationary(p, beta, 1.0, 2, penalty="direct").tolist(),
        "rlhf_gap1": [float(M.log_pooling([x, 1 - x], [1.0, 0.0], beta)[0]) for x in p],
        "floor_g2": float(M.binary_lower_bound(beta, 1.0, 2)),
        "floor_ginf": float(M.binary_lower_bound(beta, 1.0, INF)),
    }
    i0 = int(np.argmin(p))
    discontinuity = {
        "p_ref": float(p[i0]),
        "grpo_g2": table["grpo_g2"][i0], "grpo_ginf": table["grpo_ginf"][i0], "rlhf": table["rlhf_gap1"][i0],
        "gap_g2_vs_rlhf": table["grpo_g2"][i0] - table["rlhf_gap1"][i0],
    }
    # direct-KL G = 2 with deterministic rewards is RLHF with reward gap 1 (App. B.2)
    direct_vs_rlhf = float(np.max(np.abs(np.asarray(table["direct_g2"]) - np.asarray(table["rlhf_gap1"]))))

    # general-K example (digest §6.4)
    pi_ref = np.asarray(lp.example_pi_ref, dtype=float)
    r = np.asarray(lp.example_rewards, dtype=float)
    G = lp.example_G
    grpo = solve(pi_ref, r, beta, G)
    P = M.preference_model(grpo.pi, r, G)
    one_over = pi_ref / (1 - P / beta)  # eq. 11 with E_pi P = 0
    log_form = np.log(grpo.pi / pi_ref) - P / beta  # constant iff log pooling of P
    direct = solve(pi_ref, r, beta, G, penalty="direct")
    Pd = M.preference_model(direct.pi, r, G)
    log_form_direct = np.log(direct.pi / pi_ref) - Pd / beta
    rlhf = M.log_pooling(pi_ref, r, beta)
    policies = {"pi_ref": pi_ref.tolist(), "grpo_reverse": grpo.pi.tolist(), "grpo_direct": direct.pi.tolist(),
                "rlhf_log_pool": rlhf.tolist()}
    for GG in (2, INF):
        policies[f"grpo_reverse_G{_gname(GG)}"] = solve(pi_ref, r, beta, GG).pi.tolist()
    # shift-only + direct KL = RLHF with beta G/(G-1); sample std = rescaled beta
    shift_direct = []
    sample_std = []
    for GG in (2, 3, 4, 8, 16):
        a = solve(pi_ref, r, beta, GG, normalization="none", penalty="direct").pi
        shift_direct.append(float(np.max(np.abs(a - M.log_pooling(pi_ref, r, beta * GG / (GG - 1))))))
        a = solve(pi_ref, r, beta, GG, normalization="sample").pi
        b = solve(pi_ref, r, M.beta_effective_sample_std(beta, GG), GG).pi
        sample_std.append(float(np.max(np.abs(a - b))))
    # reward affine invariance: GRPO (scale-normalised) uses only reward order; log pooling and shift-only do not
    inv = {"grpo_pop": 0.0, "grpo_pop_ginf": 0.0, "rlhf": 0.0, "shift_only": 0.0}
    base_sh = solve(pi_ref, r, beta, G, normalization="none").pi
    base_inf = solve(pi_ref, r, beta, INF).pi
    for s in lp.reward_scales:
        r2 = s * r + lp.reward_shift
        inv["grpo_pop"] = max(inv["grpo_pop"], float(np.max(np.abs(solve(pi_ref, r2, beta, G).pi - grpo.pi))))
        inv["grpo_pop_ginf"] = max(inv["grpo_pop_ginf"], float(np.max(np.abs(solve(pi_ref, r2, beta, INF).pi - base_inf))))
        inv["rlhf"] = max(inv["rlhf"], float(np.max(np.abs(M.log_pooling(pi_ref, r2, beta) - rlhf))))
        inv["shift_only"] = max(inv["shift_only"], float(np.max(np.abs(solve(pi_ref, r2, beta, G, normalization="none").pi - base_sh))))
    # for G = 2 even reward *gaps* do not matter (order only): rewards (1, 0.5, 0, 0) vs (10, 0.1, 0, 0)
    g2a = solve(pi_ref, r, beta, 2).pi
    g2b = solve(pi_ref, np.where(r == r.max(), 10.0, np.where(r > 0, 0.1, 0.0)), beta, 2).pi
    # practical remark (TRL default beta = 0.04 when the paper was written)
    pb = lp.practical_beta
    tiny = 1e-6
    practical = {
        "beta": pb,
        "floor_g2": float(M.binary_lower_bound(pb, 1.0, 2)),
        "floor_ginf": float(M.binary_lower_bound(pb, 1.0, INF)),
        "solver_g2_at_tiny_p_ref": float(solve(*binary_problem(tiny), pb, 2).pi[0]),
        "solver_ginf_at_tiny_p_ref": float(solve(*binary_problem(tiny), pb, INF).pi[0]),
        "solver_g8_at_tiny_p_ref": float(solve(*binary_problem(tiny), pb, 8).pi[0]),
        "tiny_p_ref": tiny,
    }
    return {
        "beta": beta, "table": table, "discontinuity": discontinuity, "direct_g2_vs_rlhf_gap1": direct_vs_rlhf,
        "example": {"G": G, "rewards": r.tolist(), "policies": policies,
                    "eq11_one_over_residual": float(np.max(np.abs(one_over - grpo.pi))),
                    "reverse_log_form_spread": float(np.ptp(log_form)),
                    "direct_log_form_spread": float(np.ptp(log_form_direct)),
                    "grpo_vs_rlhf_max_abs": float(np.max(np.abs(grpo.pi - rlhf))),
                    "zero_reward_ratio": float(grpo.pi[2] / grpo.pi[3]), "pi_ref_ratio": float(pi_ref[2] / pi_ref[3])},
        "shift_only_direct_vs_rlhf_max_abs": max(shift_direct),
        "sample_std_vs_rescaled_beta_max_abs": max(sample_std),
        "invariance_max_change": inv,
        "g2_order_only_max_change": float(np.max(np.abs(g2a - g2b))),
        "practical": practical,
    }


# ---------------------------------------------------------------------------------------------------------------
# stage 4: direct-KL variant at large G is not unique (App. B.2)
# ---------------------------------------------------------------------------------------------------------------


def stage_nonunique(cfg: Config) -> dict:
    nu = cfg.nonunique
    solve = _solver(cfg)
    crit = {str(p): M.direct_large_g_critical_beta(p) for p in nu.p_refs}
    p, beta = nu.example_p_ref, nu.example_beta
    roots = M.direct_large_g_roots(p, beta)
    pi_ref, rd = binary_problem(p)
    from_ref = solve(pi_ref, rd, beta, INF, penalty="direct")
    from_high = solve(pi_ref, rd, beta, INF, penalty="direct", pi0=[nu.high_start, 1 - nu.high_start])
    theta_high = np.log([nu.high_start, 1 - nu.high_start])
    dyn_ref = M.simulate_grpo(pi_ref, rd, beta, INF, mode="expected", steps=nu.dynamics_steps, lr=nu.dynamics_lr,
                              penalty="direct", record_every=max(1, nu.dynamics_steps // 2000))
    dyn_high = M.simulate_grpo(pi_ref, rd, beta, INF, mode="expected", steps=nu.dynamics_steps, lr=nu.dynamics_lr,
                               penalty="direct", theta0=theta_high, record_every=max(1, nu.dynamics_steps // 2000))
    below = solve(pi_ref, rd, nu.below_beta, INF, penalty="direct", raise_on_failure=False)
    dyn_below = M.simulate_grpo(pi_ref, rd, nu.below_beta, INF, mode="expected", steps=nu.dynamics_steps,
                                lr=nu.dynamics_lr, penalty="direct", record_every=max(1, nu.dynamics_steps // 2000))
    return {
        "critical_beta": crit,
        "example": {"p_ref": p, "beta": beta, "x_star": M.direct_large_g_xstar(beta),
                    "roots": list(roots) if roots else None,
                    "solver_from_ref": float(from_ref.pi[0]), "solver_from_high": float(from_high.pi[0]),
                    "dynamics_from_ref": float(dyn_ref.pi_final[0]), "dynamics_from_high": float(dyn_high.pi_final[0]),
                    "dynamics_from_high_1_minus_p": float(dyn_high.pi_final[1]),
                    "traj_ref": dyn_ref.trajectory[:, 0].tolist(), "traj_high": dyn_high.trajectory[:, 0].tolist(),
                    "traj_steps": dyn_ref.steps_recorded.tolist()},
        "below": {"beta": nu.below_beta, "roots": M.direct_large_g_roots(p, nu.below_beta),
                  "solver": float(below.pi[0]), "solver_boundary": list(below.boundary),
                  "dynamics": float(dyn_below.pi_final[0])},
    }


# ---------------------------------------------------------------------------------------------------------------
# stage 5: simulated GRPO (expected-gradient and Monte Carlo) converges to the solver's fixed point
# ---------------------------------------------------------------------------------------------------------------


def stage_simulate(cfg: Config, run=None) -> dict:
    sim = cfg.simulation
    solve = _solver(cfg)
    out = []
    for st in sim.setups:
        pi_ref, rm = setup_problem(st)
        fp = solve(pi_ref, rm, st.beta, st.G, penalty=st.penalty, normalization=st.normalization, std_eps=st.std_eps)
        kw = dict(penalty=st.penalty, normalization=st.normalization, std_eps=st.std_eps)
        t = time.perf_counter()
        ex = M.simulate_grpo(pi_ref, rm, st.beta, st.G, mode="expected", steps=sim.expected_max_steps,
                             lr=sim.expected_lr, target=fp.pi, stop_tol=sim.expected_stop_tol,
                             record_every=1, **kw)
        ex_err = float(np.max(np.abs(ex.pi_final - fp.pi)))
        rec = {"name": st.name, "K": int(pi_ref.size), "G": st.G, "beta": st.beta, "normalization": st.normalization,
               "penalty": st.penalty, "std_eps": st.std_eps, "inner_steps": st.inner_steps,
               "batch_groups": st.batch_groups, "reward_type": st.reward_type,
               "fixed_point": fp.pi.tolist(), "solver": fp.summary(),
               "expected": {"steps": ex.steps, "max_abs_err": ex_err, "pi_final": ex.pi_final.tolist(),
                            "traj": ex.trajectory[:, 0].tolist()[:400], "traj_steps": ex.steps_recorded.tolist()[:400],
                            "time_s": time.perf_counter() - t},
               "sampled": []}
        if run is not None:
            run.log_metrics({"setup": st.name, "mode": "expected", "steps": ex.steps, "max_abs_err": ex_err})
        for seed in _tqdm(sim.seeds, f"MC GRPO {st.name}"):
            sm = M.simulate_grpo(pi_ref, rm, st.beta, st.G, mode="sampled", steps=sim.sampled_steps, lr=sim.sampled_lr,
                                 batch_groups=st.batch_groups, inner_steps=st.inner_steps, clip_eps=sim.clip_eps,
                                 seed=seed, average_from=sim.average_from, record_every=sim.record_every,
                                 backend=sim.backend, **kw)
            err = float(np.max(np.abs(sm.pi_avg - fp.pi)))
            rec["sampled"].append({"seed": seed, "max_abs_err": err, "pi_avg": sm.pi_avg.tolist(),
                                   "pi_final": sm.pi_final.tolist(), "traj": sm.trajectory[:, 0].tolist(),
                                   "traj_steps": sm.steps_recorded.tolist(), "time_s": sm.time_s,
                                   "zero_std_groups": sm.n_zero_std_groups, "groups": sm.n_groups})
            if run is not None:
                run.log_metrics({"setup": st.name, "mode": "sampled", "seed": seed, "max_abs_err": err,
                                 "zero_std_group_frac": sm.n_zero_std_groups / max(sm.n_groups, 1),
                                 "time_s": round(sm.time_s, 3)})
        log.info("simulate %s: fixed point %s, expected err %.2e after %d steps, MC errs %s", st.name,
                 np.round(fp.pi, 5).tolist(), ex_err, ex.steps, [f"{s['max_abs_err']:.1e}" for s in rec["sampled"]])
        out.append(rec)
    return {"setups": out,
            "expected_max_abs_err": max(r["expected"]["max_abs_err"] for r in out),
            "sampled_max_abs_err": max(s["max_abs_err"] for r in out for s in r["sampled"]),
            "seeds": list(sim.seeds)}


# ---------------------------------------------------------------------------------------------------------------
# stage 6: curves for the figures (Figs. 1-3 of the paper and the extra figures 4a-4d of the digest)
# ---------------------------------------------------------------------------------------------------------------


def stage_curves(cfg: Config) -> dict:
    f = cfg.figures
    solve = _solver(cfg)
    x = np.linspace(0, 1, f.n_points + 1)[1:]  # (0, 1]; p_ref = 0 drawn separately (value 0, discontinuity)
    xs = x.tolist()
    fig1 = {str(b): M.binary_g2(x, b).tolist() for b in f.curve_params}
    fig2 = {str(b): M.binary_ginf(x, b).tolist() for b in f.curve_params}
    fig3 = {str(b): M.binary_direct_g2(x, b).tolist() for b in f.curve_params}
    b = f.overlay_beta
    overlay = {"grpo_g2": M.binary_g2(x, b).tolist(), "grpo_ginf": M.binary_ginf(x, b).tolist(),
               "direct_g2": M.binary_direct_g2(x, b).tolist(),
               "rlhf": (x * np.exp(1 / b) / (x * np.exp(1 / b) + (1 - x))).tolist()}
    finite = {}
    for p in f.finite_g_p_refs:
        pi_ref, rd = binary_problem(p)
        finite[str(p)] = {"G": list(f.finite_g),
                          "p_G": [float(solve(pi_ref, rd, f.finite_g_beta, G).pi[0]) for G in f.finite_g],
                          "p_inf": float(M.binary_ginf(p, f.finite_g_beta)),
                          "p_2": float(M.binary_g2(p, f.finite_g_beta))}
    # finite-G full curves over p_ref at the overlay beta (coarser grid: one solve per point)
    xc = np.linspace(0, 1, min(f.n_points, 200) + 1)[1:-1]
    finite_curves = {}
    for G in (4, 16):
        finite_curves[str(G)] = [float(solve(*binary_problem(float(p)), b, G).pi[0]) for p in xc]
    hx = np.linspace(1e-3, 1 - 1e-4, f.n_points)
    p_h = cfg.nonunique.example_p_ref
    hcurves = {str(bb): M.direct_large_g_h(hx, p_h, bb).tolist() for bb in f.h_betas}
    return {"x": xs, "fig1": fig1, "fig2": fig2, "fig3": fig3, "overlay_beta": b, "overlay": overlay,
            "finite_g": finite, "finite_g_beta": f.finite_g_beta, "finite_curves_x": xc.tolist(),
            "finite_curves": finite_curves, "h_x": hx.tolist(), "h_p_ref": p_h, "h": hcurves,
            "h_critical_beta": M.direct_large_g_critical_beta(p_h)}


# ---------------------------------------------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------------------------------------------

ANALYTIC = ("closed_forms", "large_g", "logpool", "nonunique")
ALL_STAGES = (*ANALYTIC, "simulate", "curves")


def run_stages(cfg: Config, run, names=ALL_STAGES) -> dict[str, Any]:
    fns = {"closed_forms": stage_closed_forms, "large_g": stage_large_g, "logpool": stage_logpool,
           "nonunique": stage_nonunique, "simulate": lambda c: stage_simulate(c, run), "curves": stage_curves}
    return {n: run.stage(n, lambda _d, n=n: fns[n](cfg)) for n in names}


def dry_run(cfg: Config) -> dict:
    """Resolve the config and construct every component on tiny sizes: one solve and a few simulation steps per
    setup, a few curve points, the non-uniqueness roots."""
    out = {"dry_run": True, "setups": []}
    solve = _solver(cfg)
    for st in cfg.simulation.setups:
        pi_ref, rm = setup_problem(st)
        fp = solve(pi_ref, rm, st.beta, st.G, penalty=st.penalty, normalization=st.normalization, std_eps=st.std_eps)
        kw = dict(penalty=st.penalty, normalization=st.normalization, std_eps=st.std_eps)
        M.simulate_grpo(pi_ref, rm, st.beta, st.G, mode="expected", steps=3, lr=cfg.simulation.expected_lr, **kw)
        M.simulate_grpo(pi_ref, rm, st.beta, st.G, mode="sampled", steps=3, lr=cfg.simulation.sampled_lr,
                        batch_groups=4, inner_steps=st.inner_steps, backend=cfg.simulation.backend, **kw)
        out["setups"].append({"name": st.name, "fixed_point": fp.pi.tolist(), "iterations": fp.iterations})
    out["fig1_points"] = M.binary_g2(np.array([0.1, 0.5, 0.9]), cfg.figures.curve_params[0]).tolist()
    out["critical_beta"] = M.direct_large_g_critical_beta(cfg.nonunique.example_p_ref)
    return out
