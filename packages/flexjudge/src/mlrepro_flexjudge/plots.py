"""Figures from ``results.json`` only (never from live objects)."""

from __future__ import annotations

from pathlib import Path

from mlrepro.plotting import load_results, new_figure, save_figure

__all__ = ["make_plots"]

_BARS = [("text_pair", "w_tie", "pair acc\n(w. tie)"), ("text_pair", "wo_tie", "pair acc\n(w.o. tie)"),
         ("text_score", "pearson", "score\nPearson"), ("image_pair", "w_tie", "image pair\nacc (w. tie)"),
         ("image_score", "pearson", "image score\nPearson"), ("text_batch", "levenshtein", "batch\nLevenshtein (low)")]


def make_plots(results_path: str | Path, out_dir: str | Path) -> list[Path]:
    res = load_results(results_path)
    m = res.get("metrics", {})
    out_dir = Path(out_dir)
    paths = []
    models = [k for k in ("base", "trained", "answer_first") if isinstance(m.get(k), dict)]
    bars = [(s, k, lab) for s, k, lab in _BARS if any(s in m[x] for x in models)]
    if models and bars:
        fig, ax = new_figure(size=(9.0, 3.8))
        ax = ax[0][0]
        w = 0.8 / len(models)
        for j, name in enumerate(models):
            vals = [m[name].get(s, {}).get(k, float("nan")) for s, k, _ in bars]
            ax.bar([i + j * w for i in range(len(bars))], vals, width=w, label=name)
        ax.set_xticks([i + w * (len(models) - 1) / 2 for i in range(len(bars))])
        ax.set_xticklabels([lab for _, _, lab in bars], fontsize=8)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title("Flex-Judge mini: untrained vs text-trace SFT judge (held-out items)")
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out_dir / "judge_metrics.png"))
        fig, ax = new_figure(size=(6.0, 3.4))
        ax = ax[0][0]
        sets = sorted({s for x in models for s in m[x] if isinstance(m[x][s], dict) and "parse_fail_rate" in m[x][s]})
        for j, name in enumerate(models):
            ax.bar([i + j * w for i in range(len(sets))], [m[name].get(s, {}).get("parse_fail_rate", float("nan"))
                                                           for s in sets], width=w, label=name)
        ax.set_xticks([i + w * (len(models) - 1) / 2 for i in range(len(sets))])
        ax.set_xticklabels(sets, fontsize=8)
        ax.set_ylabel("parse-failure rate")
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out_dir / "parse_failures.png"))
    tts = m.get("tts", {})
    if tts:
        fig, axes = new_figure(ncols=2, size=(4.6, 3.4))
        for s, v in tts.items():
            ks = sorted(v["majority"], key=int)
            axes[0][0].plot([int(k) for k in ks], [v["majority"][k] for k in ks], "o-", label=s)
            ns = sorted(v["budget_forcing"], key=int)
            axes[0][1].plot([int(n) for n in ns], [v["budget_forcing"][n]["accuracy"] for n in ns], "o-", label=s)
        axes[0][1].set_xticks(sorted({int(n) for v in tts.values() for n in v["budget_forcing"]}))
        axes[0][0].set_xlabel("sampled reasoning paths (majority vote)")
        axes[0][0].set_ylabel("accuracy")
        axes[0][1].set_xlabel('budget forcing: "Wait" insertions')
        axes[0][0].legend(fontsize=8)
        paths.append(save_figure(fig, out_dir / "test_time_scaling.png"))
    curves = {k: m[k].get("loss_curve") for k in ("train", "train_answer_first") if isinstance(m.get(k), dict)}
    curves = {k: v for k, v in curves.items() if v}
    if curves:
        fig, ax = new_figure(size=(5.0, 3.4))
        for k, c in curves.items():
            ax[0][0].plot([x for x, _ in c], [y for _, y in c], label=k)
        ax[0][0].set_xlabel("optimizer step")
        ax[0][0].set_ylabel("SFT loss (assistant tokens)")
        ax[0][0].set_yscale("log")
        ax[0][0].legend(fontsize=8)
        paths.append(save_figure(fig, out_dir / "sft_loss.png"))
    return paths
