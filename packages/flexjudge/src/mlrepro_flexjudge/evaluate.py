"""Evaluation runners (paper Table 6, spec §2.6): prompts -> judge runs -> parsers -> metrics, per benchmark.

Every runner takes a judge (:mod:`mlrepro_flexjudge.inference`: ``judge(prompts, params, prefixes)``), normalized
items (:mod:`mlrepro_flexjudge.data` loaders, or test-made records of the same shape), the benchmark's sampling
and number of runs, and returns ``(metrics, samples)``: metrics include ``parse_fail_rate`` (share of generations
whose format did not parse; fallbacks are still scored, as the official code does) and samples are one record per
item and run for ``samples.jsonl``.

=====================  =====================================================  =========================
runner                 benchmark                                              runs / seeds (code)
=====================  =====================================================  =========================
``eval_mllm_judge``    MLLM-as-a-Judge score / pair / batch (per subset)      3, seeds 0, 1, 2
``eval_vlrb``          VL-RewardBench (random order swap, numpy seed k)       5, seed k
``eval_mjbench``       MJ-Bench (k=0 original order, k=1 reversed)            2
``eval_genai``         GenAI-Bench image/edit/video, + majority of the 7     7, seed k
``eval_audio``         NISQA / SOMOS / BVCC (MOS), VoxSim (similarity)        1
``eval_text_judge``    JudgeLM val / PandaLM test (text pairs)                1
``pampa_best_of_n``    Flex-Mol-LLaMA best-of-N with the judge's scores       10 trials
=====================  =====================================================  =========================
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mlrepro.sampling import SamplingParams

from . import method as M
from .prompts import (
    audio_mos_prompt,
    batch_prompt,
    bvcc_prompt,
    genai_prompt,
    mjbench_prompt,
    molecule_score_prompt,
    pair_prompt,
    score_prompt,
    voxsim_prompt,
)

__all__ = ["judge_runs", "eval_mllm_judge", "eval_vlrb", "eval_mjbench", "eval_genai", "eval_audio",
           "eval_text_judge", "pampa_best_of_n", "resize_image", "load_audio", "synthetic_to_mllm_items",
           "SCORE_STOPS"]

SCORE_STOPS = ["</answer>", "<|im_end|>"]  # single-score runs stop at the first answer (official)


def resize_image(img: Any, size: int | None):
    """PIL image (or path) -> RGB, resized to ``size`` x ``size`` (448 MLLM-as-a-Judge / GenAI-Bench, 336 MJ-Bench;
    ``None`` keeps it as is, as VL-RewardBench does)."""
    from PIL import Image

    if isinstance(img, str):
        img = Image.open(img)
    if not hasattr(img, "convert"):  # None / pre-processed media: passed through
        return img
    img = img.convert("RGB")
    return img.resize((size, size)) if size else img


def load_audio(path: str, sr: int = 16000):
    """Official audio handling: soundfile read, mix to mono, resample to 16 kHz with librosa, float -> int16
    (x 32767). Returns ``(array, sr)``."""
    import librosa
    import soundfile as sf

    wav, rate = sf.read(path, dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    if rate != sr:
        wav = librosa.resample(wav, orig_sr=rate, target_sr=sr)
    return (np.clip(wav, -1.0, 1.0) * 32767).astype(np.int16), sr


def judge_runs(judge, prompts: Sequence, params: SamplingParams, seeds: Sequence[int]) -> list[list[str]]:
    """One judgement per prompt and run; run r uses ``seed = seeds[r]``. Returns ``texts[r][i]``."""
    out = []
    for s in seeds:
        rows = judge.judge(list(prompts), replace(params, n=1, seed=int(s)))
        out.append([row[0].text for row in rows])
    return out


def _fail_rate(oks: Sequence[bool]) -> float:
    return float(1.0 - np.mean(oks)) if len(oks) else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# MLLM-as-a-Judge (and the mini's synthetic items, in the same schema)


def synthetic_to_mllm_items(items: Sequence[dict], setting: str, subset: str, image_size: int | None = None) -> list[dict]:
    """Synthetic world items (``data.eval_world``) -> the MLLM-as-a-Judge schema. Image items get their picture
    drawn now (``data.draw_scene``)."""
    from .data import draw_scene

    out = []
    for r in items:
        img = None
        if "image_seed" in r:
            img = draw_scene(r["start"], size=image_size or 56, seed=r["image_seed"])
        out.append({"id": r["id"], "subset": subset, "image": img, "question": r["question"],
                    "answers": list(r["answers"]), "human": r["gold"], "categories": r.get("categories")})
    return out


def _mllm_prompt(item: dict, setting: str, backbone: str, style: str, image_size: int | None):
    media = [("image", resize_image(item["image"], image_size))] if item.get("image") is not None else []
    bb = backbone if media else "text"
    if setting == "score":
        return score_prompt(item["question"], item["answers"][0], backbone=bb, media=media, scale=5, style=style)
    if setting == "pair":
        return pair_prompt(item["question"], item["answers"][0], item["answers"][1], backbone=bb, media=media,
                           scale=10, style=style)
    if setting == "batch":
        return batch_prompt(item["question"], item["answers"], backbone=bb, media=media, scale=10, style=style)
    raise ValueError(f"unknown MLLM-as-a-Judge setting {setting!r}")


def eval_mllm_judge(judge, items: Sequence[dict], setting: str, params: SamplingParams, seeds: Sequence[int] = (0, 1, 2),
                    aggregation: str = "paper", backbone: str = "qwen2.5-vl", style: str = "paper",
                    image_size: int | None = 448) -> tuple[dict, list[dict]]:
    """MLLM-as-a-Judge ``setting`` (score: Pearson; pair: accuracy w./w.o. tie; batch: normalized Levenshtein),
    per subset then averaged over subsets, runs aggregated by ``aggregation`` (paper | code; see
    :mod:`method`). Score runs stop at ``</answer>``; pair/batch at ``<|im_end|>`` (EOS)."""
    if aggregation not in M.AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {M.AGGREGATIONS}")
    prompts = [_mllm_prompt(it, setting, backbone, style, image_size) for it in items]
    p = replace(params, stop=SCORE_STOPS if setting == "score" else params.stop)
    texts = judge_runs(judge, prompts, p, seeds)
    by_subset: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_subset[str(it.get("subset", "all"))].append(i)
    samples, oks = [], []
    parsed = []  # parsed[r][i]
    for r, run in enumerate(texts):
        row = []
        for i, t in enumerate(run):
            if setting == "score":
                j = M.parse_score(t)
            elif setting == "pair":
                j = M.parse_pair(t)
            else:
                j = M.parse_batch(t, len(items[i]["answers"]))
            row.append(j)
            oks.append(j.ok)
            samples.append({"id": items[i]["id"], "setting": setting, "run": r, "text": t, "pred": j.value,
                            "parsed": j.ok, "gold": items[i]["human"]})
        parsed.append(row)
    key = {"score": ["pearson"], "pair": ["w_tie", "wo_tie"], "batch": ["levenshtein"]}[setting]
    both: dict[str, Any] = {}
    for mode in M.AGGREGATIONS:  # both aggregations from the same generations; the flag picks the headline
        per_subset: dict[str, Any] = {}
        for sub, idx in by_subset.items():
            gold = [items[i]["human"] for i in idx]
            if setting == "score":
                corrs = [M.pearson0([parsed[r][i].value for i in idx], [float(g) for g in gold])
                         for r in range(len(seeds))]
                per_subset[sub] = {"pearson": M.aggregate_score_runs(corrs, mode), "per_run": corrs}
            elif setting == "pair":
                per_subset[sub] = M.aggregate_pair_runs([[parsed[r][i].value for i in idx] for r in range(len(seeds))],
                                                        gold, mode)
            else:
                dists = [[M.normalized_levenshtein(parsed[r][i].value, g) for i, g in zip(idx, gold)]
                         for r in range(len(seeds))]
                per_subset[sub] = {"levenshtein": M.aggregate_batch_runs(dists, mode)}
        both[mode] = {"per_subset": per_subset,
                      **{k: float(np.mean([v[k] for v in per_subset.values()])) for k in key}}
    metrics = {k: both[aggregation][k] for k in key}
    metrics.update(parse_fail_rate=_fail_rate(oks), n_items=len(items), runs=len(seeds),
                   per_subset=both[aggregation]["per_subset"], aggregation=aggregation,
                   other_aggregation={k: v for k, v in both[[m for m in M.AGGREGATIONS if m != aggregation][0]].items()
                                      if k != "per_subset"})
    return metrics, samples


# ---------------------------------------------------------------------------------------------------------------
# VL-RewardBench


def eval_vlrb(judge, items: Sequence[dict], params: SamplingParams, runs: int = 5, backbone: str = "qwen2.5-vl",
              style: str = "paper") -> tuple[dict, list[dict]]:
    """Pair judging with a random order swap per item (``numpy`` seed ``k``, p = 0.5), sampling seed ``k``;
    accuracy per [INFERRED] category, Overall (micro) and Macro (mean of the three), averaged over runs."""
    accs: dict[str, list[float]] = defaultdict(list)
    samples, oks = [], []
    for k in range(runs):
        rng = np.random.RandomState(k)
        swaps = [bool(rng.rand() < 0.5) for _ in items]
        prompts = []
        for it, sw in zip(items, swaps):
            r0, r1 = it["responses"][::-1] if sw else it["responses"]
            media = [("image", it["image"])] if it.get("image") is not None else []
            prompts.append(pair_prompt(it["question"], r0, r1, backbone=backbone if media else "text", media=media,
                                       style=style))
        texts = judge_runs(judge, prompts, params, [k])[0]
        hits: dict[str, list[bool]] = defaultdict(list)
        for it, sw, t in zip(items, swaps, texts):
            j = M.parse_vlrb(t, sw)
            ok = j.value == list(it["human_ranking"])
            hits[it.get("category", "general")].append(ok)
            hits["overall"].append(ok)
            oks.append(j.ok)
            samples.append({"id": it["id"], "run": k, "swapped": sw, "text": t, "pred": j.value, "parsed": j.ok,
                            "gold": it["human_ranking"], "correct": ok})
        cats = [c for c in ("general", "hallucination", "reasoning") if hits.get(c)]
        for c in cats + ["overall"]:
            accs[c].append(float(np.mean(hits[c])))
        accs["macro"].append(float(np.mean([np.mean(hits[c]) for c in cats])) if cats else float("nan"))
    metrics = {c: float(np.mean(v)) for c, v in accs.items()}
    metrics.update(parse_fail_rate=_fail_rate(oks), n_items=len(items), runs=runs)
    return metrics, samples


# ---------------------------------------------------------------------------------------------------------------
# MJ-Bench


def eval_mjbench(judge, items: Sequence[dict], params: SamplingParams, backbone: str = "qwen2.5-vl",
                 image_size: int | None = 336) -> tuple[dict, list[dict]]:
    """Two runs: k=0 in the dataset order, k=1 with the images reversed (non-tie predictions flipped back);
    accuracy w. tie (ties wrong) and w.o. tie (tie predictions left out), averaged over the two runs."""
    res = []
    samples, oks = [], []
    for k in (0, 1):
        prompts = []
        for it in items:
            a, b = resize_image(it["image0"], image_size), resize_image(it["image1"], image_size)
            if k == 1:
                a, b = b, a
            prompts.append(mjbench_prompt(it["caption"], a, b, split=it.get("split", "alignment"), backbone=backbone))
        texts = judge_runs(judge, prompts, params, [k])[0]
        preds = []
        for it, t in zip(items, texts):
            j = M.parse_mjbench(t, reversed_order=(k == 1))
            preds.append(j.value)
            oks.append(j.ok)
            samples.append({"id": it["id"], "run": k, "text": t, "pred": j.value, "parsed": j.ok, "gold": it["label"]})
        res.append(M.mjbench_accuracy(preds, [it["label"] for it in items]))
    metrics = {"w_tie": float(np.mean([r["w_tie"] for r in res])),
               "wo_tie": float(np.nanmean([r["wo_tie"] for r in res])) if any(r["n_wo_tie"] for r in res) else
               float("nan"), "parse_fail_rate": _fail_rate(oks), "n_items": len(items)}
    return metrics, samples


# ---------------------------------------------------------------------------------------------------------------
# GenAI-Bench


def eval_genai(judge, items: Sequence[dict], params: SamplingParams, runs: int = 7, backbone: str = "qwen2.5-vl",
               image_size: int | None = 448) -> tuple[dict, list[dict]]:
    """Four-option verdicts over ``runs`` samples (seed k): ``accuracy`` = mean single-run exact match;
    ``majority`` = accuracy of ``Counter.most_common`` over the runs."""
    prompts = []
    for it in items:
        if it["task"] == "video_generation":
            prompts.append(genai_prompt(it["task"], it["prompt"], it["a"], it["b"], backbone=backbone))
        elif it["task"] == "image_edition":
            prompts.append(genai_prompt(it["task"], it["prompt"], resize_image(it["a"], image_size),
                                        resize_image(it["b"], image_size), backbone=backbone,
                                        source_prompt=it["source_prompt"], target_prompt=it["target_prompt"],
                                        source_image=resize_image(it["source_image"], image_size)))
        else:
            prompts.append(genai_prompt(it["task"], it["prompt"], resize_image(it["a"], image_size),
                                        resize_image(it["b"], image_size), backbone=backbone))
    texts = judge_runs(judge, prompts, params, list(range(runs)))
    preds = [[M.parse_genai(t) for t in run] for run in texts]
    gold = [it["vote_type"] for it in items]
    per_run = [float(np.mean([p.value == g for p, g in zip(run, gold)])) for run in preds]
    voted = [M.vote_mode([preds[r][i].value for r in range(runs)]) for i in range(len(items))]
    samples = [{"id": items[i]["id"], "run": r, "text": texts[r][i], "pred": preds[r][i].value,
                "parsed": preds[r][i].ok, "gold": gold[i]} for r in range(runs) for i in range(len(items))]
    metrics = {"accuracy": float(np.mean(per_run)), "majority": float(np.mean([v == g for v, g in zip(voted, gold)])),
               "per_run": per_run, "parse_fail_rate": _fail_rate([p.ok for run in preds for p in run]),
               "n_items": len(items), "runs": runs}
    return metrics, samples


# ---------------------------------------------------------------------------------------------------------------
# audio


def eval_audio(judge, items: Sequence[dict], params: SamplingParams, kind: str = "nisqa",
               backbone: str = "qwen2.5-omni", system_means: dict[str, float] | None = None,
               audio_loader=load_audio) -> tuple[dict, list[dict]]:
    """NISQA / SOMOS / BVCC (MOS) and VoxSim (speaker similarity): utterance-level LCC, SRCC and MSE; with
    ``system_means`` (BVCC, SOMOS) also the system level (predictions averaged per ``item["system"]``)."""
    prompts = []
    for it in items:
        if kind == "voxsim":
            a1, a2 = it["audio"]
            prompts.append(voxsim_prompt(audio_loader(a1), audio_loader(a2), backbone=backbone))
        elif kind == "bvcc":
            prompts.append(bvcc_prompt(audio_loader(it["audio"]), backbone=backbone))
        elif kind in ("nisqa", "somos"):
            prompts.append(audio_mos_prompt(audio_loader(it["audio"]), backbone=backbone))
        else:
            raise ValueError(f"unknown audio benchmark {kind!r}")
    texts = judge_runs(judge, prompts, params, [0])[0]
    if kind == "bvcc":
        js = [M.parse_bvcc(t) for t in texts]
    else:
        js = [M.parse_audio(t, fallback=3.5 if kind == "voxsim" else 3.0) for t in texts]
    pred = [j.value for j in js]
    gold = [it["score"] for it in items]
    metrics = {"lcc": M.pearson0(pred, gold), "srcc": M.spearman0(pred, gold),
               "mse": float(np.mean((np.asarray(pred) - np.asarray(gold)) ** 2)),
               "parse_fail_rate": _fail_rate([j.ok for j in js]), "n_items": len(items)}
    if system_means:
        sys_pred = M.system_level(pred, [it["system"] for it in items])
        keys = [k for k in sys_pred if k in system_means]
        metrics["sys_lcc"] = M.pearson0([sys_pred[k] for k in keys], [system_means[k] for k in keys])
        metrics["sys_srcc"] = M.spearman0([sys_pred[k] for k in keys], [system_means[k] for k in keys])
    samples = [{"id": it["id"], "text": t, "pred": j.value, "parsed": j.ok, "gold": g}
               for it, t, j, g in zip(items, texts, js, gold)]
    return metrics, samples


# ---------------------------------------------------------------------------------------------------------------
# text judging (Table 10) and molecules (§4)


def eval_text_judge(judge, items: Sequence[dict], params: SamplingParams, style: str = "paper") -> tuple[dict, list[dict]]:
    """JudgeLM val / PandaLM test: pairwise scores -> A/B/C vs the gold verdict (from ``ref`` scores or ``gold``);
    agreement and macro precision / recall / F1."""
    prompts = [pair_prompt(it["question"], it["answer1"], it["answer2"], style=style) for it in items]
    texts = judge_runs(judge, prompts, params, [params.seed or 0])[0]
    js = [M.parse_pair(t) for t in texts]
    gold = [it.get("gold") or M.pair_from_scores(*it["ref"]) for it in items]
    metrics = M.text_judge_agreement([j.value for j in js], gold)
    metrics.update(parse_fail_rate=_fail_rate([j.ok for j in js]), n_items=len(items))
    samples = [{"id": it["id"], "text": t, "pred": j.value, "parsed": j.ok, "gold": g}
               for it, t, j, g in zip(items, texts, js, gold)]
    return metrics, samples


def pampa_best_of_n(judge, items: Sequence[dict], params: SamplingParams, trials: int = 10, seed: int = 0) -> dict:
    """Best-of-N with the judge (Flex-Mol-LLaMA, §4): each item has ``question``, ``responses`` (N) and ``correct``
    (N booleans); the judge scores every response once; per trial the top score wins (ties at random, seeded);
    accuracy mean and std over ``trials``."""
    prompts, owner = [], []
    for i, it in enumerate(items):
        for resp in it["responses"]:
            prompts.append(molecule_score_prompt(it["question"], resp))
            owner.append(i)
    texts = judge_runs(judge, prompts, params, [params.seed or 0])[0]
    scores: list[list[float | None]] = [[] for _ in items]
    oks = []
    for i, t in zip(owner, texts):
        j = M.parse_molecule_score(t)
        scores[i].append(j.value)
        oks.append(j.ok)
    accs = []
    for tr in range(trials):
        rng = random.Random(seed * 1000 + tr)
        accs.append(float(np.mean([it["correct"][M.best_of_n(s, rng)] for it, s in zip(items, scores)])))
    return {"accuracy": float(np.mean(accs)), "std": float(np.std(accs)), "parse_fail_rate": _fail_rate(oks),
            "trials": trials, "n_items": len(items)}
