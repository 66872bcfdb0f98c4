"""Stage orchestration: exact-score check -> per task: data -> train -> sample x NFE -> report.

Every expensive step is a :meth:`RunDir.stage`, so ``--resume`` skips finished work; each (task, sampler, NFE,
grid, resolution) cell is its own stage, and training resumes from its last checkpoint.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np

from mlrepro.runs import RunDir, get_logger

from .config import Config, TaskConfig, parse_run

log = get_logger("mlrepro.pfode")

__all__ = ["reproduce", "train_only", "eval_only", "build_sde", "build_noise", "build_model", "cell_name"]


# ---- builders -----------------------------------------------------------------------------------------------
def build_sde(cfg: Config):
    from .method.sde import make_sde

    s = cfg.sde
    return make_sde(s.kind, T=s.T, eps=s.eps, schedule=s.schedule, beta_min=s.beta_min, beta_max=s.beta_max,
                    cosine_s=s.cosine_s, sigma_min=s.sigma_min, sigma_max=s.sigma_max)


def build_family(task: TaskConfig):
    from .data import make_family

    return make_family(task.family, task.params)


def build_noise(task: TaskConfig, domain):
    from .method.noise import TraceClassNoise

    n = task.noise
    return TraceClassNoise(n.kind, n.length, n.smoothness, n.gain, tuple(domain))


def build_model(cfg: Config):
    from .model import ScoreFNO

    m = cfg.model
    return ScoreFNO(m.n_modes, m.width, m.n_layers, m.time_dim, m.domain_padding, m.channel_mlp_expansion)


def _seed(*parts) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def cell_name(task: str, sampler: str, nfe: int, grid: str, res: int) -> str:
    return f"sample_{task}_{sampler}_{grid}_nfe{nfe}_n{res}"


def _stage(run: RunDir, name: str, fn, ledger: dict):
    """``run.stage`` that records the stage's wall and CPU seconds in its output (kept across resumes)."""

    def timed(d):
        t0, c0 = time.time(), time.process_time()
        out = fn(d)
        if isinstance(out, dict):
            out = {**out, "stage_wall_s": round(time.time() - t0, 3), "stage_cpu_s": round(time.process_time() - c0, 3)}
        return out

    out = run.stage(name, timed)
    if isinstance(out, dict):
        ledger[name] = (out.get("stage_wall_s", 0.0), out.get("stage_cpu_s", 0.0))
    return out


def _set_threads(cfg: Config) -> None:
    import torch

    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)


# ---- stages -------------------------------------------------------------------------------------------------
def stage_exact(cfg: Config, d: Path) -> dict:
    """Analytic Gaussian sweep (no training): PF-ODE covariance error vs NFE and time grid."""
    from .method.exact import exact_sweep
    from .method.sde import make_sde

    t0 = time.time()
    methods = ["ode_euler", "ode_heun", "ode_ddim"]
    grids = ["uniform", "power", "logsnr"]
    linear = make_sde("vp", schedule="linear", T=1.0, eps=1e-3)
    out = {"vp_linear": exact_sweep(linear, methods, cfg.eval.exact_nfe, grids)}
    if not (cfg.sde.kind == "vp" and cfg.sde.schedule == "linear"):
        out[f"{cfg.sde.kind}_{cfg.sde.schedule}"] = exact_sweep(build_sde(cfg), methods, cfg.eval.exact_nfe, grids)
    out["time_s"] = round(time.time() - t0, 2)
    return out


def stage_data(cfg: Config, ti: int, task: TaskConfig, d: Path) -> dict:
    from .data import Normalizer
    from .evaluate import median_bandwidth

    t0 = time.time()
    fam = build_family(task)
    rng = np.random.default_rng(_seed(cfg.seed, ti, "data"))
    train_raw = fam.sample(task.n_train, task.n_points, rng)
    norm = Normalizer.fit(task.normalize, train_raw, task.scale)
    np.save(d / "train.npy", norm(train_raw).astype(np.float32))
    out = {"family": {k: (list(v) if isinstance(v, tuple) else v) for k, v in fam.describe().items()},
           "normalizer": {"shift": norm.shift, "scale": norm.scale}, "bandwidth": {}, "floor": {}}
    erng = np.random.default_rng(_seed(cfg.seed, ti, "floor-eval"))
    for res in sorted({task.n_points, *cfg.eval.resolutions}):
        ref = norm(fam.sample(task.n_test, res, rng))
        np.save(d / f"ref_n{res}.npy", ref.astype(np.float32))
        h = median_bandwidth(ref[: min(len(ref), 500)])
        out["bandwidth"][str(res)] = h
        floors = []
        for r in range(cfg.eval.floor_repeats):
            other = norm(fam.sample(cfg.eval.n_samples, res, rng))
            if r == 0:
                np.save(d / f"data_n{res}.npy", other.astype(np.float32))
            floors.append(_eval(cfg, other, ref, h, erng, task.family))
        out["floor"][str(res)] = _summarise_floor(floors)
    out["time_s"] = round(time.time() - t0, 2)
    return out


def _eval(cfg: Config, gen, ref, h, rng, family):
    from .evaluate import evaluate_samples

    e = cfg.eval
    return evaluate_samples(np.asarray(gen, dtype=np.float64), np.asarray(ref, dtype=np.float64), h, rng,
                            spectrum_modes=e.spectrum_modes, power_group=e.power_group, n_perm=e.n_perm,
                            power_repeats=e.power_repeats, family=family)


def _summarise_floor(rows: list[dict]) -> dict:
    out = {}
    for k in ("mmd2", "power", "mean_err", "cov_err", "spectrum_err", "frac_up"):
        vals = [r[k] for r in rows if r.get(k) is not None]
        if vals:
            a = np.asarray(vals, dtype=np.float64)
            out[k] = {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                      "max": float(a.max()), "values": a.tolist()}
    return out


def stage_train(cfg: Config, run: RunDir, ti: int, task: TaskConfig, data_dir: Path, d: Path) -> dict:
    import torch

    from .trainer import train

    t0, c0 = time.time(), time.process_time()
    fam = build_family(task)
    noise = build_noise(task, fam.domain)
    sde = build_sde(cfg)
    data = torch.from_numpy(np.load(data_dir / "train.npy"))
    torch.manual_seed(_seed(cfg.seed, ti, "init"))
    model = build_model(cfg)
    tc = cfg.train

    def log_fn(rec):
        run.log_metrics({f"train/{task.name}/loss": rec["loss"], f"train/{task.name}/lr": rec["lr"]}, step=rec["step"])

    out = train(model, sde, noise.sampler(task.n_points), data, steps=tc.steps, batch_size=tc.batch_size, lr=tc.lr,
                weight_decay=tc.weight_decay, warmup=tc.warmup, grad_clip=tc.grad_clip, ema_decay=tc.ema_decay,
                ckpt_every=tc.ckpt_every, ckpt_dir=d, seed=_seed(cfg.seed, ti, "train"), log_every=tc.log_every,
                log_fn=log_fn)
    if not out["finished"]:
        raise KeyboardInterrupt(f"training of {task.name} stopped at step {out['steps']} (resume to continue)")
    torch.save(out["weights"], d / "weights.pt")
    return {"steps": out["steps"], "final_loss": out["final_loss"], "losses": out["losses"],
            "n_params": sum(p.numel() for p in model.parameters()), "wall_s": round(time.time() - t0, 2),
            "cpu_s": round(time.process_time() - c0, 2)}


class _ModelCache:
    def __init__(self):
        self.key, self.model = None, None

    def get(self, cfg: Config, weights: Path):
        import torch

        if self.key != str(weights):
            model = build_model(cfg)
            model.load_state_dict(torch.load(weights, weights_only=True))
            self.model, self.key = model.eval(), str(weights)
        return self.model


_MODELS = _ModelCache()


def stage_sample(cfg: Config, ti: int, task: TaskConfig, data_dir: Path, weights: Path, sampler: str, nfe: int,
                 grid: str, res: int, floor_h: float, d: Path) -> dict:
    import torch

    from .method.samplers import sample
    from .method.score import score_from_noise_model

    fam = build_family(task)
    noise = build_noise(task, fam.domain)
    sde = build_sde(cfg)
    model = _MODELS.get(cfg, weights)
    score = score_from_noise_model(model, sde)
    g_prior = torch.Generator().manual_seed(_seed(cfg.seed, ti, res, "prior"))  # shared by all samplers
    x_T = noise.sample(cfg.eval.n_samples, res, g_prior) * sde.prior_std()
    g_sde = torch.Generator().manual_seed(_seed(cfg.seed, ti, res, sampler, nfe, grid, "sde"))
    t0, c0 = time.time(), time.process_time()
    x, info = sample(sampler, sde, score, x_T, nfe, grid=grid, grid_rho=cfg.eval.grid_rho,
                     noise=noise.sampler(res), generator=g_sde, snr=cfg.eval.snr, clamp_norm=cfg.eval.clamp_norm)
    wall, cpu = time.time() - t0, time.process_time() - c0
    x = x.detach().numpy().astype(np.float64)
    np.save(d / "samples.npy", x.astype(np.float32))
    ref = np.load(data_dir / f"ref_n{res}.npy").astype(np.float64)
    erng = np.random.default_rng(_seed(cfg.seed, ti, res, sampler, nfe, grid, "eval"))
    m = _eval(cfg, x, ref, floor_h, erng, task.family)
    m.update(sampler=sampler, nfe=int(info["nfe"]), steps=int(info["steps"]), grid=grid, n_points=res,
             clamped=int(info.get("clamped", 0)), sample_wall_s=round(wall, 3), sample_cpu_s=round(cpu, 3))
    return m


# ---- orchestration ------------------------------------------------------------------------------------------
def _task_cells(cfg: Config, task: TaskConfig) -> list[tuple[str, str, int, str, int]]:
    """(kind, sampler, nfe, grid, res) for every sampling cell of a task."""
    e = cfg.eval
    cells = [("table", s, n, e.time_grid, task.n_points) for s in e.samplers for n in e.nfe]
    for spec in e.resolution_runs:
        s, n = parse_run(spec)
        for res in sorted({task.n_points, *e.resolutions}):
            cells.append(("resolution", s, n, e.time_grid, res))
    for grid in dict.fromkeys([e.time_grid, *e.grid_ablation]):
        for s in e.grid_ablation_samplers:
            for n in e.grid_ablation_nfe:
                cells.append(("grid", s, n, grid, task.n_points))
    base_s, base_n = parse_run(e.claim_baseline)
    cells.append(("baseline", base_s, base_n, e.time_grid, task.n_points))
    return cells


def _run_task(cfg: Config, run: RunDir, ti: int, task: TaskConfig, ledger: dict, train_only: bool = False) -> dict:
    data = _stage(run, f"data_{task.name}", lambda d: stage_data(cfg, ti, task, d), ledger)
    data_dir = run.stage_dir(f"data_{task.name}")
    tr = _stage(run, f"train_{task.name}", lambda d: stage_train(cfg, run, ti, task, data_dir, d), ledger)
    out = {"data": data, "train": tr, "cells": []}
    if train_only:
        return out
    weights = run.stage_dir(f"train_{task.name}") / "weights.pt"
    cells = _task_cells(cfg, task)
    try:
        from tqdm.auto import tqdm

        it = tqdm(cells, desc=f"sample {task.name}", leave=False, mininterval=2.0)
    except ImportError:  # pragma: no cover
        it = cells
    for kind, s, n, grid, res in it:
        name = cell_name(task.name, s, n, grid, res)
        h = data["bandwidth"][str(res)]
        m = _stage(run, name, lambda d, s=s, n=n, grid=grid, res=res, h=h: stage_sample(
            cfg, ti, task, data_dir, weights, s, n, grid, res, h, d), ledger)
        out["cells"].append({"kind": kind, "stage": name, **m})
    return out


def reproduce(cfg: Config, run: RunDir, args) -> dict | None:
    if getattr(args, "dry_run", False):
        from .dryrun import dry_run

        return dry_run(cfg, run)
    _set_threads(cfg)
    t0, c0 = time.time(), time.process_time()
    ledger: dict = {}
    exact = _stage(run, "exact_score", lambda d: stage_exact(cfg, d), ledger) if cfg.eval.exact_score else None
    tasks = {t.name: _run_task(cfg, run, i, t, ledger) for i, t in enumerate(cfg.tasks)}
    from .report import write_report

    # totals over every stage, including stages finished by earlier (killed) attempts of a resumed run
    stage_wall = sum(w for w, _ in ledger.values())
    stage_cpu = sum(c for _, c in ledger.values())
    this_wall, this_cpu = time.time() - t0, time.process_time() - c0
    return write_report(cfg, run, exact, tasks, wall_time_s=max(this_wall, stage_wall),
                        cpu_time_s=max(this_cpu, stage_cpu), this_process_wall_s=this_wall)


def train_only(cfg: Config, run: RunDir, args) -> None:
    if getattr(args, "dry_run", False):
        from .dryrun import dry_run

        return dry_run(cfg, run)
    _set_threads(cfg)
    for i, t in enumerate(cfg.tasks):
        _run_task(cfg, run, i, t, {}, train_only=True)
    log.info("training finished; continue with: mlrepro-pfode eval --resume %s", run.path)
    return None


def eval_only(cfg: Config, run: RunDir, args) -> dict | None:
    if not getattr(args, "dry_run", False):
        missing = [t.name for t in cfg.tasks if not run.stage_done(f"train_{t.name}")]
        if missing:
            raise SystemExit(f"error: no trained model for {missing} in {run.path}; run `train` first and pass "
                             f"`eval --resume <run dir>`")
    return reproduce(cfg, run, args)
