"""Results, claims and the per-cell records of a reproduction run (contract §4)."""

from __future__ import annotations

import numpy as np

from mlrepro.runs import RunDir, claim, get_logger

from .config import Config, parse_run

log = get_logger("mlrepro.pfode")

__all__ = ["write_report", "make_claims", "summarise_exact", "CELL_KEYS"]

EXACT_CLAIM_NFE = 20  # issue 4: "the PF-ODE sampler at 20 NFE reproduces the data covariance within 5%"
CELL_KEYS = ("mmd2", "mmd_pvalue", "power", "power_ci95", "mean_err", "cov_err", "spectrum_err", "max_abs",
             "frac_up", "n_nonfinite", "clamped", "nfe", "sample_cpu_s", "sample_wall_s")


def _pick(c: dict) -> dict:
    return {k: c[k] for k in CELL_KEYS if k in c}


def summarise_exact(exact: dict | None) -> dict | None:
    """``{sde: {method_grid_nfe{n}: cov_rel_err}}`` plus the sweep time (flat keys, no dots)."""
    if not exact:
        return None
    out: dict = {"time_s": exact.get("time_s")}
    for sde_name, rows in exact.items():
        if not isinstance(rows, list):
            continue
        out[sde_name] = {f"{r['method']}_{r['grid']}_nfe{r['nfe']}_cov_rel_err": r["cov_rel_err"] for r in rows}
        out[sde_name].update({f"{r['method']}_{r['grid']}_nfe{r['nfe']}_mean_err": r["mean_err"] for r in rows})
    return out


def _task_metrics(cfg: Config, task_cfg, t: dict) -> dict:
    e = cfg.eval
    n0 = task_cfg.n_points
    table: dict = {}
    resolution: dict = {}
    grids: dict = {}
    for c in t["cells"]:
        s, n, grid, res = c["sampler"], c["nfe"], c["grid"], c["n_points"]
        if grid == e.time_grid and res == n0 and s in e.samplers:
            table.setdefault(s, {})[str(n)] = _pick(c)
        if c["kind"] == "resolution":
            resolution.setdefault(f"{s}:{n}", {})[str(res)] = _pick(c)
        if res == n0 and s in e.grid_ablation_samplers and n in e.grid_ablation_nfe:
            grids.setdefault(grid, {}).setdefault(s, {})[str(n)] = _pick(c)
    cost = {}
    for s, row in table.items():
        per = [v["sample_cpu_s"] / max(v["nfe"], 1) for v in row.values() if v.get("sample_cpu_s")]
        if per:
            cost[s] = 1000.0 * float(np.median(per))
    floor_by_res = t["data"]["floor"]
    floor = floor_by_res[str(n0)]
    return {"family": t["data"]["family"], "n_points": n0, "floor": floor,
            "floor_by_res": floor_by_res, "train": {k: v for k, v in t["train"].items() if k != "losses"},
            "table": table, "nfe_to_match_baseline": _nfe_to_match(cfg, table, floor), "resolution": resolution,
            "grid_ablation": grids, "cpu_ms_per_nfe": cost}


def _nfe_to_match(cfg: Config, table: dict, floor: dict) -> dict:
    """Smallest NFE at which each sampler is within the floor tolerances of the baseline (or beats it)."""
    base_s, base_n = parse_run(cfg.eval.claim_baseline)
    base = table.get(base_s, {}).get(str(base_n))
    if not base or not _ok(base.get("mmd2")):
        return {}
    tol_m, tol_c = _tol(floor, "mmd2"), _tol(floor, "cov_err")
    out = {}
    for s, row in table.items():
        ok = [int(n) for n, v in row.items() if _ok(v.get("mmd2")) and _ok(v.get("cov_err"))
              and v["mmd2"] <= base["mmd2"] + tol_m and v["cov_err"] <= base["cov_err"] + tol_c]
        out[s] = min(ok) if ok else None
    return out


def _tol(floor: dict, key: str) -> float:
    f = floor.get(key)
    return 2.0 * f["sd"] if f else 0.0


def _ok(v) -> bool:
    return v is not None and np.isfinite(v)


def make_claims(cfg: Config, metrics: dict) -> list:
    e = cfg.eval
    K = e.claim_max_nfe
    base_s, base_n = parse_run(e.claim_baseline)
    claims = []
    ex = metrics.get("exact_score")
    if ex and "vp_linear" in ex:
        lin = ex["vp_linear"]
        g = e.time_grid
        K = EXACT_CLAIM_NFE
        at = {m: lin.get(f"{m}_{g}_nfe{K}_cov_rel_err") for m in ("ode_euler", "ode_heun")}
        hi = max(e.exact_nfe)
        lo = min(e.exact_nfe)
        at_hi = {m: lin.get(f"{m}_{g}_nfe{hi}_cov_rel_err") for m in ("ode_euler", "ode_heun")}
        at_lo = {m: lin.get(f"{m}_{g}_nfe{lo}_cov_rel_err") for m in ("ode_euler", "ode_heun")}
        ok = all(_ok(v) for v in [*at.values(), *at_hi.values(), *at_lo.values()])
        holds = ok and all(at[m] <= 0.05 and at_hi[m] < at[m] < at_lo[m] for m in at)
        claims.append(claim(
            "pfode_marginals_exact_gaussian",
            f"With the exact score, the PF-ODE (Euler and Heun, {g} grid) at {K} NFE reproduces the data covariance "
            f"within 5% relative error and the error falls as NFE grows ({lo} -> {K} -> {hi}): the ODE has the "
            "forward SDE's marginals (the paper's theorem).",
            None, {f"cov_rel_err_at_{K}": at, f"cov_rel_err_at_{hi}": at_hi, f"cov_rel_err_at_{lo}": at_lo},
            holds, "paper states the theorem, no numbers; analytic Gaussian data, no training"))
    K = e.claim_max_nfe
    for name, t in metrics["tasks"].items():
        table, floor = t["table"], t["floor"]
        tol_m, tol_c = _tol(floor, "mmd2"), _tol(floor, "cov_err")
        base = table.get(base_s, {}).get(str(base_n))
        odes = [(s, int(n), v) for s, row in table.items() if s.startswith("ode") for n, v in row.items()
                if int(n) <= K and _ok(v.get("mmd2"))]
        if base and _ok(base.get("mmd2")) and odes:
            s, n, best = min(odes, key=lambda x: x[2]["mmd2"])
            holds = best["mmd2"] <= base["mmd2"] + tol_m and best["cov_err"] <= base["cov_err"] + tol_c
            claims.append(claim(
                f"{name}_pfode_le{K}nfe_matches_sde_{base_n}nfe",
                f"{name}: the PF-ODE at <= {K} NFE matches or beats the reverse SDE ({base_s}) at {base_n} NFE "
                f"(MMD^2 and covariance error within 2 sd of the data-vs-data floor, or lower).",
                None,
                {"pfode": f"{s}@{n}", "pfode_mmd2": best["mmd2"], "pfode_cov_err": best["cov_err"],
                 "sde_mmd2": base["mmd2"], "sde_cov_err": base["cov_err"], "tol_mmd2": tol_m, "tol_cov_err": tol_c,
                 "nfe_ratio": base_n / n},
                holds, "paper: 'comparable or superior sample quality at lower NFEs' (summary; no numbers)"))
        sde_low = table.get("sde_em", {}).get(str(K))
        ode_low = [(s, row[str(K)]) for s, row in table.items() if s.startswith("ode") and str(K) in row
                   and _ok(row[str(K)].get("mmd2"))]
        if sde_low and _ok(sde_low.get("mmd2")) and ode_low:
            s, best = min(ode_low, key=lambda x: x[1]["mmd2"])
            claims.append(claim(
                f"{name}_sde_worse_than_pfode_at_{K}nfe",
                f"{name}: at the same budget of {K} NFE the reverse SDE (Euler-Maruyama) is measurably worse than "
                f"the PF-ODE (MMD^2 higher by more than 2 sd of the floor).",
                None, {"sde_em_mmd2": sde_low["mmd2"], "pfode": s, "pfode_mmd2": best["mmd2"], "tol_mmd2": tol_m},
                sde_low["mmd2"] > best["mmd2"] + tol_m,
                "paper: PF-ODE needs 'significantly fewer function evaluations' (summary; no numbers)"))
        for spec, by_res in t["resolution"].items():
            if not spec.startswith("ode"):
                continue
            base_q = by_res.get(str(t["n_points"]))
            for res, q in by_res.items():
                if res == str(t["n_points"]) or not base_q:
                    continue
                fl = t["floor_by_res"].get(res, {})
                tol_hi = _tol(fl, "mmd2")
                ok = _ok(q.get("mmd2")) and _ok(base_q.get("mmd2"))
                claims.append(claim(
                    f"{name}_resolution_invariance_{spec.replace(':', '_')}_n{res}",
                    f"{name}: trained at {t['n_points']} points, the model sampled zero-shot at {res} points "
                    f"({spec}) is as close to the {res}-point data as it is at the training grid "
                    f"(MMD^2 within the floor tolerances).",
                    None, {f"mmd2_n{t['n_points']}": base_q.get("mmd2"), f"mmd2_n{res}": q.get("mmd2"),
                           f"cov_err_n{t['n_points']}": base_q.get("cov_err"), f"cov_err_n{res}": q.get("cov_err"),
                           "tol_mmd2": tol_m + tol_hi},
                    ok and q["mmd2"] <= max(base_q["mmd2"], 0.0) + tol_m + tol_hi,
                    "paper: function-space models are discretisation-invariant (introduction; no numbers)"))
            break  # one ODE resolution claim per task
    return claims


def write_report(cfg: Config, run: RunDir, exact: dict | None, tasks: dict, wall_time_s: float,
                 cpu_time_s: float | None = None, this_process_wall_s: float | None = None) -> dict:
    metrics: dict = {"exact_score": summarise_exact(exact), "tasks": {}}
    records = []
    for tc in cfg.tasks:
        t = tasks[tc.name]
        metrics["tasks"][tc.name] = _task_metrics(cfg, tc, t)
        records += [{"task": tc.name, **c} for c in t["cells"]]
    claims = make_claims(cfg, metrics)
    run.write_samples(records)
    res = run.write_results(metrics, claims=claims, expected=cfg.expected, seeds=[cfg.seed], wall_time_s=wall_time_s,
                            cpu_time_s=None if cpu_time_s is None else round(cpu_time_s, 1),
                            this_process_wall_s=None if this_process_wall_s is None else round(this_process_wall_s, 1),
                            config_summary={"sde": f"{cfg.sde.kind}/{cfg.sde.schedule}", "time_grid": cfg.eval.time_grid,
                                            "n_samples": cfg.eval.n_samples, "train_steps": cfg.train.steps,
                                            "model": f"FNO w{cfg.model.width} m{cfg.model.n_modes} l{cfg.model.n_layers}",
                                            "num_threads": cfg.num_threads})
    try:
        from .plots import make_plots

        make_plots(run.path)
    except Exception as e:  # a broken figure must not lose the results
        log.warning("plotting failed: %s: %s", type(e).__name__, e)
    return res
