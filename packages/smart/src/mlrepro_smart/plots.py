"""Figures, drawn from results.json only (``results["metrics"]["tradeoff"]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrepro.plotting import new_figure, save_figure

__all__ = ["make_figures"]

_COLORS = {"prm": "tab:blue", "conf": "tab:orange"}


def _rows(results: dict[str, Any]) -> list[dict]:
    return list(results.get("metrics", {}).get("tradeoff", []))


def tradeoff_figure(rows: list[dict], setting: str, path: Path, dpi: int = 120) -> Path | None:
    """Accuracy against the LLM's tokens relative to LLM-only, one curve per scorer (the tau sweep), with the
    SLM-only and LLM-only accuracies as reference lines."""
    rs = [r for r in rows if r["setting"] == setting]
    if not any(r["method"] == "smart" for r in rs):
        return None
    fig, axes = new_figure(ncols=2, size=(5.0, 4.0))
    for ax, key, xlabel in ((axes[0][0], "llm_token_ratio", "LLM tokens, relative to LLM-only"),
                            (axes[0][1], "llm_token_share", "LLM share of all generated tokens")):
        for sc in sorted({r["scorer"] for r in rs}):
            pts = sorted([r for r in rs if r["scorer"] == sc and r["method"] == "smart"
                          and r.get(key) is not None], key=lambda r: r["tau"])
            c = _COLORS.get(sc, None)
            if pts:
                ax.plot([p[key] for p in pts], [p["accuracy"] for p in pts], marker="o", color=c,
                        label=f"SMART ({sc})")
                for p in pts:
                    ax.annotate(f"{p['tau']:g}", (p[key], p["accuracy"]), textcoords="offset points",
                                xytext=(3, -10), fontsize=7, color=c)
            for method, ls in (("slm_only", ":"), ("llm_only", "--")):
                b = [r for r in rs if r["scorer"] == sc and r["method"] == method]
                if b:
                    ax.axhline(b[0]["accuracy"], ls=ls, color=c, lw=1,
                               label=f"{'SLM' if method == 'slm_only' else 'LLM'} only ({sc})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy")
        ax.set_xlim(left=-0.02)
    axes[0][0].set_title(f"SMART trade-off ({setting}); point labels: tau", fontsize=9)
    axes[0][0].legend(fontsize=7, loc="lower right")
    return save_figure(fig, path, dpi=dpi)


def intervention_figure(rows: list[dict], setting: str, path: Path, dpi: int = 120) -> Path | None:
    """Interventions per problem and the LLM share of final-solution steps against tau."""
    rs = [r for r in rows if r["setting"] == setting and r["method"] == "smart"]
    if not rs:
        return None
    fig, axes = new_figure(ncols=2, size=(4.2, 3.4))
    for sc in sorted({r["scorer"] for r in rs}):
        pts = sorted([r for r in rs if r["scorer"] == sc], key=lambda r: r["tau"])
        c = _COLORS.get(sc, None)
        axes[0][0].plot([p["tau"] for p in pts], [p["interventions_per_problem"] for p in pts], marker="o", color=c,
                        label=sc)
        axes[0][1].plot([p["tau"] for p in pts], [p["final_llm_step_share"] for p in pts], marker="o", color=c,
                        label=sc)
    axes[0][0].set_xlabel("tau")
    axes[0][0].set_ylabel("LLM interventions per problem")
    axes[0][1].set_xlabel("tau")
    axes[0][1].set_ylabel("LLM share of final-solution steps")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path, dpi=dpi)


def make_figures(results: dict[str, Any], plots_dir: str | Path, dpi: int = 120) -> list[Path]:
    plots_dir = Path(plots_dir)
    rows = _rows(results)
    out = []
    for setting in sorted({r["setting"] for r in rows}):
        for fn, stem in ((tradeoff_figure, "tradeoff"), (intervention_figure, "interventions")):
            p = fn(rows, setting, plots_dir / f"{stem}_{setting}.png", dpi)
            if p is not None:
                out.append(p)
    return out
