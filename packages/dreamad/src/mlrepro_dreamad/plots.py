"""Figures made from ``results.json`` only (never from live objects)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mlrepro.plotting import new_figure, save_figure

__all__ = ["make_plots"]


def _heat(ax, mat: np.ndarray, rows: list[str], cols: list[str], title: str, vmax: float) -> None:
    im = ax.imshow(mat, vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for i in range(mat.shape[0]):
        for j in range(mat.shape[1]):
            v = mat[i, j]
            if not math.isnan(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if v < 0.6 * vmax else "black")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.04)


def _heatmaps(blocks: dict[str, dict[str, dict[str, dict]]], key: str, scale: float, title: str, path: Path) -> Path | None:
    blocks = {k: v for k, v in blocks.items() if v}
    if not blocks:
        return None
    fig, axes = new_figure(ncols=len(blocks), size=(5.2, 0.35 * max(len(v) for v in blocks.values()) + 2.2))
    for ax, (lab, d) in zip(axes[0], blocks.items()):
        rows = list(d)
        cols = list(next(iter(d.values())))
        mat = np.array([[d[r].get(c, {}).get(key, float("nan")) * scale for c in cols] for r in rows], dtype=float)
        _heat(ax, mat, rows, cols, f"{title}: {lab}", 100)
    return save_figure(fig, path)


def make_plots(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    m = results.get("metrics", {})
    made: list[Path | None] = []
    arena = {"scripted agents": m.get("arena_scripted", {}), **m.get("arena", {})}
    made.append(_heatmaps(arena, "win_rate_mean", 1.0, "win rate (%)", out_dir / "win_rate.png"))
    acc = {"scripted agents": {a: {g: v for g, v in d.items() if g != "pooled"}
                               for a, d in m.get("accuracy_scripted", {}).items()}, **m.get("accuracy", {})}
    made.append(_heatmaps(acc, "accuracy_mean", 100.0, "decision accuracy (%)", out_dir / "decision_accuracy.png"))

    eps = {a: d["pooled"] for a, d in m.get("accuracy_scripted", {}).items() if a.startswith("eps_optimal@")}
    if eps:
        fig, axes = new_figure()
        ax = axes[0][0]
        xs = [1 - float(a.split("@")[1]) for a in eps]
        ys = [v["accuracy"] for v in eps.values()]
        err = [[y - v["ci_low"] for y, v in zip(ys, eps.values())], [v["ci_high"] - y for y, v in zip(ys, eps.values())]]
        ax.errorbar(xs, ys, yerr=err, fmt="o", capsize=4, label="measured (95% Wilson CI)")
        lo, hi = min(xs) - 0.05, 1.0
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="1 - eps")
        ax.set_xlabel("1 - eps")
        ax.set_ylabel("decision accuracy (pooled)")
        ax.set_title("eps-noisy optimal agent", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        made.append(save_figure(fig, out_dir / "eps_accuracy.png"))

    bias = m.get("bias", {})
    keys = [("wrong_consensus_rate", "wrong consensus"), ("shared_wrong_rate", "shared wrong start"),
            ("diversity_initial_disagreement", "initial disagreement"),
            ("diversity_reasoning_dissimilarity", "reasoning dissimilarity"), ("delta_accuracy", "Δacc init→final")]
    labs = [lab for lab, d in bias.items() if any("bias_reinforcement" in v for v in d.values() if isinstance(v, dict))]
    if labs:
        fig, axes = new_figure(ncols=len(labs), size=(6.0, 3.6))
        for ax, lab in zip(axes[0], labs):
            meths = [k for k, v in bias[lab].items() if isinstance(v, dict) and "bias_reinforcement" in v]
            w = 0.8 / len(keys)
            for i, (k, name) in enumerate(keys):
                vals = [bias[lab][mm].get(k, float("nan")) for mm in meths]
                ax.bar(np.arange(len(meths)) + i * w, [0 if v is None or math.isnan(v) else v for v in vals], w, label=name)
            ax.set_xticks(np.arange(len(meths)) + 0.4 - w / 2, meths, rotation=30, ha="right", fontsize=7)
            ax.axhline(0, color="k", lw=0.5)
            ax.set_title(f"bias / diversity (our measures): {lab}", fontsize=9)
            ax.legend(fontsize=6)
        made.append(save_figure(fig, out_dir / "bias_diversity.png"))

    hists = {lab: d["nim_action_histogram"] for lab, d in bias.items() if "nim_action_histogram" in d}
    if hists:
        fig, axes = new_figure(ncols=len(hists))
        for ax, (lab, h) in zip(axes[0], hists.items()):
            acts = sorted(set(h["react"]) | set(h["optimal"]), key=lambda s: (len(s), s))
            tot_r = sum(h["react"].values()) or 1
            tot_o = sum(h["optimal"].values()) or 1
            x = np.arange(len(acts))
            ax.bar(x - 0.2, [h["react"].get(a, 0) / tot_r for a in acts], 0.4, label="react (model)")
            ax.bar(x + 0.2, [h["optimal"].get(a, 0) / tot_o for a in acts], 0.4, label="optimal")
            ax.set_xticks(x, acts)
            ax.set_xlabel("items taken (NIM decision set)")
            ax.set_ylabel("share of decisions")
            ax.set_title(f"NIM action histogram: {lab}", fontsize=9)
            ax.legend(fontsize=8)
        made.append(save_figure(fig, out_dir / "nim_action_histogram.png"))
    return [p for p in made if p is not None]
