"""Figures from result files (never from live objects): a headless matplotlib setup and small helpers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["new_figure", "save_figure", "line_plot", "load_results"]


def _plt():
    import matplotlib

    if os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (5.0, 3.6), **kw: Any):
    plt = _plt()
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False, **kw)
    return fig, axes


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG atomically (temporary file, then rename) and close it."""
    plt = _plt()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def line_plot(series: dict[str, tuple[Sequence[float], Sequence[float]]], path: str | os.PathLike, xlabel: str = "",
              ylabel: str = "", title: str = "", logx: bool = False, logy: bool = False, marker: str = "o") -> Path:
    """One line per ``name -> (x, y)``, saved to ``path``."""
    fig, axes = new_figure()
    ax = axes[0][0]
    for name, (x, y) in series.items():
        ax.plot(list(x), list(y), marker=marker, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def load_results(path: str | os.PathLike) -> dict:
    from ..runs import read_json

    p = Path(path)
    return read_json(p / "results.json" if p.is_dir() else p)
