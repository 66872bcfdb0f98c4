"""Figures, drawn only from the stage outputs (``stages/*/output.json``), never from live objects.

fig1: eq. 14 (G=2) curves per beta/gamma; fig2: eq. 15 (G->inf) per beta; fig3: direct-KL G=2 per beta/gamma
(the paper's Figs. 1-3). Extra checks: fig4a finite G -> large G; fig4b GRPO vs log pooling overlay; fig4c
simulated-GRPO trajectories; fig4d direct-KL large-G h(x) and its non-unique roots; fig5 a four-output example.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    os.replace(tmp, path)
    _plt().close(fig)
    return path


def _ref_line(ax):
    ax.plot([0, 1], [0, 1], "k:", lw=1.2, label="reference (y = x)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(r"$\pi_{ref}(a|q)$")
    ax.set_ylabel(r"$\pi_\theta(a|q)$")


def _curve_family(curves: dict, x, title: str, label: str, mark_zero: bool, path: Path, dpi: int) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    cmap = plt.get_cmap("viridis")
    keys = list(curves)
    for i, k in enumerate(keys):
        col = cmap(i / max(len(keys) - 1, 1))
        ax.plot(x, curves[k], color=col, lw=1.6, label=f"{label} = {float(k):g}")
        if mark_zero:  # p_ref = 0 gives pi = 0 (support), a jump from the limit at 0+
            ax.plot([0], [0], "o", color=col, ms=3)
            ax.plot([x[0]], [curves[k][0]], "o", mfc="white", color=col, ms=3)
    _ref_line(ax)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path, dpi)


def make_figures(stages: dict[str, Any], plots_dir: str | Path, dpi: int = 150) -> list[Path]:
    plots_dir = Path(plots_dir)
    out: list[Path] = []
    cu = stages.get("curves")
    if cu:
        x = np.asarray(cu["x"])
        out.append(_curve_family(cu["fig1"], x, "Fig. 1: GRPO, G = 2 (eq. 14), binary, P(a>b) > P(b>a)",
                                 r"$\beta/\gamma_{a,b}$", True, plots_dir / "fig1_g2.png", dpi))
        out.append(_curve_family(cu["fig2"], x, r"Fig. 2: GRPO, G $\to\infty$ (eq. 15), binary, r(a) > r(b)",
                                 r"$\beta$", True, plots_dir / "fig2_ginf.png", dpi))
        out.append(_curve_family(cu["fig3"], x, "Fig. 3: direct-KL variant, G = 2 (no jump at 0)",
                                 r"$\beta/\gamma_{a,b}$", False, plots_dir / "fig3_direct_g2.png", dpi))
        plt = _plt()
        # 4a: finite G -> large G
        fig, axs = plt.subplots(1, 2, figsize=(10, 4))
        ax = axs[0]
        for p, d in cu["finite_g"].items():
            (ln,) = ax.semilogx(d["G"], d["p_G"], "o-", label=rf"$\pi_{{ref}}(a)$ = {p}")
            ax.axhline(d["p_inf"], color=ln.get_color(), ls="--", lw=1)
        ax.set_xlabel("group size G")
        ax.set_ylabel(r"stationary $\pi_\theta(a)$")
        ax.set_title(rf"finite G (exact) vs eq. 15 (dashed), $\beta$ = {cu['finite_g_beta']:g}", fontsize=10)
        ax.legend(fontsize=8)
        ax = axs[1]
        b = cu["overlay_beta"]
        ax.plot(x, cu["overlay"]["grpo_g2"], label="G = 2 (eq. 14)")
        for G, ys in cu["finite_curves"].items():
            ax.plot(cu["finite_curves_x"], ys, label=f"G = {G} (solver)")
        ax.plot(x, cu["overlay"]["grpo_ginf"], label=r"G $\to\infty$ (eq. 15)")
        _ref_line(ax)
        ax.set_title(rf"interpolation in G, $\beta$ = {b:g}", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        out.append(_save(fig, plots_dir / "fig4a_finite_g.png", dpi))
        # 4b: overlay GRPO vs log pooling
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        ax.plot(x, cu["overlay"]["grpo_g2"], label="GRPO G = 2 (eq. 14)")
        ax.plot(x, cu["overlay"]["grpo_ginf"], label=r"GRPO G $\to\infty$ (eq. 15)")
        ax.plot(x, cu["overlay"]["direct_g2"], "--", label="direct-KL G = 2")
        ax.plot(x, cu["overlay"]["rlhf"], ":", lw=2.2, label=r"RLHF / log pooling, $\Delta r$ = 1")
        _ref_line(ax)
        ax.set_title(rf"GRPO vs logarithmic pooling, $\beta$ = {b:g}", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        out.append(_save(fig, plots_dir / "fig4b_vs_log_pooling.png", dpi))
        # 4d: h(x) for the direct-KL large-G variant
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        hx = np.asarray(cu["h_x"])
        for bb, ys in cu["h"].items():
            ax.plot(hx, ys, label=rf"$\beta$ = {float(bb):g}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylim(-3, 8)
        ax.set_xlabel("x = p")
        ax.set_ylabel("h(x)")
        ax.set_title(rf"direct KL, G $\to\infty$, $\pi_{{ref}}(a)$ = {cu['h_p_ref']:g}: two roots iff "
                     rf"$\beta$ > {cu['h_critical_beta']:.4f}", fontsize=9)
        ax.legend(fontsize=8)
        out.append(_save(fig, plots_dir / "fig4d_direct_large_g_h.png", dpi))
    sim = stages.get("simulate")
    if sim:
        plt = _plt()
        n = len(sim["setups"])
        cols = min(n, 3)
        rows = (n + cols - 1) // cols
        fig, axs = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
        for ax, r in zip(axs.flat, sim["setups"]):
            for s in r["sampled"]:
                ax.plot(s["traj_steps"], s["traj"], lw=0.8, alpha=0.8, label=f"MC seed {s['seed']}")
            e = r["expected"]
            ax.plot(e["traj_steps"], e["traj"], "k-", lw=1.5, label="expected gradient")
            ax.axhline(r["fixed_point"][0], color="r", ls="--", lw=1, label="solver fixed point")
            ax.set_xscale("symlog", linthresh=10)
            ax.set_xlim(left=0)
            ax.set_title(f"{r['name']} (G={r['G']}, beta={r['beta']:g}, {r['normalization']}, {r['penalty']})",
                         fontsize=8)
            ax.set_xlabel("GRPO step")
            ax.set_ylabel(r"$\pi_\theta$(output 0)")
        for ax in list(axs.flat)[n:]:
            ax.axis("off")
        axs.flat[0].legend(fontsize=7)
        fig.tight_layout()
        out.append(_save(fig, plots_dir / "fig4c_simulated_grpo.png", dpi))
    lp = stages.get("logpool")
    if lp:
        plt = _plt()
        pol = lp["example"]["policies"]
        names = ["pi_ref", "grpo_reverse_G2", "grpo_reverse", "grpo_reverse_Ginf", "grpo_direct", "rlhf_log_pool"]
        labels = [r"$\pi_{ref}$", "GRPO G=2", f"GRPO G={lp['example']['G']}", r"GRPO G$\to\infty$",
                  f"direct-KL G={lp['example']['G']}", "RLHF (log pool)"]
        K = len(pol["pi_ref"])
        fig, ax = plt.subplots(figsize=(7, 3.8))
        w = 0.8 / len(names)
        for i, (nm, lb) in enumerate(zip(names, labels)):
            ax.bar(np.arange(K) + (i - len(names) / 2 + 0.5) * w, pol[nm], w, label=lb)
        ax.set_xticks(range(K), [f"o{k}\nr={rv:g}" for k, rv in enumerate(lp["example"]["rewards"])])
        ax.set_ylabel("probability")
        ax.set_title(rf"stationary policies, $\beta$ = {lp['beta']:g}", fontsize=10)
        ax.legend(fontsize=7)
        out.append(_save(fig, plots_dir / "fig5_four_outputs.png", dpi))
    nu = stages.get("nonunique")
    if nu:
        plt = _plt()
        ex = nu["example"]
        fig, ax = plt.subplots(figsize=(5.2, 3.6))

        def logit(v):
            v = np.clip(np.asarray(v, dtype=float), 1e-15, 1 - 1e-15)
            return np.log(v / (1 - v))

        ax.plot(ex["traj_steps"][: len(ex["traj_ref"])], logit(ex["traj_ref"]), label=r"start at $\pi_{ref}$")
        ax.plot(ex["traj_steps"][: len(ex["traj_high"])], logit(ex["traj_high"]), label="start above x2")
        if ex["roots"]:
            for v, nm in zip(ex["roots"], ("x1 (stable)", "x2 (unstable)")):
                ax.axhline(logit(v), ls="--", lw=1, color="gray")
                ax.text(1, logit(v), f"{nm} = {v:.4f}", fontsize=7, va="bottom")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0)
        ax.set_xlabel("expected-gradient step")
        ax.set_ylabel(r"log-odds of $\pi_\theta(a)$")
        ax.set_title(rf"direct KL, G $\to\infty$, $\pi_{{ref}}$ = {ex['p_ref']:g}, $\beta$ = {ex['beta']:g}", fontsize=9)
        ax.legend(fontsize=8)
        out.append(_save(fig, plots_dir / "fig4e_direct_large_g_dynamics.png", dpi))
    return out
