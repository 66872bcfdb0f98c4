"""Stage orchestration: base -> sample -> select + SFT (per method) -> greedy eval -> report.

Every expensive step is a stage of the run directory, so ``--resume`` skips finished stages.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from mlrepro.runs import atomic_write_json, atomic_write_jsonl, claim, format_table, get_logger, read_jsonl

from . import data as D
from .evaluate import count_tokens, relative_to_base, score_output, shared_grade, summarize
from .method import (
    PREMISE_MAX_GAP,
    Candidate,
    augment,
    budget_matched,
    direct_text,
    expected_shortest_correct,
    few_shot_messages,
    filter_candidates,
    premise_gap,
    premise_met,
    select,
    zero_shot_messages,
)

log = get_logger("mlrepro.concise")


# ---------------------------------------------------------------------------------------------------------------
# prompts: the miniature uses plain-text prompts for a tiny pre-trained LM; real models use chat messages for
# sampling (zero-shot IRPO / 8-shot) and the direct format for SFT and the evaluation of trained models
# ---------------------------------------------------------------------------------------------------------------
def _synthetic(cfg) -> bool:
    return cfg.data.dataset == "synthetic"


def zs_sampling_prompt(cfg, q: str):
    return D.zs_prompt(q) if _synthetic(cfg) else zero_shot_messages(q)


def fs_sampling_prompt(cfg, q: str, exemplars, rng):
    if _synthetic(cfg):
        return D.fs_prompt(q, exemplars, rng, cfg.data.shots)
    return few_shot_messages(q, exemplars, rng, cfg.data.shots)


def sft_pair(cfg, q: str, rationale: str | None, tokenizer) -> tuple[str, str]:
    if _synthetic(cfg):
        return D.zs_prompt(q), ("" if rationale is None else " " + rationale + tokenizer.eos_token)
    bos = tokenizer.bos_token if (cfg.model.bos and tokenizer.bos_token) else None
    return direct_text(q, rationale, bos=bos, eos=tokenizer.eos_token)


def _stop(cfg):
    return [D.PROMPT_SEP] if _synthetic(cfg) else None


# ---------------------------------------------------------------------------------------------------------------
def _make_sampler(cfg, model_path, batch_size):
    from mlrepro.sampling import get_sampler

    kw = {"model": str(model_path), "batch_size": batch_size}
    if cfg.sampling.backend in ("vllm", "auto"):
        kw["tensor_parallel_size"] = cfg.sampling.tensor_parallel_size
    return get_sampler(cfg.sampling.backend, **kw)


def stage_base(cfg, d: Path) -> dict:
    """The base model: a hub id / path as given, or (``tiny``) a tiny LM pre-trained here on the synthetic world."""
    if cfg.model.base != "tiny":
        return {"path": cfg.model.base}
    from mlrepro.testing import build_model, build_tokenizer, check_tokenizer_roundtrip

    from .trainer import pretrain_tiny

    p = cfg.pretrain
    docs = D.pretrain_documents(p.documents, cfg.seed + 12345, cfg.data.difficulties, dict(p.style_mix),
                                tuple(p.examples_per_doc), D.world_of(cfg))
    tok = build_tokenizer(docs[:2000], vocab_size=cfg.model.vocab, model_max_length=2048)
    model = build_model(tok, layers=cfg.model.layers, hidden=cfg.model.hidden, heads=cfg.model.heads,
                        kv_heads=cfg.model.kv_heads, seed=cfg.seed)
    stats = pretrain_tiny(docs, tok, model, p.lr, p.batch_size, p.epochs, p.max_length, cfg.seed)
    model.save_pretrained(d / "model")
    tok.save_pretrained(d / "model")
    check_tokenizer_roundtrip(tok, d / "model", docs[:20])  # sampling/SFT reload it with AutoTokenizer
    return {"path": str(d / "model"), **stats}


def stage_sample(cfg, d: Path, base_path: str, train: list[dict], exemplars: list[dict], seed: int) -> dict:
    """16 zero-shot and 16 few-shot samples per training question (T=0.7, top-k 40, top-p 0.95; digest §2.1)."""
    from transformers import AutoTokenizer

    from mlrepro.sampling import SamplingParams

    tok = AutoTokenizer.from_pretrained(base_path)
    s = cfg.sampling
    sampler = _make_sampler(cfg, base_path, s.batch_size)
    rng = random.Random(seed)
    params = dict(temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, max_new_tokens=s.max_new_tokens, stop=_stop(cfg))
    zs = sampler.generate([zs_sampling_prompt(cfg, r["question"]) for r in train],
                          SamplingParams(n=s.n_zero_shot, seed=seed, **params))
    # a fresh random exemplar order for every few-shot sample: one prompt per (question, sample)
    fs_prompts = [fs_sampling_prompt(cfg, r["question"], exemplars, rng) for r in train for _ in range(s.n_few_shot)]
    fs_flat = sampler.generate(fs_prompts, SamplingParams(n=1, seed=seed + 1, **params)) if s.n_few_shot else []
    rows, unparseable = [], 0
    for i, r in enumerate(train):
        for src, outs in (("zs", zs[i]), ("fs", [fs_flat[i * s.n_few_shot + j][0] for j in range(s.n_few_shot)])):
            for j, c in enumerate(outs):
                ans, ok = score_output(c.text, r, cfg.data.dataset)
                unparseable += ans is None
                rows.append({"qid": r["id"], "source": src, "k": j, "rationale": c.text.strip(), "answer": ans,
                             "correct": ok, "token_count": count_tokens(c.text, tok), "finish": c.finish_reason,
                             "label": str(r["answer"]), "difficulty": r.get("difficulty")})
    atomic_write_jsonl(d / "candidates.jsonl", rows)
    zs_rows = [x for x in rows if x["source"] == "zs"]
    fs_rows = [x for x in rows if x["source"] == "fs"]
    return {"n": len(rows), "unparseable": unparseable,
            "zs_accuracy": float(np.mean([x["correct"] for x in zs_rows])),
            "fs_accuracy": float(np.mean([x["correct"] for x in fs_rows])) if fs_rows else None,
            "zs_mean_tokens": float(np.mean([x["token_count"] for x in zs_rows])),
            "fs_mean_tokens": float(np.mean([x["token_count"] for x in fs_rows])) if fs_rows else None}


def _graded_answer(x: dict) -> str | None:
    """The answer field of a Candidate such that ``Candidate.correct`` equals the graded verdict of the sampling stage
    (identical to the parsed answer for GSM8K-style data; for MATH the verdict comes from the candidate-set compare)."""
    if x["correct"]:
        return x["label"]
    return None if x["answer"] == x["label"] else x["answer"]


def _cands(rows: list[dict], source: str, k: int) -> list[Candidate]:
    return [Candidate(x["qid"], x["rationale"], _graded_answer(x), x["token_count"], x["label"], x["source"])
            for x in rows if x["source"] == source and x["k"] < k]


def method_pool(cfg, method: str, rows: list[dict], n: int | None = None) -> list[Candidate]:
    s, m = cfg.sampling, cfg.method
    if method == "naive_bon":
        return _cands(rows, "zs", n)
    if method == "fs":  # one few-shot sample + the zero-shot augmentation pool (digest §2.1)
        return augment(_cands(rows, "fs", 1), _cands(rows, "zs", s.n_zero_shot))
    if method in ("fs_bon", "fs_bon_faithful"):
        return augment(_cands(rows, "fs", s.n_few_shot), _cands(rows, "zs", s.n_zero_shot))
    if method == "fs_bon_budget":
        return budget_matched(_cands(rows, "fs", s.n_few_shot), _cands(rows, "zs", s.n_zero_shot), m.budget_fs, m.budget_zs)
    raise ValueError(method)


def stage_sft(cfg, d: Path, base_path: str, train: list[dict], rows: list[dict], method: str, n: int | None, seed: int) -> dict:
    from transformers import AutoTokenizer

    from .trainer import sft

    tok = AutoTokenizer.from_pretrained(base_path)
    pool = method_pool(cfg, method, rows, n)
    kept, stats = filter_candidates(pool, cfg.sampling.max_new_tokens)
    if method == "fs_bon_faithful":  # diagnostic (synthetic world): keep only paths with the true equations
        probs = {r["id"]: r["_problem"] for r in train}
        faithful = [c for c in kept if _is_faithful(c, probs[c.qid])]
        stats["unfaithful"], kept = len(kept) - len(faithful), faithful
    chosen = select(kept, cfg.method.selection)
    qtext = {r["id"]: r["question"] for r in train}
    recs = []
    for c in chosen:
        p, comp = sft_pair(cfg, qtext[c.qid], c.rationale, tok)
        recs.append({"prompt": p, "completion": comp})
    if not recs:  # nothing survived filtering (e.g. an untrained smoke model): keep the base, say so
        log.warning("%s: no correct candidate survived filtering; the base model stands in for the SFT model", method)
        return {"path": base_path, "skipped": "no correct candidates", "filter": stats, "n_examples": 0,
                "n_questions": len(train), "train_mean_tokens": None}
    path = sft(base_path, recs, d, dict(cfg.trainer), seed, cfg.model.dtype)
    return {"path": str(path), "filter": stats, "n_examples": len(chosen), "n_questions": len(train),
            "train_mean_tokens": float(np.mean([c.token_count for c in chosen])) if chosen else None,
            "train_faithful_frac": faithful_fraction(chosen, train)}


def faithful_fraction(chosen: list[Candidate], train: list[dict]) -> float | None:
    """Synthetic world only (diagnostic, not in the paper): the fraction of selected training paths whose equations
    are exactly the problem's true steps. Answer-only correctness filtering also admits paths whose final answer is
    right by luck (answers are single digits here); this measures how many."""
    probs = {r["id"]: r.get("_problem") for r in train}
    if not chosen or any(probs.get(c.qid) is None for c in chosen):
        return None
    return sum(_is_faithful(c, probs[c.qid]) for c in chosen) / len(chosen)


def _is_faithful(c: Candidate, problem) -> bool:
    """The path's equations are exactly the problem's true steps, in order."""
    from mlrepro.tasks import parse_steps

    v = problem.values()
    return parse_steps(c.rationale) == [(v[i], op.symbol, op.operand, v[i + 1]) for i, op in enumerate(problem.ops)]


def stage_eval(cfg, d: Path, model_path: str, test: list[dict], trained: bool) -> dict:
    """Greedy evaluation; base models get the zero-shot prompt, trained models the direct SFT format."""
    from transformers import AutoTokenizer

    from mlrepro.sampling import SamplingParams

    tok = AutoTokenizer.from_pretrained(model_path)
    sampler = _make_sampler(cfg, model_path, cfg.eval.batch_size)
    if trained or _synthetic(cfg):
        prompts = [sft_pair(cfg, r["question"], None, tok)[0] for r in test]
    else:
        prompts = [zero_shot_messages(r["question"]) for r in test]
    outs = sampler.generate(prompts, SamplingParams(n=1, temperature=0.0, max_new_tokens=cfg.eval.max_new_tokens, stop=_stop(cfg)))
    rows = []
    for r, o in zip(test, outs):
        text = o[0].text
        ans, ok = score_output(text, r, cfg.data.dataset)
        rows.append({"id": r["id"], "difficulty": r.get("difficulty"), "answer": ans, "gold": str(r["answer"]),
                     "correct": ok, "shared_correct": shared_grade(text, r, cfg.data.dataset),
                     "tokens": count_tokens(text, tok), "output": text})
    atomic_write_jsonl(d / "outputs.jsonl", rows)
    return summarize(rows)


def stage_base_style(cfg, d: Path, base_path: str, test: list[dict], exemplars: list[dict]) -> dict:
    """Precondition check on the base model alone (no SFT, no claims): greedy test accuracy when few-shot exemplars
    force a style, against the zero-shot prompt. The paper's premise is that the base can already reason concisely
    (its concise few-shot outputs are nearly as accurate as its default ones); we call it met when the accuracy
    under the concise exemplars is within ``PREMISE_MAX_GAP`` points of zero-shot (:func:`method.premise_met`).
    Synthetic world: every style's exemplars (the concise prompt is ``data.exemplars``); otherwise the configured
    exemplar file."""
    from transformers import AutoTokenizer

    from mlrepro.sampling import SamplingParams

    tok = AutoTokenizer.from_pretrained(base_path)
    sampler = _make_sampler(cfg, base_path, cfg.eval.batch_size)
    syn = _synthetic(cfg)
    if syn:
        forced = {f"few_shot_{st}": D.load_exemplars(st, cfg.seed, cfg.data.difficulties, cfg.data.shots, D.world_of(cfg))
                  for st in D.STYLES}
        concise = f"few_shot_{cfg.data.exemplars}" if cfg.data.exemplars in D.STYLES else "few_shot_exemplars"
        if concise not in forced:
            forced[concise] = exemplars
    else:
        concise, forced = "few_shot_exemplars", {"few_shot_exemplars": exemplars}
    rng = random.Random(cfg.seed + 31)
    conds = {"zero_shot": [zs_sampling_prompt(cfg, r["question"]) for r in test]}
    conds.update({k: [fs_sampling_prompt(cfg, r["question"], ex, rng) for r in test] for k, ex in forced.items()})
    flat = [p for ps in conds.values() for p in ps]
    outs = sampler.generate(flat, SamplingParams(n=1, temperature=0.0, max_new_tokens=cfg.eval.max_new_tokens, stop=_stop(cfg)))
    res, recs, i = {}, [], 0
    for name in conds:
        rows = []
        for r in test:
            text = outs[i][0].text
            i += 1
            ans, ok = score_output(text, r, cfg.data.dataset)
            rows.append({"condition": name, "id": r["id"], "answer": ans, "correct": ok, "tokens": count_tokens(text, tok),
                         "style": D.classify_style(text) if syn else None, "output": text})
        recs += rows
        res[name] = {"accuracy": 100.0 * float(np.mean([x["correct"] for x in rows])),
                     "mean_tokens": float(np.mean([x["tokens"] for x in rows])),
                     "unparseable": int(sum(x["answer"] is None for x in rows))}
        if syn:
            res[name]["style_share"] = {st: float(np.mean([x["style"] == st for x in rows])) for st in (*D.STYLES, "other")}
    atomic_write_jsonl(d / "outputs.jsonl", recs)
    zs, cc = res["zero_shot"]["accuracy"], res[concise]["accuracy"]
    return {"conditions": res, "premise": {"concise_condition": concise, "gap_points": premise_gap(cc, zs),
                                           "max_gap_points": PREMISE_MAX_GAP, "met": premise_met(cc, zs)}}


def sample_efficiency(rows: list[dict], ns: list[int]) -> dict:
    """Expected relative length of the shortest correct zero-shot path among N draws (exact order statistics), per
    question relative to the mean length of its correct paths, averaged over questions with a correct path; and
    the same for one few-shot sample (Fig. 3 analogue)."""
    by: dict[str, dict[str, list]] = {}
    for x in rows:
        by.setdefault(x["qid"], {"zs": [], "fs": []})[x["source"]].append(x)
    out = {}
    for n in ns:
        vals = []
        for g in by.values():
            zs = g["zs"]
            corr = [x["token_count"] for x in zs if x["correct"]]
            if not corr or n > len(zs):
                continue
            e = expected_shortest_correct([x["token_count"] for x in zs], [x["correct"] for x in zs], n)
            vals.append(100.0 * e / float(np.mean(corr)))
        out[str(n)] = float(np.mean(vals)) if vals else None
    fs_vals = []
    for g in by.values():
        corr = [x["token_count"] for x in g["zs"] if x["correct"]]
        fsc = [x["token_count"] for x in g["fs"] if x["correct"]]
        if corr and fsc:
            fs_vals.append(100.0 * float(np.mean(fsc)) / float(np.mean(corr)))
    out["few_shot_1"] = float(np.mean(fs_vals)) if fs_vals else None
    return out


def method_names(cfg) -> list[tuple[str, str, int | None]]:
    out = []
    for m in cfg.method.methods:
        if m == "naive_bon":
            out += [(f"naive_bon_{n}", m, n) for n in cfg.method.bon_n]
        else:
            out.append((m, m, None))
    return out


def run_reproduce(cfg, run, args) -> dict:
    t0 = time.time()
    if args.dry_run:
        return dry_run(cfg, run)
    base = run.stage("base", lambda d: stage_base(cfg, d))
    base_path = base["path"]
    run.update_env(base_model=base_path, sampler=cfg.sampling.backend)
    train, test = D.load_split(cfg, "train"), D.load_split(cfg, "test")
    exemplars = D.load_exemplars(cfg.data.exemplars, cfg.seed, cfg.data.difficulties, cfg.data.shots, D.world_of(cfg))
    base_eval = run.stage("eval_base", lambda d: stage_eval(cfg, d, base_path, test, trained=False))
    base_style = run.stage("base_style", lambda d: stage_base_style(cfg, d, base_path, test, exemplars))
    log.info("precondition (base model): %s", _premise_line(base_style))
    per_seed: dict[str, dict] = {}
    efficiency = {}
    for seed in cfg.seeds:
        samp = run.stage(f"sample_s{seed}", lambda d, s=seed: stage_sample(cfg, d, base_path, train, exemplars, s))
        rows = read_jsonl(run.stage_dir(f"sample_s{seed}") / "candidates.jsonl")
        efficiency[str(seed)] = sample_efficiency(rows, cfg.eval.efficiency_n)
        res = {"sampling": samp}
        for name, m, n in method_names(cfg):
            tr = run.stage(f"sft_{name}_s{seed}", lambda d, m=m, n=n, s=seed, r=rows: stage_sft(cfg, d, base_path, train, r, m, n, s))
            ev = run.stage(f"eval_{name}_s{seed}", lambda d, p=tr["path"]: stage_eval(cfg, d, p, test, trained=True))
            res[name] = {"train": tr, "eval": ev, "relative": relative_to_base(ev, base_eval)}
            run.log_metrics({"seed": seed, "method": name, **{k: ev[k] for k in ("accuracy", "mean_tokens")},
                             "reduction": res[name]["relative"]["reduction"]})
        per_seed[str(seed)] = res
    return report(cfg, run, base_eval, per_seed, efficiency, time.time() - t0, base_style)


def _premise_line(bs: dict) -> str:
    p = bs["premise"]
    accs = ", ".join(f"{k} {v['accuracy']:.1f}%" for k, v in bs["conditions"].items())
    return (f"greedy accuracy {accs}; {p['concise_condition']} - zero_shot = {p['gap_points']:+.1f} points "
            f"(premise {'met' if p['met'] else 'NOT met'}: gap >= -{p['max_gap_points']:.0f})")


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def report(cfg, run, base_eval, per_seed, efficiency, wall, base_style: dict | None = None) -> dict:
    from .plots import plot_accuracy_vs_tokens, plot_reduction_vs_n

    names = [n for n, _, _ in method_names(cfg)]
    agg = {}
    for name in names:
        rs = [per_seed[s][name] for s in per_seed]
        agg[name] = {
            "accuracy": _mean([r["eval"]["accuracy"] for r in rs]),
            "accuracy_std": float(np.std([r["eval"]["accuracy"] for r in rs])),
            "mean_tokens": _mean([r["eval"]["mean_tokens"] for r in rs]),
            "reduction": _mean([r["relative"]["reduction"] for r in rs]),
            "reduction_std": float(np.std([r["relative"]["reduction"] for r in rs])),
            "accuracy_delta": _mean([r["relative"]["accuracy_delta"] for r in rs]),
            "train_mean_tokens": _mean([r["train"]["train_mean_tokens"] for r in rs]),
            "train_faithful_frac": _mean([r["train"].get("train_faithful_frac") for r in rs]),
            "n_examples": _mean([r["train"]["n_examples"] for r in rs]),
            "unparseable": _mean([r["eval"]["unparseable"] for r in rs]),
            "reduction_by_difficulty": {d: _mean([r["relative"]["reduction_by_difficulty"].get(d) for r in rs])
                                        for d in base_eval["by_difficulty"]},
        }
    eff = {k: _mean([efficiency[s][k] for s in efficiency]) for k in next(iter(efficiency.values()))}
    metrics = {"base": base_eval, "methods": agg, "sample_efficiency_rel_length": eff, "per_seed": per_seed,
               "sampling_unparseable": sum(per_seed[s]["sampling"]["unparseable"] for s in per_seed),
               "eval_unparseable": base_eval["unparseable"] + sum(per_seed[s][n]["eval"]["unparseable"]
                                                                  for s in per_seed for n in names),
               "grader_disagreements": base_eval.get("grader_disagreements", 0) + sum(
                   per_seed[s][n]["eval"].get("grader_disagreements", 0) for s in per_seed for n in names)}
    if base_style is not None:  # the precondition on the base model (not a claim of the paper)
        metrics["base_style_accuracy"] = {k: v["accuracy"] for k, v in base_style["conditions"].items()}
        metrics["base_style"] = base_style
        metrics["premise_met"] = base_style["premise"]["met"]

    claims = []
    if "fs_bon" in agg:
        a = agg["fs_bon"]
        claims.append(claim("fs_bon_reduces_length",
                            f"FS-BoN ({cfg.sampling.n_few_shot} few-shot + {cfg.sampling.n_zero_shot} zero-shot samples, "
                            "shortest correct) cuts mean output tokens by >= 20% with accuracy within 2 points of the "
                            "base model (mean of seeds)",
                            {"reduction_pct": 35.75, "rel_accuracy_pct": 97.0, "source": "Table 2, GSM8K avg"},
                            {"reduction_pct": a["reduction"], "accuracy_delta_points": a["accuracy_delta"]},
                            a["reduction"] >= 20.0 and a["accuracy_delta"] >= -2.0))
    bon = [(n, agg[f"naive_bon_{n}"]["reduction"]) for n in cfg.method.bon_n if f"naive_bon_{n}" in agg]
    if len(bon) >= 2:
        red = [r for _, r in sorted(bon)]
        claims.append(claim("bon_reduction_grows_with_n",
                            "naive BoN's test length reduction grows with N (non-decreasing over the N swept, and "
                            "larger at the largest N than at N=1)",
                            "Fig. 3: relative length falls ~log-linearly in N",
                            {str(n): r for n, r in sorted(bon)},
                            all(b >= a - 1e-9 for a, b in zip(red, red[1:])) and red[-1] > red[0]))
    if "fs_bon" in agg:
        rbd = agg["fs_bon"]["reduction_by_difficulty"]
        ds = sorted(rbd, key=int)
        if len(ds) >= 2 and rbd[ds[0]] is not None and rbd[ds[-1]] is not None:
            claims.append(claim("harder_smaller_reduction",
                                "harder problems get a smaller relative reduction (FS-BoN, easiest vs hardest level)",
                                "Fig. 5: 20-40% on MATH levels 1-2, ~5% on level 5", rbd, rbd[ds[-1]] < rbd[ds[0]]))
    plot_accuracy_vs_tokens(base_eval, agg, run.plots_dir / "accuracy_vs_tokens.png")
    plot_reduction_vs_n(bon, eff, run.plots_dir / "reduction_vs_n.png")
    rows = [{"method": "base", "acc": base_eval["accuracy"], "tokens": base_eval["mean_tokens"], "reduction%": 0.0,
             "train_tokens": None, "faithful": None}]
    rows += [{"method": n, "acc": a["accuracy"], "tokens": a["mean_tokens"], "reduction%": a["reduction"],
              "train_tokens": a["train_mean_tokens"], "faithful": a["train_faithful_frac"]} for n, a in agg.items()]
    print(format_table(rows, floatfmt=".1f"))
    if base_style is not None:
        print(format_table([{"base prompt": k, "acc": v["accuracy"], "tokens": v["mean_tokens"],
                             **{f"{st}%": 100.0 * f for st, f in v.get("style_share", {}).items()}}
                            for k, v in base_style["conditions"].items()], floatfmt=".1f"))
        print("precondition (base model):", _premise_line(base_style))
    return run.write_results(metrics, claims, cfg.expected, seeds=list(cfg.seeds), wall_time_s=wall)


def dry_run(cfg, run) -> dict:
    """Resolve config, build the data pipeline on test-made data and every component with a tiny model."""
    from mlrepro.sampling import get_sampler
    from mlrepro.testing import tiny_lm

    tiny = tiny_lm(cache_dir=run.path / "tiny")
    recs = D.synthetic_records(4, cfg.seed, [1, 2], "medium")
    ex = D.load_exemplars("terse", cfg.seed, [1, 2], cfg.data.shots)
    rng = random.Random(0)
    zs = [zs_sampling_prompt(cfg, r["question"]) for r in recs]
    fs = [fs_sampling_prompt(cfg, r["question"], ex, rng) for r in recs]
    sampler = get_sampler("hf", model=str(tiny), batch_size=8)
    from mlrepro.sampling import SamplingParams

    outs = sampler.generate(zs + fs, SamplingParams(n=2, temperature=0.7, top_k=40, top_p=0.95, max_new_tokens=8, seed=0))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny))
    rows = [{"qid": r["id"], "source": "zs", "k": j, "rationale": c.text, "answer": None, "correct": False,
             "token_count": count_tokens(c.text, tok), "label": r["answer"]} for r, o in zip(recs, outs) for j, c in enumerate(o)]
    pools = {m: len(method_pool(cfg, m, rows, 1)) for m in cfg.method.methods}
    info = {"dry_run": True, "prompts": len(zs) + len(fs), "pools": pools, "sampling_backend_configured": cfg.sampling.backend,
            "base_model": cfg.model.base, "sft_kwargs": {**__import__("mlrepro_concise.trainer", fromlist=["x"]).SFT_DEFAULTS, **cfg.trainer}}
    atomic_write_json(run.path / "dry_run.json", info)
    log.info("dry run ok: %s", info)
    return info
