"""Figures from result files only (results.json, metrics.jsonl, stages/eval_main/examples.npz)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    try:
        from mlrepro.plotting import save_figure  # shared helper when present

        save_figure(fig, path)
    except Exception:
        tmp = path.with_name(path.stem + ".tmp.png")
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        tmp.replace(path)


def plot_nfe_guidance(results: dict, out: Path) -> None:
    plt = _plt()
    rows = results["metrics"]["sweep"]
    fig, ax = plt.subplots(1, 5, figsize=(21, 3.8))
    nfe = [r for r in rows if r["kind"] == "nfe"]
    for solver in sorted({r["solver"] for r in nfe}):
        rr = sorted([r for r in nfe if r["solver"] == solver], key=lambda r: r["nfe"])
        x = [r["nfe"] for r in rr]
        ax[0].plot(x, [r["mcd"] for r in rr], "o-", label=solver)
        ax[1].plot(x, [r["secs"] for r in rr], "o-", label=f"SECS {solver}")
        ax[1].plot(x, [r["emo_acc"] for r in rr], "s--", label=f"Emo-Acc {solver}")
        if all(r.get("ode_rmse_vs_dopri5") is not None for r in rr):
            ax[2].plot(x, [r["ode_rmse_vs_dopri5"] for r in rr], "o-", label=solver)
    for a, t in zip(ax[:3], ("MCD to target (dB) vs NFE", "SECS / Emo-Acc vs NFE", "RMS error vs dopri5 solution")):
        a.set_xscale("log", base=2)
        a.set_xlabel("NFE (network evaluations per sample, w = 0)")
        a.set_title(t, fontsize=10)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    if ax[2].lines:
        ax[2].set_yscale("log")
    g = [r for r in rows if r["kind"] == "guidance"]
    for comb, ls in (("nested", "-"), ("independent", "--")):
        for lab, sel in (("w_a only", lambda r: r["w_v"] == 0), ("w_v only", lambda r: r["w_a"] == 0),
                         ("w_a = w_v", lambda r: r["w_a"] == r["w_v"])):
            rr = [r for r in g if (r["combiner"] == comb or (r["w_a"] == 0 and r["w_v"] == 0)) and sel(r)]
            rr = sorted(rr, key=lambda r: max(r["w_a"], r["w_v"]))
            if len(rr) > 1:
                ax[3].plot([max(r["w_a"], r["w_v"]) for r in rr], [r["mcd"] for r in rr], ls, marker="o",
                           label=f"{comb}: {lab}")
    ax[3].set_xlabel("guidance weight")
    ax[3].set_title("MCD vs guidance weight (10 Euler steps)", fontsize=10)
    ax[3].legend(fontsize=6)
    nested = [r for r in g if r["combiner"] == "nested"]
    for lab, sel, key, mk in (("SECS, w_a only", lambda r: r["w_v"] == 0, "secs", "o-"),
                              ("Emo-Acc, w_v only", lambda r: r["w_a"] == 0, "emo_acc", "s-"),
                              ("SECS, w_a = w_v", lambda r: r["w_a"] == r["w_v"], "secs", "o--"),
                              ("Emo-Acc, w_a = w_v", lambda r: r["w_a"] == r["w_v"], "emo_acc", "s--")):
        rr = sorted([r for r in nested if sel(r)], key=lambda r: max(r["w_a"], r["w_v"]))
        if len(rr) > 1:
            ax[4].plot([max(r["w_a"], r["w_v"]) for r in rr], [r[key] for r in rr], mk, label=lab)
    ax[4].set_xlabel("guidance weight (nested combiner)")
    ax[4].set_title("SECS / Emo-Acc vs guidance weight", fontsize=10)
    if ax[4].lines:
        ax[4].legend(fontsize=6)
    fig.tight_layout()
    _save(fig, out / "nfe_guidance.png")
    plt.close(fig)


def plot_ablation(results: dict, out: Path) -> None:
    plt = _plt()
    main = results["metrics"]["main"]
    names = [n for n in main]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    for a, key, title in zip(ax, ("secs", "emo_acc", "dtw"), ("SECS to source (higher better)",
                                                               "Emo-Acc (higher better)", "DTW to target (lower better)")):
        vals = [main[n][key] for n in names]
        cols = ["tab:blue" if not n.startswith("reference") else "tab:gray" for n in names]
        bars = a.bar(range(len(names)), vals, color=cols)
        a.bar_label(bars, fmt="%.3f", fontsize=7)
        if key == "secs":
            a.set_ylim(max(0.0, min(vals) - 0.1), 1.0)
        a.set_xticks(range(len(names)))
        a.set_xticklabels([n.replace("reference_", "ref: ") for n in names], rotation=30, ha="right", fontsize=8)
        a.set_title(title, fontsize=10)
    fig.tight_layout()
    _save(fig, out / "ablation.png")
    plt.close(fig)


def plot_examples(npz: Path, out: Path) -> None:
    plt = _plt()
    z = np.load(npz, allow_pickle=False)
    keys = ["source_0", "target_0"] + sorted(k for k in z.files if k.endswith("_0") and not k.startswith(("source", "target")))
    fig, ax = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.8), sharey=True)
    for a, k in zip(np.atleast_1d(ax), keys):
        a.imshow(z[k], origin="lower", aspect="auto", vmin=-9, vmax=1)
        a.set_title(k.rsplit("_", 1)[0], fontsize=9)
        a.set_xlabel("frame")
    fig.tight_layout()
    _save(fig, out / "examples.png")
    plt.close(fig)


def plot_training(metrics_jsonl: Path, out: Path) -> None:
    plt = _plt()
    recs = [json.loads(x) for x in metrics_jsonl.read_text().splitlines() if x.strip()]
    recs = [r for r in recs if "cfm_loss" in r]
    if not recs:
        return
    fig, a = plt.subplots(figsize=(5, 3.4))
    for m in sorted({r["model"] for r in recs}):
        rr = [r for r in recs if r["model"] == m]
        a.plot([r["train_step"] for r in rr], [r["cfm_loss"] for r in rr], label=m)
    a.set_xlabel("step")
    a.set_ylabel("OT-CFM loss")
    a.legend()
    fig.tight_layout()
    _save(fig, out / "training.png")
    plt.close(fig)


def make_plots(run_dir: str | Path) -> list[str]:
    run_dir = Path(run_dir)
    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    res = json.loads((run_dir / "results.json").read_text())
    plot_nfe_guidance(res, out)
    plot_ablation(res, out)
    ex = run_dir / "stages" / "eval_main" / "examples.npz"
    if ex.exists():
        plot_examples(ex, out)
    if (run_dir / "metrics.jsonl").exists():
        plot_training(run_dir / "metrics.jsonl", out)
    return sorted(p.name for p in out.glob("*.png"))


def markdown_tables(results: dict) -> str:
    """README tables (claims, main comparison, NFE / guidance sweep) printed from a results.json."""
    def f(x, nd=3):
        return f"{x:.{nd}f}" if isinstance(x, float) else str(x)

    out = ["| claim | holds | measured |", "| --- | --- | --- |"]
    for c in results["claims"]:
        out.append(f"| {c['id']} | {c['holds']} | `{json.dumps(c['measured'])}` |")
    out += ["", "| system | SECS | Emo-Acc | DTW | MCD (dB) | mel MSE | max length error |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for n, r in results["metrics"]["main"].items():
        out.append(f"| {n} | {f(r['secs'])} | {f(r['emo_acc'])} | {f(r['dtw'])} | {f(r['mcd'], 2)} | {f(r['mse'])} | "
                   f"{r['len_err_max']} |")
    out += ["", "| kind | solver | steps | NFE | net evals | w_a | w_v | combiner | SECS | Emo-Acc | DTW | MCD | mel MSE | "
            "RMS vs dopri5 |", "| " + " | ".join(["---"] * 14) + " |"]
    for r in results["metrics"]["sweep"]:
        out.append(" | ".join(["", r["kind"], r["solver"], str(r["steps"]), str(r["nfe"]), str(r["net_evals_per_item"]),
                               f(r["w_a"], 1), f(r["w_v"], 1), r["combiner"], f(r["secs"]), f(r["emo_acc"]),
                               f(r["dtw"]), f(r["mcd"], 2), f(r["mse"]), f(r.get("ode_rmse_vs_dopri5"), 4), ""]).strip())
    return "\n".join(out)


if __name__ == "__main__":  # python -m mlrepro_mavflow.plots packages/mavflow/results/mini/results.json
    import sys

    print(markdown_tables(json.loads(Path(sys.argv[1]).read_text())))
