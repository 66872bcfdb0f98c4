"""Figures of the concise reproduction (from the aggregated results only)."""

from __future__ import annotations

from mlrepro.plotting import new_figure, save_figure


def plot_accuracy_vs_tokens(base: dict, agg: dict, path) -> None:
    fig, ax = new_figure()
    ax = ax[0][0]
    ax.scatter([base["mean_tokens"]], [base["accuracy"]], marker="*", s=160, color="black", label="base (zero-shot)")
    for name, a in agg.items():
        ax.errorbar([a["mean_tokens"]], [a["accuracy"]], yerr=[a["accuracy_std"]], fmt="o", capsize=3, label=name)
    ax.set_xlabel("mean output tokens (test, greedy)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy vs length")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def plot_reduction_vs_n(bon: list[tuple[int, float]], eff: dict, path) -> None:
    fig, axes = new_figure(ncols=2)
    a0, a1 = axes[0]
    if bon:
        ns, red = zip(*sorted(bon))
        a0.plot(ns, red, marker="o")
        a0.set_xscale("log", base=2)
    a0.set_xlabel("N (naive best-of-N)")
    a0.set_ylabel("test length reduction (%)")
    a0.set_title("after SFT")
    a0.grid(alpha=0.3)
    ns = sorted(int(k) for k in eff if k.isdigit() and eff[k] is not None)
    a1.plot(ns, [eff[str(n)] for n in ns], marker="o", label="shortest correct of N (zero-shot)")
    if eff.get("few_shot_1") is not None:
        a1.axhline(eff["few_shot_1"], color="C3", ls="--", label="one few-shot sample")
    a1.set_xscale("log", base=2)
    a1.set_xlabel("N")
    a1.set_ylabel("relative length of selected path (%)")
    a1.set_title("sample efficiency (training pools)")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=7)
    save_figure(fig, path)
