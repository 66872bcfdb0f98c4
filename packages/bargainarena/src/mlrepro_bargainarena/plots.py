"""Figures made from results.json only (conventions §12: never from live objects)."""

from __future__ import annotations

from pathlib import Path

from mlrepro.runs import read_json

from .method import WEIGHTS
from .scenarios import MARKETS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    return path


def make_plots(results_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the package's figures from a results.json; returns the written paths."""
    plt = _plt()
    res = read_json(results_path)
    m = res.get("metrics", {})
    out_dir = Path(out_dir)
    paths = []

    grid = m.get("grid")
    if grid and grid.get("markets"):
        rows = grid["markets"]
        markets = sorted({r["market"] for r in rows}, key=lambda x: MARKETS.index(x) if x in MARKETS else 99)
        methods = sorted({r["method"] for r in rows})
        fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(markets)), 3.6))
        w = 0.8 / max(1, len(methods))
        for j, meth in enumerate(methods):
            ys = [next((r["score_mean"] for r in rows if r["market"] == mk and r["method"] == meth), 0.0) for mk in markets]
            es = [next((r["score_std"] for r in rows if r["market"] == mk and r["method"] == meth), 0.0) for mk in markets]
            ax.bar([i + (j - (len(methods) - 1) / 2) * w for i in range(len(markets))], ys, w, yerr=es, capsize=2, label=meth)
        ax.set_xticks(range(len(markets)), markets)
        ax.set_ylabel("buyer score (mean over products)")
        ax.set_ylim(0, 3)
        ax.set_title(f"Buyer score by market and method ({grid.get('buyer', '')} vs {grid.get('seller', '')})")
        ax.legend(fontsize=7, ncol=min(3, len(methods)))
        paths.append(_save(fig, out_dir / "grid_scores.png"))
        plt.close(fig)

    fl = m.get("feedback_loop")
    if fl:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        for arm, style in (("feedback", "o-"), ("no_feedback", "s--")):
            ys = fl[arm]["per_session"]
            ax.plot(range(1, len(ys) + 1), ys, style, label=arm.replace("_", " "))
        ax.set_xlabel("session")
        ax.set_ylabel("mean score over cells")
        ax.set_title("Across-session feedback (scripted feedback-aware buyer)")
        ax.legend()
        paths.append(_save(fig, out_dir / "feedback_loop.png"))
        plt.close(fig)

    ks = m.get("known_strategy")
    if ks and ks.get("points"):
        fig, ax = plt.subplots(figsize=(4.2, 4.0))
        xs = [p[1] / p[0] if p[1] is not None else 0.0 for p in ks["points"]]
        ys = [p[2] / p[0] if p[2] is not None else 0.0 for p in ks["points"]]
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.scatter(xs, ys, s=12)
        ax.set_xlabel("predicted deal price / budget (0 = no deal)")
        ax.set_ylabel("measured deal price / budget")
        ax.set_title(f"OG buyer vs floor seller: {ks['n_exact']}/{ks['n']} exact")
        paths.append(_save(fig, out_dir / "known_strategy.png"))
        plt.close(fig)

    pf = m.get("prefs")
    if pf and pf.get("weights"):
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        names = ["CS", "NP", "AR"]
        ax.bar([i - 0.2 for i in range(3)], WEIGHTS, 0.4, label="paper weights")
        ax.bar([i + 0.2 for i in range(3)], pf["weights"], 0.4, yerr=[2 * s for s in pf["stderr"]], capsize=3,
               label="fitted (±2 SE)")
        ax.set_xticks(range(3), names)
        ax.set_title("Preference-weight fit" + (" (synthetic pairs)" if pf.get("synthetic") else ""))
        ax.legend(fontsize=8)
        paths.append(_save(fig, out_dir / "pref_weights.png"))
        plt.close(fig)
    return paths
