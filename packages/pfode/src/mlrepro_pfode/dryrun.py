"""``--dry-run``: resolve the config, build the data pipeline on test-made data and run every component once
with a tiny model (CPU, seconds). Writes ``dry_run.json`` in the run directory; no results.json."""

from __future__ import annotations

import time

import numpy as np

from mlrepro.runs import RunDir, atomic_write_json, get_logger

from .config import Config

log = get_logger("mlrepro.pfode")


def _fake_hub_dataset(path, n: int = 12, n_t: int = 3, n_x: int = 40):
    """A small local dataset with the PDEBench-like layout (one (n_t, n_x) array per row)."""
    import datasets

    rng = np.random.default_rng(0)
    rows = [rng.standard_normal((n_t, n_x)).astype(np.float32).tolist() for _ in range(n)]
    datasets.Dataset.from_dict({"tensor": rows}).save_to_disk(str(path))
    return str(path)


def dry_run(cfg: Config, run: RunDir) -> None:
    import torch

    from .data import Normalizer, make_family
    from .evaluate import evaluate_samples, median_bandwidth
    from .method.samplers import sample
    from .method.score import score_from_noise_model
    from .model import ScoreFNO
    from .reproduce import build_family, build_model, build_noise, build_sde
    from .trainer import train

    t0 = time.time()
    sde = build_sde(cfg)
    full = build_model(cfg)
    summary: dict = {"sde": type(sde).__name__, "model_params_full": full.n_parameters(), "tasks": {}}
    del full
    tiny_modes = 4
    for ti, task in enumerate(cfg.tasks):
        if task.family == "hub":
            params = dict(task.params, path=_fake_hub_dataset(run.path / "dry_run" / f"hub_{task.name}"))
            params.pop("subset", None)
            fam = make_family("hub", params)
        else:
            fam = build_family(task)
        rng = np.random.default_rng(ti)
        n_pts = max(task.n_points, tiny_modes)
        raw = fam.sample(10, n_pts, rng)
        norm = Normalizer.fit(task.normalize, raw, task.scale)
        data = torch.tensor(norm(raw), dtype=torch.float32)
        noise = build_noise(task, fam.domain)
        torch.manual_seed(0)
        tiny = ScoreFNO(n_modes=tiny_modes, width=8, n_layers=1, time_dim=8)
        tr = train(tiny, sde, noise.sampler(n_pts), data, steps=2, batch_size=4, lr=1e-3, warmup=1, ckpt_every=1,
                   ckpt_dir=run.path / "dry_run" / f"ckpt_{task.name}", progress=False)
        tiny.load_state_dict(tr["weights"])
        tiny.eval()
        score = score_from_noise_model(tiny, sde)
        ref = norm(fam.sample(10, n_pts, rng))
        h = median_bandwidth(ref)
        cells = {}
        for s in sorted(set(cfg.eval.samplers) | set(cfg.eval.grid_ablation_samplers)):
            x_T = noise.sample(10, n_pts, torch.Generator().manual_seed(1)) * sde.prior_std()
            x, info = sample(s, sde, score, x_T, 2, grid=cfg.eval.time_grid, noise=noise.sampler(n_pts),
                             generator=torch.Generator().manual_seed(2), snr=cfg.eval.snr)
            m = evaluate_samples(x.double().numpy(), ref, h, np.random.default_rng(0), power_group=5, n_perm=10,
                                 power_repeats=2, spectrum_modes=4, family=task.family)
            cells[s] = {"nfe": info["nfe"], "finite": bool(np.isfinite(x.numpy()).all()), "mmd2": m["mmd2"]}
        summary["tasks"][task.name] = {"family": task.family, "n_points": n_pts, "train_loss": tr["final_loss"],
                                       "samplers": cells}
    summary["time_s"] = round(time.time() - t0, 2)
    atomic_write_json(run.path / "dry_run.json", summary)
    log.info("dry run ok: %s", summary)
    return None
