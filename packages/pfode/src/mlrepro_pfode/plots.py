"""Figures made from a run directory's files only (results.json and the saved sample arrays).

``make_plots(run_dir)`` writes into ``run_dir/plots``:

* ``samples_<task>.png``: data next to generated functions (SDE at the baseline NFE and at low NFE, PF-ODE at
  the claim budget);
* ``quality_vs_nfe.png``: MMD^2 and covariance error against NFE per sampler, with the data-vs-data floor;
* ``resolution_<task>.png``: zero-shot samples at the finer grid next to data on that grid;
* ``grid_ablation.png``: PF-ODE quality against NFE for each time grid;
* ``exact_score.png``: covariance error of the PF-ODE with the exact score against NFE.

``markdown_table(results)`` renders the NFE x sampler table for the README.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlrepro.runs import read_json

__all__ = ["make_plots", "markdown_table"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)


def _load_cell(run: Path, task: str, sampler: str, nfe: int, grid: str, res: int):
    p = run / "stages" / f"sample_{task}_{sampler}_{grid}_nfe{nfe}_n{res}" / "samples.npy"
    return np.load(p) if p.exists() else None


def _x(n_points: int) -> np.ndarray:
    return (np.arange(n_points) + 0.5) / n_points


def make_plots(run_dir: str | Path) -> list[Path]:
    run = Path(run_dir)
    res = read_json(run / "results.json")
    cfg = _read_cfg(run)
    plt = _plt()
    out = []
    grid = cfg["eval"]["time_grid"]
    K = cfg["eval"]["claim_max_nfe"]
    base_s, base_n = cfg["eval"]["claim_baseline"].split(":")
    n_show = cfg["eval"].get("plot_functions", 12)
    tasks = res["metrics"]["tasks"]
    # samples next to data
    for name, t in tasks.items():
        n0 = t["n_points"]
        panels = [("data", np.load(run / "stages" / f"data_{name}" / f"data_n{n0}.npy"))]
        for s, n in [(base_s, int(base_n)), ("sde_em", K), ("ode_euler", K), ("ode_heun", K)]:
            arr = _load_cell(run, name, s, n, grid, n0)
            if arr is not None and not any(p[0] == f"{s} @ {n} NFE" for p in panels):
                panels.append((f"{s} @ {n} NFE", arr))
        fig, axs = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), sharey=True)
        for ax, (title, arr) in zip(np.atleast_1d(axs), panels):
            ax.plot(_x(arr.shape[1]), arr[:n_show].T, lw=0.9)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("x (unit coordinates)")
        np.atleast_1d(axs)[0].set_ylabel(f"{name} (normalised)")
        lo, hi = np.percentile(panels[0][1], [0.5, 99.5])
        pad = 0.5 * (hi - lo)
        np.atleast_1d(axs)[0].set_ylim(lo - pad, hi + pad)
        fig.suptitle(f"{name}: data vs samples ({grid} time grid)", fontsize=10, y=1.04)
        p = run / "plots" / f"samples_{name}.png"
        _save(fig, p)
        plt.close(fig)
        out.append(p)
    # quality vs NFE
    fig, axs = plt.subplots(len(tasks), 2, figsize=(10, 3.3 * len(tasks)), squeeze=False)
    for row, (name, t) in enumerate(tasks.items()):
        for col, key in enumerate(["mmd2", "cov_err"]):
            ax = axs[row, col]
            for s, cells in t["table"].items():
                pts = sorted((int(n), v.get(key)) for n, v in cells.items() if v.get(key) is not None)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s)
            f = t["floor"].get(key)
            if f:
                ax.axhspan(f["mean"] - 2 * f["sd"], f["mean"] + 2 * f["sd"], color="0.85",
                           label="data vs data (mean ± 2 sd)")
            ax.set_xscale("log")
            if key == "mmd2":
                ax.set_yscale("symlog", linthresh=1e-3)  # unbiased MMD^2 can be negative
            else:
                ax.set_yscale("log")
            ax.set_xlabel("NFE")
            ax.set_ylabel(key)
            ax.set_title(f"{name}: {key} vs NFE", fontsize=10)
            ax.legend(fontsize=7)
    fig.tight_layout()
    p = run / "plots" / "quality_vs_nfe.png"
    _save(fig, p)
    plt.close(fig)
    out.append(p)
    # resolution
    for name, t in tasks.items():
        for spec, by_res in t["resolution"].items():
            s, n = spec.split(":")
            for r in by_res:
                if r == str(t["n_points"]):
                    continue
                data_p = run / "stages" / f"data_{name}" / f"data_n{r}.npy"
                arr = _load_cell(run, name, s, int(n), grid, int(r))
                low = _load_cell(run, name, s, int(n), grid, t["n_points"])
                if arr is None or not data_p.exists():
                    continue
                panels = [(f"data @ {r} pts", np.load(data_p))]
                if low is not None:
                    panels.append((f"{spec} @ {t['n_points']} pts (train grid)", low))
                panels.append((f"{spec} @ {r} pts (zero-shot)", arr))
                fig, axs = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.8), sharey=True)
                for ax, (title, a) in zip(np.atleast_1d(axs), panels):
                    ax.plot(_x(a.shape[1]), a[:n_show].T, lw=0.9)
                    ax.set_title(title, fontsize=9)
                p = run / "plots" / f"resolution_{name}_{s}_n{r}.png"
                _save(fig, p)
                plt.close(fig)
                out.append(p)
    # grid ablation: one panel per (task, sampler), one line per time grid
    samplers = list(dict.fromkeys(sm for t in tasks.values() for by_s in t["grid_ablation"].values() for sm in by_s))
    if samplers:
        fig, axs = plt.subplots(len(tasks), len(samplers), figsize=(3.2 * len(samplers), 2.8 * len(tasks)),
                                squeeze=False, sharex=True)
        styles = {"uniform": ("C0", ":"), "power": ("C1", "--"), "logsnr": ("C2", "-")}
        for row, (name, t) in enumerate(tasks.items()):
            for col, sm in enumerate(samplers):
                ax = axs[row, col]
                for g, by_s in t["grid_ablation"].items():
                    cells = by_s.get(sm, {})
                    pts = sorted((int(n), v.get("mmd2")) for n, v in cells.items() if v.get("mmd2") is not None)
                    if pts:
                        c, ls = styles.get(g, ("k", "-"))
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=c, ls=ls, label=g)
                ax.set_xscale("log")
                ax.set_yscale("symlog", linthresh=1e-3)
                ax.set_title(f"{name}: {sm}", fontsize=9)
                if row == len(tasks) - 1:
                    ax.set_xlabel("NFE")
                if col == 0:
                    ax.set_ylabel("MMD^2")
                ax.legend(fontsize=7)
        fig.suptitle("time grid vs sample quality at low NFE", fontsize=10)
        fig.tight_layout()
        p = run / "plots" / "grid_ablation.png"
        _save(fig, p)
        plt.close(fig)
        out.append(p)
    # exact score
    ex = res["metrics"].get("exact_score")
    if ex:
        sdes = [k for k, v in ex.items() if isinstance(v, dict)]
        fig, axs = plt.subplots(1, len(sdes), figsize=(5.5 * len(sdes), 3.5), squeeze=False)
        for col, sname in enumerate(sdes):
            ax = axs[0, col]
            series: dict = {}
            for key, v in ex[sname].items():
                if not key.endswith("_cov_rel_err"):
                    continue
                stem = key[: -len("_cov_rel_err")]
                head, nfe = stem.rsplit("_nfe", 1)
                series.setdefault(head, []).append((int(nfe), v))
            for head, pts in sorted(series.items()):
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=head,
                        ls="-" if "power" in head else (":" if "logsnr" in head else "--"))
            ax.axhline(0.05, color="k", lw=0.8, ls=":")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("NFE")
            ax.set_ylabel("relative covariance error (exact)")
            ax.set_title(f"exact Gaussian score, {sname}", fontsize=10)
            ax.legend(fontsize=6)
        p = run / "plots" / "exact_score.png"
        _save(fig, p)
        plt.close(fig)
        out.append(p)
    return out


def _read_cfg(run: Path) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(run / "config.yaml"), resolve=True)  # type: ignore[return-value]


def _fmt(v, digits=4):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"
    return str(v)


def markdown_table(results: dict, task: str, key: str = "mmd2") -> str:
    """NFE x sampler table of ``key`` for ``task`` (from a results dict), as GitHub markdown."""
    t = results["metrics"]["tasks"][task]
    nfes = sorted({int(n) for row in t["table"].values() for n in row})
    lines = ["| sampler | " + " | ".join(str(n) for n in nfes) + " |", "|---" * (len(nfes) + 1) + "|"]
    for s, row in t["table"].items():
        lines.append(f"| {s} | " + " | ".join(_fmt(row.get(str(n), {}).get(key)) for n in nfes) + " |")
    return "\n".join(lines)
