"""pfode: sampling cost per NFE, reverse SDE vs PF-ODE, at two (three) grid resolutions.

The network evaluation dominates every sampler, so the cost of a sample is ~ NFE x (cost of one batched score
evaluation) / batch. We time ``sde_em``, ``sde_pc``, ``ode_euler``, ``ode_heun`` and ``ode_ddim`` with the mini
recipe's FNO (random weights: cost does not depend on training) on CPU, one torch thread, and report
milliseconds per NFE, per sample, and the time per sample of the headline comparison (PF-ODE at 20 NFE vs
SDE at 1000 NFE, from the measured per-NFE cost). ``run(quick=True)`` uses fewer repetitions and grids.
"""

from __future__ import annotations

import time


def _time_sampler(method, sde, score, noise, x_T, nfe, reps):
    import torch
    from mlrepro_pfode.method.samplers import sample

    best_wall, best_cpu = float("inf"), float("inf")
    for r in range(reps):
        g = torch.Generator().manual_seed(r)
        t0, c0 = time.perf_counter(), time.process_time()
        _, info = sample(method, sde, score, x_T, nfe, grid="logsnr", noise=noise.sampler(x_T.shape[1]), generator=g)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu, info["nfe"]


def run(quick: bool = False) -> dict:
    import torch
    from mlrepro_pfode.method.noise import TraceClassNoise
    from mlrepro_pfode.method.score import score_from_noise_model
    from mlrepro_pfode.method.sde import make_sde
    from mlrepro_pfode.model import ScoreFNO

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = ScoreFNO(n_modes=16, width=24, n_layers=3, time_dim=64, channel_mlp_expansion=0.5).eval()
        sde = make_sde("vp", schedule="cosine", T=0.9946, eps=1e-5)
        score = score_from_noise_model(model, sde)
        noise = TraceClassNoise("se", length=0.04)
        batch = 200
        grids = [64, 128] if quick else [64, 128, 256]
        nfe = 6 if quick else 20
        reps = 1 if quick else 5
        methods = ["sde_em", "sde_pc", "ode_euler", "ode_heun", "ode_ddim"]
        per: dict = {}
        best: dict = {}
        with torch.no_grad():
            x_Ts = {n: noise.sample(batch, n, torch.Generator().manual_seed(0)) for n in grids}
            for n in grids:
                _time_sampler("ode_euler", sde, score, noise, x_Ts[n], 2, 1)  # warm-up
            # repetitions interleave resolutions and samplers, so background load hits all of them alike
            for _ in range(reps):
                for n in grids:
                    for m in methods:
                        wall, cpu, used = _time_sampler(m, sde, score, noise, x_Ts[n], nfe, 1)
                        w0, c0 = best.get((n, m), (float("inf"), float("inf")))
                        best[(n, m)] = (min(w0, wall / used), min(c0, cpu / used))
        for (n, m), (w, c) in best.items():
            per.setdefault(f"n{n}", {})[m] = {"ms_per_nfe": 1000 * w, "cpu_ms_per_nfe": 1000 * c,
                                             "us_per_sample_per_nfe": 1e6 * w / batch}
        lo, hi = f"n{grids[0]}", f"n{grids[-1]}"
        scaling = {m: per[hi][m]["cpu_ms_per_nfe"] / per[lo][m]["cpu_ms_per_nfe"] for m in methods}
        headline = {}
        for n in grids:
            p = per[f"n{n}"]
            headline[f"n{n}"] = {
                "ode_heun@20_cpu_ms_per_sample": p["ode_heun"]["cpu_ms_per_nfe"] * 20 / batch,
                "ode_euler@20_cpu_ms_per_sample": p["ode_euler"]["cpu_ms_per_nfe"] * 20 / batch,
                "sde_em@1000_cpu_ms_per_sample": p["sde_em"]["cpu_ms_per_nfe"] * 1000 / batch,
                "speedup_sde1000_over_ode_heun20": (p["sde_em"]["cpu_ms_per_nfe"] * 1000)
                / (p["ode_heun"]["cpu_ms_per_nfe"] * 20),
            }
        return {"device": "cpu", "torch_threads": 1, "batch": batch, "nfe_timed": nfe, "repetitions": reps,
                "model": {"class": "ScoreFNO", "n_modes": 16, "width": 24, "n_layers": 3,
                          "params": model.n_parameters()},
                "per_nfe": per, f"cpu_cost_ratio_{hi}_over_{lo}": scaling, "time_per_sample": headline,
                "note": "wall times on a shared machine; cpu_ms_per_nfe is the process CPU time (less sensitive to "
                        "other load). Best of the repetitions."}
    finally:
        torch.set_num_threads(threads)
