"""Figures of the mini recipe, made from ``results.json`` only (never from live objects)."""

from __future__ import annotations

from pathlib import Path

from mlrepro.plotting import load_results, new_figure, save_figure

_HIGHLIGHT = {"distillm_v2": "C3", "dpkd": "C7"}
_PALETTE = ["C0", "C1", "C2", "C4", "C5", "C6", "C8", "C9"]


def _color(name: str, i: int) -> str:
    return _HIGHLIGHT.get(name, _PALETTE[i % len(_PALETTE)])


def _band(ax, curve, label, color=None, lw=1.4, zorder=2):
    x, m, s = curve["x"] if "x" in curve else curve["step"], curve["mean"], curve["std"]
    if not x:
        return
    line, = ax.plot(x, m, label=label, color=color, lw=lw, zorder=zorder)
    if color is None:
        color = line.get_color()
    ax.fill_between(x, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color=line.get_color(),
                    alpha=0.15, lw=0, zorder=zorder - 1)


def make_plots(results_path: str | Path, out_dir: str | Path) -> list[Path]:
    """``kl_vs_step.png`` (held-out KL for every loss), ``likelihood_curves.png`` (student NLL of held-out teacher
    responses and of its own epoch-start responses), ``final_kl.png`` (final KL per loss, mean and std over seeds)."""
    res = load_results(results_path)
    runs = res.get("metrics", {}).get("runs", {})
    out_dir = Path(out_dir)
    if not runs:
        return []
    paths = []
    has_onpolicy = all("curve_kl_student_samples" in r for r in runs.values())
    fig, axes = new_figure(ncols=2 if has_onpolicy else 1, size=(5.2 if has_onpolicy else 6.0, 4.0))
    ax = axes[0][0]
    for i, (name, r) in enumerate(runs.items()):
        _band(ax, r["curve_kl"], name, _color(name, i), lw=2.2 if name == "distillm_v2" else 1.3,
              zorder=4 if name == "distillm_v2" else 2)
    ax.set_xlabel("training progress (epochs of Algorithm 1)")
    ax.set_ylabel("held-out KL(teacher || student) per token")
    ax.set_title("on held-out teacher responses", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    kl_max = max(max(r["curve_kl"]["mean"] or [0]) for n, r in runs.items() if n != "dpkd") if len(runs) > 1 else None
    if kl_max and "dpkd" in runs and max(runs["dpkd"]["curve_kl"]["mean"] or [0]) > kl_max * 1.15:
        ax.set_ylim(top=kl_max * 1.15)
        ax.text(0.98, 0.02, f"dpkd clipped (peak {max(runs['dpkd']['curve_kl']['mean']):.2f})", ha="right",
                va="bottom", transform=ax.transAxes, fontsize=8, color=_HIGHLIGHT["dpkd"])
    if has_onpolicy:
        ax = axes[0][1]
        for i, (name, r) in enumerate(runs.items()):
            c = r["curve_kl_student_samples"]
            _band(ax, c, name, _color(name, i), lw=2.2 if name == "distillm_v2" else 1.3,
                  zorder=4 if name == "distillm_v2" else 2)
            ax.scatter(c["x"], c["mean"], s=10, color=_color(name, i), zorder=5)
        ax.set_xlabel("epochs trained (fresh samples at each epoch start and the end)")
        ax.set_ylabel("held-out KL(teacher || student) per token")
        ax.set_title("on the student's own samples (on-policy)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
        on_max = max(max(r["curve_kl_student_samples"]["mean"] or [0]) for n, r in runs.items() if n != "dpkd")
        if "dpkd" in runs and max(runs["dpkd"]["curve_kl_student_samples"]["mean"] or [0]) > on_max * 1.15:
            ax.set_ylim(top=on_max * 1.15)
            ax.text(0.98, 0.02, f"dpkd clipped (peak {max(runs['dpkd']['curve_kl_student_samples']['mean']):.2f})",
                    ha="right", va="bottom", transform=ax.transAxes, fontsize=8, color=_HIGHLIGHT["dpkd"])
    fig.suptitle("Exact token-level KL(teacher || student), mean +- std over seeds", fontsize=10)
    paths.append(save_figure(fig, out_dir / "kl_vs_step.png"))

    fig, axes = new_figure(ncols=2, size=(5.2, 4.0))
    for ax, key, title in ((axes[0][0], "curve_nll_teacher_resp", "NLL of held-out teacher responses"),
                           (axes[0][1], "curve_nll_own_resp", "NLL of own epoch-start responses")):
        for i, (name, r) in enumerate(runs.items()):
            color = _color(name, i)
            lw = 2.2 if name in _HIGHLIGHT else 1.1
            segs = r[key]["segments"] if "segments" in r[key] else [r[key]]
            for j, seg in enumerate(segs):
                _band(ax, seg, name if j == 0 else None, color, lw=lw, zorder=4 if name in _HIGHLIGHT else 2)
        ax.set_xlabel("training progress (epochs)")
        ax.set_ylabel("student NLL per token (nats)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][1].set_title("NLL of own epoch-start responses\n(new samples at each epoch start)", fontsize=10)
    axes[0][0].legend(fontsize=7)
    paths.append(save_figure(fig, out_dir / "likelihood_curves.png"))

    names = list(runs)
    panels = [("final_kl", "initial_kl", "on held-out teacher responses")]
    if all("final_kl_student_samples" in runs[n] for n in names):
        panels.append(("final_kl_student_samples", "initial_kl_student_samples", "on the student's own samples"))
    fig, axes = new_figure(ncols=len(panels), size=(5.2 if len(panels) > 1 else 6.0, 3.6))
    for ax, (key, init_key, title) in zip(axes[0], panels):
        means = [runs[n][key]["mean"] for n in names]
        stds = [runs[n][key]["std"] for n in names]
        ax.bar(names, means, yerr=stds, color=[_color(n, i) for i, n in enumerate(names)], capsize=3)
        init = [runs[n][init_key]["mean"] for n in names]
        ax.axhline(sum(init) / len(init), color="k", ls="--", lw=1, label="initial (SFT student)")
        ax.set_ylabel("final held-out KL per token")
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    paths.append(save_figure(fig, out_dir / "final_kl.png"))
    if all("curve_mistake_frac" in r for r in runs.values()):
        fig, axes = new_figure(ncols=2, size=(5.2, 3.6))
        for ax, key, title in ((axes[0][0], "curve_mistake_frac", "share of mistake transitions"),
                               (axes[0][1], "curve_derailed_frac", "share of derailed responses")):
            for i, (name, r) in enumerate(runs.items()):
                if key in r:
                    _band(ax, r[key], name, _color(name, i), lw=2.2 if name in _HIGHLIGHT else 1.1)
            ax.set_xlabel("epochs trained")
            ax.set_ylabel("fraction (student's own samples)")
            ax.set_title(title, fontsize=10)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        fig.suptitle("Errors in the student's own held-out samples (teacher: 0)", fontsize=10)
        paths.append(save_figure(fig, out_dir / "own_sample_errors.png"))
    return paths
