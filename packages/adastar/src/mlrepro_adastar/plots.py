"""Figures from results.json only: accuracy against cumulative FLOPs for each method."""

from __future__ import annotations

from pathlib import Path

from mlrepro.plotting import load_results, new_figure, save_figure

__all__ = ["plot_accuracy_vs_flops"]

STYLE = {"adastar": ("AdaSTaR", "C3"), "star_acc": ("STaR-Acc", "C0"), "star": ("STaR", "C1"),
         "star_full": ("STaR-Full", "C2"), "star_acc_full": ("STaR-Acc-Full", "C4"),
         "star_acc_full_k": ("STaR-Acc-Full-K", "C5"), "rest_em": ("ReST-EM", "C6"),
         "adastar_no_adac": ("AdaSTaR w/o AdaC", "C7"), "adastar_no_w": ("AdaSTaR w/o w", "C8"),
         "adastar_pf": ("AdaSTaR-PF", "C9")}


def plot_accuracy_vs_flops(results: dict | str | Path, out_dir: str | Path) -> list[Path]:
    """Left: accuracy vs training FLOPs; right: vs training + sampling FLOPs. Thick line = seed mean, thin = seeds."""
    res = results if isinstance(results, dict) else load_results(results)
    methods = res["metrics"]["methods"]
    misread = all("misread_rate_test" in m["curve"] for m in methods.values())
    fig, axes = new_figure(ncols=3 if misread else 2, size=(5.2, 3.8))
    for ax, key, label in ((axes[0][0], "train_flops", "training FLOPs"),
                           (axes[0][1], "total_flops", "training + sampling FLOPs")):
        for name, m in methods.items():
            lab, color = STYLE.get(name, (name, None))
            for s in m["curves_per_seed"]:
                ax.plot(s[key], [100 * a for a in s["accuracy"]], color=color, alpha=0.25, lw=0.8)
            c = m["curve"]
            ax.plot(c[key], [100 * a for a in c["accuracy"]], marker="o", ms=3, color=color, lw=1.8, label=lab)
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    if misread:  # the mini's seed-corpus misconception: does self-training remove it?
        ax = axes[0][2]
        for name, m in methods.items():
            lab, color = STYLE.get(name, (name, None))
            c = m["curve"]
            ax.plot(c["t"], [100 * x for x in c["misread_rate_test"]], marker="o", ms=3, color=color, label=lab)
        ax.set_xlabel("STaR iteration")
        ax.set_ylabel("test '-' and '*' steps written as '+' (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{res.get('recipe', '')}: accuracy vs FLOPs (seeds {res.get('seeds')})", fontsize=9)
    return [save_figure(fig, Path(out_dir) / "accuracy_vs_flops.png")]
