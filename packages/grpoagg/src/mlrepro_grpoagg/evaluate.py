"""Metrics and claims (contract §4) from the stage outputs. Every ``holds`` is a computed comparison."""

from __future__ import annotations

from typing import Any

from mlrepro.runs import claim

from .config import Config


def _r(x: float, n: int = 6) -> float:
    return float(f"{x:.{n}g}")


def metrics_from_stages(cfg: Config, st: dict[str, Any]) -> dict:
    m: dict[str, Any] = {}
    if "closed_forms" in st:
        cf = st["closed_forms"]
        m["closed_forms"] = {"n_cases": cf["n_cases"], "max_abs_err": cf["max_abs_err"],
                             "all_converged": cf["all_converged"],
                             "by_case": {k: v["max_abs_err"] for k, v in cf["by_case"].items()},
                             "max_solver_iterations": max(v["max_iterations"] for v in cf["by_case"].values()),
                             "expected_preference_max_abs": cf["expected_preference_max_abs"],
                             "sqrt_point_p_ref_0_25": cf["sqrt_point_p_ref_0_25"]}
    if "large_g" in st:
        h = st["large_g"]["headline"]
        m["large_g"] = {"p_ref": h["p_ref"], "beta": h["beta"], "p_inf": h["p_inf"],
                        "table": {str(G): _r(v) for G, v in zip(h["G"], h["p_G"])},
                        "abs_err": {str(G): _r(e, 3) for G, e in zip(h["G"], h["abs_err"])},
                        "loglog_slope_last3": _r(h["loglog_slope_last3"], 3),
                        "all_monotone": st["large_g"]["all_monotone"],
                        "max_final_err": st["large_g"]["max_final_err"]}
    if "logpool" in st:
        lp = st["logpool"]
        m["logpool"] = {"discontinuity": lp["discontinuity"], "direct_g2_vs_rlhf_gap1": lp["direct_g2_vs_rlhf_gap1"],
                        "example_grpo": lp["example"]["policies"]["grpo_reverse"],
                        "example_rlhf": lp["example"]["policies"]["rlhf_log_pool"],
                        "example_grpo_vs_rlhf_max_abs": lp["example"]["grpo_vs_rlhf_max_abs"],
                        "reverse_log_form_spread": lp["example"]["reverse_log_form_spread"],
                        "direct_log_form_spread": lp["example"]["direct_log_form_spread"],
                        "eq11_one_over_residual": lp["example"]["eq11_one_over_residual"],
                        "shift_only_direct_vs_rlhf_max_abs": lp["shift_only_direct_vs_rlhf_max_abs"],
                        "sample_std_vs_rescaled_beta_max_abs": lp["sample_std_vs_rescaled_beta_max_abs"],
                        "invariance_max_change": lp["invariance_max_change"],
                        "g2_order_only_max_change": lp["g2_order_only_max_change"]}
        pr = lp["practical"]
        m["floors"] = {"g2_beta_0_04": pr["floor_g2"], "ginf_beta_0_04": pr["floor_ginf"],
                       "solver_g2_tiny_p_ref": pr["solver_g2_at_tiny_p_ref"],
                       "solver_g8_tiny_p_ref": pr["solver_g8_at_tiny_p_ref"],
                       "solver_ginf_tiny_p_ref": pr["solver_ginf_at_tiny_p_ref"]}
    if "nonunique" in st:
        nu = st["nonunique"]
        m["nonunique"] = {"critical_beta": nu["critical_beta"], **{k: v for k, v in nu["example"].items()
                                                                     if not k.startswith("traj")},
                          "below": nu["below"]}
    if "simulate" in st:
        sim = st["simulate"]
        m["simulate"] = {
            "expected_max_abs_err": sim["expected_max_abs_err"],
            "sampled_max_abs_err": sim["sampled_max_abs_err"],
            "per_setup": {r["name"]: {"fixed_point": [_r(v) for v in r["fixed_point"]],
                                      "expected_err": r["expected"]["max_abs_err"],
                                      "expected_steps": r["expected"]["steps"],
                                      "sampled_err": [_r(s["max_abs_err"], 3) for s in r["sampled"]],
                                      "zero_std_group_frac": _r(sum(s["zero_std_groups"] for s in r["sampled"])
                                                                / max(sum(s["groups"] for s in r["sampled"]), 1), 3)}
                          for r in sim["setups"]},
        }
    return m


def claims_from_stages(cfg: Config, st: dict[str, Any]) -> list:
    out = []
    if "closed_forms" in st:
        cf = st["closed_forms"]
        tol = cfg.closed_forms.tol
        out.append(claim(
            "closed_forms_match_solver",
            "Every binary closed form (eq. 14 for G=2 with margin gamma, incl. sample std; eq. 15 for G->inf; "
            "direct-KL G=2 logistic and G->inf h-root; shift-only) equals the general fixed-point solver on a "
            f"grid of (beta, margin, p_ref, G), to {tol:g}",
            paper="exact (eqs. 14, 15; App. B)",
            measured={"max_abs_err": cf["max_abs_err"], "n_cases": cf["n_cases"],
                      "worst_case": cf["worst"]["case"], "all_converged": cf["all_converged"]},
            holds=cf["max_abs_err"] <= tol and cf["all_converged"]))
    if "simulate" in st:
        sim = st["simulate"]
        out.append(claim(
            "expected_grpo_converges_to_fixed_point",
            "Expected-gradient GRPO on a softmax policy converges to the solver's stationary policy (max-norm)",
            paper="stationary points of GRPO satisfy eq. 11",
            measured={"max_abs_err": sim["expected_max_abs_err"],
                      "setups": [r["name"] for r in sim["setups"]]},
            holds=sim["expected_max_abs_err"] <= cfg.simulation.expected_tol))
        out.append(claim(
            "sampled_grpo_converges_to_fixed_point",
            f"Monte Carlo GRPO (TRL loss, {len(sim['seeds'])} seeds) converges to the stationary policy within "
            f"{cfg.simulation.mc_tol:g} (policy averaged over the second half)",
            paper="stationary points of GRPO satisfy eq. 11",
            measured={"max_abs_err": sim["sampled_max_abs_err"], "seeds": sim["seeds"]},
            holds=sim["sampled_max_abs_err"] <= cfg.simulation.mc_tol))
    if "large_g" in st:
        lg = st["large_g"]
        h = lg["headline"]
        out.append(claim(
            "finite_g_approaches_large_g",
            f"Finite-G stationary pi(a) approaches eq. 15 monotonically as G grows (G={h['G']}; "
            f"|p_G - p_inf| at G={h['G'][-1]} below {cfg.large_g.final_tol:g} on every grid point)",
            paper={"p_inf_eq15": h["p_inf"], "p_2_eq14": h["p_G2_closed"]},
            measured={"p_ref": h["p_ref"], "beta": h["beta"],
                      "p_G": {str(G): _r(v) for G, v in zip(h["G"], h["p_G"])},
                      "loglog_slope": _r(h["loglog_slope_last3"], 3), "max_final_err": lg["max_final_err"]},
            holds=lg["all_monotone"] and lg["max_final_err"] < cfg.large_g.final_tol))
    if "logpool" in st:
        lp = st["logpool"]
        d = lp["discontinuity"]
        inv = lp["invariance_max_change"]
        out.append(claim(
            "grpo_differs_from_log_pooling",
            "GRPO's aggregate is not log pooling: near p_ref=0 GRPO keeps pi(a) >= 1-beta/gamma (G=2) and "
            ">= 1/(1+beta^2) (G->inf) while RLHF/log pooling goes to 0; GRPO depends on rewards only through their "
            "order (invariant to r -> c r + d) while log pooling changes",
            paper={"floor_g2": lp["table"]["floor_g2"], "floor_ginf": lp["table"]["floor_ginf"],
                   "log_pool_at_0": 0.0},
            measured={"p_ref": d["p_ref"], "grpo_g2": _r(d["grpo_g2"]), "grpo_ginf": _r(d["grpo_ginf"]),
                      "rlhf": _r(d["rlhf"]), "grpo_invariance": inv["grpo_pop"], "rlhf_change": _r(inv["rlhf"], 4),
                      "k4_grpo_vs_rlhf_max_abs": _r(lp["example"]["grpo_vs_rlhf_max_abs"], 4)},
            holds=(d["grpo_g2"] >= lp["table"]["floor_g2"] - 1e-12 and d["grpo_ginf"] >= lp["table"]["floor_ginf"] - 1e-12
                   and d["rlhf"] < 0.01 and inv["grpo_pop"] < 1e-9 and inv["grpo_pop_ginf"] < 1e-9
                   and inv["rlhf"] > 0.05)))
        out.append(claim(
            "direct_kl_and_shift_only_recover_log_pooling",
            "With the direct KL penalty the stationary policy is log pooling with the GRPO preference "
            "(log(pi/pi_ref) - P_G/beta constant; G=2 binary = RLHF with gap 1); with shift-only normalisation too it "
            "is exactly RLHF with beta G/(G-1); GRPO's own (reverse) aggregate is not of that form",
            paper="§3 (direct KL, shift-only)",
            measured={"direct_log_form_spread": lp["example"]["direct_log_form_spread"],
                      "reverse_log_form_spread": _r(lp["example"]["reverse_log_form_spread"], 4),
                      "direct_g2_vs_rlhf": lp["direct_g2_vs_rlhf_gap1"],
                      "shift_only_direct_vs_rlhf": lp["shift_only_direct_vs_rlhf_max_abs"]},
            holds=(lp["example"]["direct_log_form_spread"] < 1e-9 and lp["direct_g2_vs_rlhf_gap1"] < 1e-12
                   and lp["shift_only_direct_vs_rlhf_max_abs"] < 1e-10
                   and lp["example"]["reverse_log_form_spread"] > 1e-2)))
        out.append(claim(
            "sample_std_equals_rescaled_beta",
            "Sample-std advantages (TRL) give the population-std stationary policy with beta*sqrt(G/(G-1))",
            paper=None,
            measured={"max_abs_diff": lp["sample_std_vs_rescaled_beta_max_abs"]},
            holds=lp["sample_std_vs_rescaled_beta_max_abs"] < 1e-10))
        pr = lp["practical"]
        out.append(claim(
            "trl_default_beta_floors",
            "With beta=0.04 the stationary pi(a) is at least 0.96 (G=2) and 0.9984 (G->inf) whatever p_ref>0",
            paper={"g2": 0.96, "ginf": 0.9984},
            measured={"floor_g2": pr["floor_g2"], "floor_ginf": _r(pr["floor_ginf"]),
                      "solver_g2_p_ref_1e-6": _r(pr["solver_g2_at_tiny_p_ref"]),
                      "solver_g8_p_ref_1e-6": _r(pr["solver_g8_at_tiny_p_ref"]),
                      "solver_ginf_p_ref_1e-6": _r(pr["solver_ginf_at_tiny_p_ref"])},
            holds=(abs(pr["floor_g2"] - 0.96) < 1e-12 and abs(pr["floor_ginf"] - 0.9984) < 5e-5
                   and pr["solver_g2_at_tiny_p_ref"] >= pr["floor_g2"]
                   and pr["solver_ginf_at_tiny_p_ref"] >= pr["floor_ginf"]
                   and pr["floor_g2"] <= pr["solver_g8_at_tiny_p_ref"] <= pr["solver_ginf_at_tiny_p_ref"])))
    if "nonunique" in st:
        nu = st["nonunique"]
        ex = nu["example"]
        ok = ex["roots"] is not None
        if ok:
            x1, x2 = ex["roots"]
            ok = (abs(ex["solver_from_ref"] - x1) < 1e-8 and abs(ex["solver_from_high"] - x2) < 1e-8
                  and abs(ex["dynamics_from_ref"] - x1) < 1e-6 and ex["dynamics_from_high"] > x2
                  and nu["below"]["roots"] is None and nu["below"]["dynamics"] > 0.99)
        out.append(claim(
            "direct_kl_large_g_not_unique",
            f"Direct-KL GRPO as G->inf: for beta={ex['beta']} above the critical beta, h has two roots (stable x1, "
            "unstable x2) and dynamics started above x2 go to p=1 while those from pi_ref go to x1; below the "
            "critical beta only p=1 remains",
            paper="non-unique for large enough beta (App. B.2)",
            measured={"critical_beta": {k: _r(v) for k, v in nu["critical_beta"].items()},
                      "roots": [_r(v) for v in ex["roots"]] if ex["roots"] else None,
                      "dyn_from_ref": _r(ex["dynamics_from_ref"]), "dyn_from_high": _r(ex["dynamics_from_high"]),
                      "below_beta_dynamics": _r(nu["below"]["dynamics"])},
            holds=ok))
    return out
