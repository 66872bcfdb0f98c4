"""Stage orchestration: seed_data -> curate -> base -> eval_base -> train -> eval_trained [-> ablation] [-> tts]
-> report. Every stage is a ``RunDir.stage`` (``--resume`` skips finished ones; training resumes from its last
checkpoint when the trainer saves any).

One code path for all recipes: the paper recipe generates with JudgeLRM-7B through vLLM, trains Qwen2.5-VL-7B /
Omni-7B with trl under ``accelerate launch`` (ZeRO-3, CPU optimizer offload) and evaluates on the benchmarks by
HF id; mini/smoke use the synthetic world, the rule-based teacher and a tiny Qwen2.5-VL built from its config.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlrepro.runs import atomic_write_text, claim, get_logger, read_json
from mlrepro.sampling import SamplingParams

from . import curate as C
from . import data as D
from .config import TEXT_SETS

log = get_logger("mlrepro.flexjudge")

__all__ = ["reproduce", "train_only", "eval_only", "dry_run", "build_eval_items", "evaluate_model"]


def _jsonl_write(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))


def _jsonl_read(path: Path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def _threads(cfg) -> None:
    if cfg.train.cpu_threads:
        import torch

        torch.set_num_threads(int(cfg.train.cpu_threads))


def _world(cfg) -> dict:
    return {"max_value": cfg.seed_data.world_max_value, "max_operand": cfg.seed_data.world_max_operand}


# ---------------------------------------------------------------------------------------------------------------
# stages 1-2: seed data and curation


def _teacher(cfg):
    sd = cfg.seed_data
    if sd.teacher == "rule":
        return D.make_teacher(noise=sd.teacher_noise, malformed=sd.teacher_malformed)
    from mlrepro.sampling import get_sampler

    kw: dict[str, Any] = {"model": sd.teacher}
    if sd.teacher_backend == "vllm":
        kw["tensor_parallel_size"] = sd.teacher_tensor_parallel
    return get_sampler(sd.teacher_backend, **kw)


def seed_records(cfg) -> list[dict]:
    sd = cfg.seed_data
    if sd.source == "synthetic":
        return D.judgelm_world(sd.n_synthetic, seed=cfg.seed + 1, **_world(cfg))
    return D.load_judgelm(sd.source, sd.split, sd.limit)


def stage_seed_data(cfg, stage_dir: Path) -> dict:
    sd = cfg.seed_data
    recs = seed_records(cfg)
    sampler = _teacher(cfg)
    files = []
    for s in sd.seeds:
        p = SamplingParams(temperature=sd.temperature, top_p=sd.top_p, max_new_tokens=sd.max_new_tokens, seed=int(s))
        rows = D.generate_seed_traces(recs, sampler, [p], style=sd.prompt_style, progress=True)
        name = f"{Path(sd.teacher).name.lower()}_{s}_{sd.temperature}.jsonl"  # official file naming
        _jsonl_write(stage_dir / name, rows)
        files.append(name)
    return {"records": len(recs), "files": files}


def _token_counter(cfg):
    if cfg.curate.token_counter == "whitespace" or cfg.seed_data.teacher == "rule":
        return C.whitespace_tokens
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.seed_data.teacher, trust_remote_code=False)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def stage_curate(cfg, seed_dir: Path, stage_dir: Path) -> dict:
    cu = cfg.curate
    rows = [r for f in sorted(seed_dir.glob("*.jsonl")) for r in _jsonl_read(f)]
    examples, stats = C.curate(rows, n_pair=cu.n_pair, n_single=cu.n_single, min_pair_tokens=cu.min_pair_tokens,
                               min_single_tokens=cu.min_single_tokens, rescale_fraction=cu.rescale_fraction,
                               seed=cu.seed, count=_token_counter(cfg))
    eos = "<|im_end|>" if cfg.train.append_eos else None
    train = [C.render_example(e, style=cfg.seed_data.prompt_style, eos=eos) for e in examples]
    _jsonl_write(stage_dir / "examples.jsonl", examples)
    _jsonl_write(stage_dir / "train.jsonl", train)
    # the official intermediate file: all exact-match, deduplicated rows
    kept, _ = C.filter_exact_match(rows)
    _jsonl_write(stage_dir / "final_pool.jsonl", [{"prompt": r["prompt"], "text": r["text"]}
                                                  for r in C.dedup_longest(kept)])
    return stats


def _train_records(cfg, run) -> list[dict]:
    if cfg.seed_data.train_file:
        rows = D.load_records_any(cfg.seed_data.train_file)
        eos = "<|im_end|>" if cfg.train.append_eos else ""
        out = []
        for r in rows:  # official format: prompt ends with "<think>\n", text follows
            if "completion" in r:
                out.append(r)
                continue
            head, sep, think = r["prompt"].rpartition("<|im_start|>assistant\n")
            if not sep:
                raise ValueError("train_file prompt lacks the assistant header")
            out.append({"prompt": head + sep, "completion": think + r["text"] + eos, "text": r["text"]})
        return out
    return _jsonl_read(run.stage_dir("curate") / "train.jsonl")


# ---------------------------------------------------------------------------------------------------------------
# stage 3: base model


def stage_base(cfg, train: list[dict], stage_dir: Path) -> dict:
    if not cfg.model.tiny:
        return {"path": cfg.model.name_or_path, "tiny": False}
    from .tiny import build_judge_tokenizer, build_tiny_vl, save_tiny_vl

    m = cfg.model
    corpus = [r["prompt"] + r["completion"] for r in train]
    tok = build_judge_tokenizer(corpus, vocab_size=m.tiny_vocab, model_max_length=max(1024, cfg.train.max_length))
    model, proc = build_tiny_vl(tok, hidden=m.tiny_hidden, layers=m.tiny_layers, heads=m.tiny_heads,
                                kv_heads=m.tiny_kv_heads, seed=cfg.seed,
                                min_pixels=28 * 28, max_pixels=m.tiny_image_size * m.tiny_image_size)
    path = save_tiny_vl(model, proc, stage_dir / "model")
    return {"path": str(path), "tiny": True, "params": int(sum(p.numel() for p in model.parameters())),
            "vocab": len(tok)}


# ---------------------------------------------------------------------------------------------------------------
# stage: training


def _cpu_trainer(cfg) -> dict:
    import torch

    t = dict(cfg.trainer)
    if not torch.cuda.is_available():
        t.update(use_cpu=True, bf16=False, fp16=False)
    return t


def _load_for_training(cfg, base_path: str):
    if cfg.model.tiny:
        from .tiny import load_vl

        model, proc = load_vl(base_path)
        tok = proc.tokenizer
        tok.padding_side = "right"
        return model, tok, proc
    from .trainer import load_for_sft

    model, tok = load_for_sft(base_path, cfg.model.arch, cfg.model.dtype, cfg.model.attn_implementation)
    return model, tok, None


def stage_train(cfg, run, base_path: str, stage_dir: Path, answer_first: bool = False) -> dict:
    from .method import reorder_answer_first
    from .trainer import sft_train, tokenize_sft

    _threads(cfg)
    records = _train_records(cfg, run)
    if answer_first:
        eos = "<|im_end|>" if cfg.train.append_eos else ""
        records = [dict(r, completion=reorder_answer_first(r["completion"].removesuffix(eos)) + eos)
                   for r in records]
    model, tok, proc = _load_for_training(cfg, base_path)
    examples, tstats = tokenize_sft(tok, records, max_length=cfg.train.max_length, family=cfg.train.family)
    log.info("SFT data: %s", tstats)
    from mlrepro.runs import is_main_process

    t0 = time.time()
    omni = cfg.model.arch == "qwen2.5-omni" and not cfg.model.tiny
    out = stage_dir / "model"
    saved = stage_dir / "thinker" if omni else out
    res = sft_train(model, tok, examples, _cpu_trainer(cfg), stage_dir / "trainer", max_length=cfg.train.max_length,
                    seed=cfg.seed, resume=(stage_dir / "trainer").exists(), save_dir=saved)
    if is_main_process():
        if omni:  # the trained thinker goes back into the full Omni model
            from .trainer import merge_omni_thinker

            merge_omni_thinker(cfg.model.name_or_path, saved, out, cfg.model.dtype)
        if proc is not None:
            proc.image_processor.save_pretrained(out)
    for h in res["log_history"]:
        if "loss" in h:
            run.log_metrics({"train_loss": h["loss"], "stage": stage_dir.name}, step=int(h.get("step", 0)))
    return {"path": str(out), "steps": res["steps"], "loss": res["loss"], "tokens": tstats,
            "train_time_s": round(time.time() - t0, 1),
            "loss_curve": [[int(h.get("step", 0)), h["loss"]] for h in res["log_history"] if "loss" in h]}


def launch_training(cfg, run) -> dict:
    """Paper: ``accelerate launch --config_file <ZeRO-3 offload> -m mlrepro_flexjudge.cli train`` on this run
    directory (the earlier stages are DONE there, so only the training stage runs in every rank)."""
    from mlrepro.training import launch

    from .trainer import write_accelerate_config

    acfg = cfg.train.accelerate_config
    if acfg == "paper":
        acfg = str(write_accelerate_config(run.path / "accelerate_zero3_offload.yaml", cfg.train.num_processes))
    proc = launch("mlrepro_flexjudge.cli", ["train", "--recipe", str(run.path / "config.yaml"), "--output-dir",
                                            str(run.path), "--no-export"],
                  config=acfg, num_processes=cfg.train.num_processes)
    return {"returncode": getattr(proc, "returncode", None), "config": acfg}


# ---------------------------------------------------------------------------------------------------------------
# evaluation


def build_eval_items(cfg, exclude: set[str]) -> dict[str, list[dict]]:
    e = cfg.eval
    return D.eval_world(e.n_pair, e.n_score, e.n_batch, e.n_image, seed=e.seed, exclude=exclude, **_world(cfg))


def _make_judges(cfg, model_path: str):
    """(text judge, vl judge) for a model folder / hub id."""
    from .inference import TextJudge, VLJudge

    if cfg.model.tiny:
        from mlrepro.sampling import get_sampler

        from .tiny import load_vl

        model, proc = load_vl(model_path)
        proc.tokenizer.padding_side = "left"
        text = TextJudge(get_sampler("hf", model=model, tokenizer=proc.tokenizer, batch_size=cfg.sampling.batch_size))
        vl = VLJudge(model, proc, backend="transformers", batch_size=cfg.eval.batch_size)
        return text, vl
    vl = VLJudge(model_path, backend=cfg.eval.judge_backend, batch_size=cfg.eval.batch_size,
                 vllm_kwargs={"tensor_parallel_size": cfg.eval.tensor_parallel})
    text = vl
    if cfg.sampling.backend not in ("auto",) or cfg.eval.judge_backend != "vllm":
        from mlrepro.sampling import get_sampler

        text = TextJudge(get_sampler(cfg.sampling.backend, model=model_path, batch_size=cfg.sampling.batch_size))
    return text, vl


def _bench_params(cfg, mllm: bool = False, temperature: float | None = None) -> SamplingParams:
    e = cfg.eval
    t = temperature if temperature is not None else (e.temperature if mllm else e.bench_temperature)
    return SamplingParams(temperature=t, top_p=e.top_p if mllm else e.bench_top_p, max_new_tokens=e.max_new_tokens)


def evaluate_model(cfg, run, model_path: str, items: dict[str, list[dict]], name: str) -> dict:
    """Every configured set for one model; samples go to ``samples_<name>.jsonl``."""
    from . import evaluate as E

    _threads(cfg)
    text_judge, vl_judge = _make_judges(cfg, model_path)
    e = cfg.eval
    seeds = list(range(e.runs))
    out: dict[str, Any] = {}
    samples: list[dict] = []
    style = e.prompt_style
    bb = cfg.model.backbone
    for s in e.sets:
        t0 = time.time()
        if s in TEXT_SETS:
            setting = s.split("_", 1)[1]
            its = E.synthetic_to_mllm_items(items[s], setting, subset=s, image_size=cfg.model.tiny_image_size)
            judge = vl_judge if s.startswith("image") else text_judge
            m, smp = E.eval_mllm_judge(judge, its, setting, _bench_params(cfg, mllm=True), seeds, e.aggregation,
                                       backbone=bb, style=style, image_size=None)
            byid = {r["id"]: r for r in items[s]}
            diag: dict[str, list[bool]] = {}
            for x in smp:
                for k, v in D.trace_diagnostics(x["text"], byid[x["id"]]).items():
                    diag.setdefault(k, []).extend(v)
            m["trace_steps"] = {k: (round(sum(v) / len(v), 4) if v else None) for k, v in diag.items()}
        elif s.startswith("mllm_judge_"):
            setting = s.rsplit("_", 1)[1]
            its = D.load_mllm_judge(e.paths["mllm_judge"], setting, e.paths.get("mllm_judge_fields"), e.limit)
            m, smp = E.eval_mllm_judge(vl_judge, its, setting, _bench_params(cfg, mllm=True), seeds, e.aggregation,
                                       backbone=bb, style=style, image_size=e.image_size)
        elif s == "vlrb":
            its = D.load_vlrb(e.paths.get("vlrb", "MMInstruction/VL-RewardBench"), limit=e.limit)
            m, smp = E.eval_vlrb(vl_judge, its, _bench_params(cfg), runs=5, backbone=bb, style=style)
        elif s.startswith("mjbench_"):
            its = D.load_mjbench(e.paths.get("mjbench", "MJ-Bench/MJ-Bench"), s.split("_", 1)[1], e.limit)
            m, smp = E.eval_mjbench(vl_judge, its, _bench_params(cfg), backbone=bb, image_size=336)
        elif s.startswith("genai_"):
            task = s.split("_", 1)[1]
            its = D.load_genai(e.paths.get("genai", "TIGER-Lab/GenAI-Bench"), task, limit=e.limit,
                               video_folder=e.paths.get("genai_video_folder"))
            m, smp = E.eval_genai(vl_judge, its, _bench_params(cfg), runs=7, backbone=bb, image_size=e.image_size)
        elif s in ("nisqa", "bvcc", "somos", "voxsim"):
            its = D.load_audio_items(e.paths[s], e.limit)
            sysm = e.paths.get(f"{s}_system_means")
            sysm = read_json(sysm) if isinstance(sysm, str) else sysm
            temp = 0.5 if s == "bvcc" else None
            m, smp = E.eval_audio(vl_judge, its, _bench_params(cfg, temperature=temp), kind=s, backbone="qwen2.5-omni",
                                  system_means=sysm)
        elif s in ("judgelm", "pandalm"):
            src = e.paths.get(s, "BAAI/JudgeLM-100K")
            its = D.load_judgelm(src, "val", e.limit) if s == "judgelm" else D.load_records_any(src, limit=e.limit)
            m, smp = E.eval_text_judge(text_judge, its, _bench_params(cfg), style=style)
        else:  # pragma: no cover - validated by the config
            raise ValueError(s)
        m["time_s"] = round(time.time() - t0, 1)
        out[s] = m
        samples += [dict(x, set=s, model=name) for x in smp]
        log.info("%s %s: %s", name, s, {k: v for k, v in m.items() if isinstance(v, float)})
    run.write_samples(samples, name=f"samples_{name}.jsonl")
    return out


def stage_tts(cfg, run, model_path: str, items: dict[str, list[dict]]) -> dict:
    """Majority voting (k paths) and budget forcing (N "Wait"s) on the trained judge."""
    from . import evaluate as E
    from . import method as M
    from .evaluate import _mllm_prompt
    from .tts import budget_forced, majority_curve, sample_paths

    _threads(cfg)
    text_judge, vl_judge = _make_judges(cfg, model_path)
    t = cfg.tts
    out: dict[str, Any] = {}
    for s in t.sets:
        setting = s.split("_", 1)[1]
        its = E.synthetic_to_mllm_items(items[s], setting, subset=s, image_size=cfg.model.tiny_image_size)
        judge = vl_judge if s.startswith("image") else text_judge
        prompts = [_mllm_prompt(it, setting, cfg.model.backbone, cfg.eval.prompt_style, None) for it in its]
        gold = [it["human"] for it in its]
        p = SamplingParams(temperature=t.temperature, top_p=t.top_p, max_new_tokens=cfg.eval.max_new_tokens,
                           seed=cfg.seed + 77)
        texts = sample_paths(judge, prompts, p, max(t.majority_ks))
        per_item = {str(k): [int(M.vote_mode([M.parse_pair(x).value for x in row[:k]]) == g)
                             for row, g in zip(texts, gold)] for k in t.majority_ks} if setting == "pair" else {}
        if setting == "pair":
            curve = majority_curve(texts, gold, lambda x: M.parse_pair(x).value, t.majority_ks, vote="mode")
            parse = lambda x: M.parse_pair(x)  # noqa: E731
            ok = lambda j, g: j.value == g  # noqa: E731
        else:
            curve = majority_curve(texts, gold, lambda x: M.parse_score(x).value, t.majority_ks, vote="mean",
                                   correct=lambda v, g: round(v) == g)
            parse = lambda x: M.parse_score(x)  # noqa: E731
            ok = lambda j, g: j.value == g  # noqa: E731
        bf = {}
        for n in t.budget_forcings:
            res = budget_forced(judge, prompts, replace(p, seed=cfg.seed + 91), n, wait=t.wait)
            js = [parse(r["text"]) for r in res]
            bf[int(n)] = {"accuracy": sum(ok(j, g) for j, g in zip(js, gold)) / len(gold),
                          "parse_fail_rate": 1 - sum(j.ok for j in js) / len(js),
                          "mean_forced": sum(r["forced"] for r in res) / len(res),
                          "mean_chars": sum(len(r["text"]) for r in res) / len(res)}
        out[s] = {"majority": {str(k): v for k, v in curve.items()}, "budget_forcing": {str(k): v for k, v in bf.items()},
                  "majority_per_item": per_item}
        log.info("tts %s: %s", s, out[s])
    return out


# ---------------------------------------------------------------------------------------------------------------
# report


def _headline(ev: dict, s: str, key: str):
    v = ev.get(s, {}).get(key)
    return None if v is None else round(float(v), 4)


def _load_samples(run_path: Path, name: str) -> list[dict]:
    p = Path(run_path) / f"samples_{name}.jsonl"
    return _jsonl_read(p) if p.exists() else []


def _per_item(samples: list[dict], s: str) -> dict[str, list[tuple]]:
    """set ``s`` -> {item id: [(pred, gold) per run]}."""
    out: dict[str, list[tuple]] = {}
    for x in samples:
        if x.get("set") == s:
            out.setdefault(x["id"], []).append((x["pred"], x["gold"]))
    return out


def paired_pair_ci(a: list[dict], b: list[dict], s: str, seed: int = 0) -> dict | None:
    """Paired bootstrap over items of the pair-accuracy (w. tie, mean over runs) difference a - b."""
    import numpy as np

    from mlrepro.metrics import bootstrap_ci

    pa, pb = _per_item(a, s), _per_item(b, s)
    ids = sorted(set(pa) & set(pb))
    if not ids:
        return None
    d = [np.mean([p == g for p, g in pa[i]]) - np.mean([p == g for p, g in pb[i]]) for i in ids]
    m, lo, hi = bootstrap_ci(d, seed=seed)
    return {"diff": round(m, 4), "ci95": [round(lo, 4), round(hi, 4)], "n_items": len(ids)}


def paired_score_ci(a: list[dict], b: list[dict], s: str, seed: int = 0, n_boot: int = 1000) -> dict | None:
    """Paired bootstrap over items of the difference in run-averaged Pearson (a - b)."""
    import numpy as np

    from .method import pearson0

    pa, pb = _per_item(a, s), _per_item(b, s)
    ids = sorted(set(pa) & set(pb))
    if len(ids) < 3:
        return None

    def corr(per, idx):
        runs = min(len(per[ids[i]]) for i in idx)
        return float(np.mean([pearson0([per[ids[i]][r][0] for i in idx], [per[ids[i]][r][1] for i in idx])
                              for r in range(runs)]))

    rng = np.random.default_rng(seed)
    full = list(range(len(ids)))
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(ids), len(ids)).tolist()
        boots.append(corr(pa, idx) - corr(pb, idx))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {"diff": round(corr(pa, full) - corr(pb, full), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)],
            "n_items": len(ids)}


def _ci_positive(ci: dict | None) -> bool:
    return bool(ci) and ci["ci95"][0] > 0


def build_claims(metrics: dict, run_path: Path | None = None) -> list:
    base, fj = metrics.get("base", {}), metrics.get("trained", {})
    smp = {n: _load_samples(run_path, n) for n in ("base", "trained", "answer_first")} if run_path else {}
    ci = {}
    if smp:
        for s in ("text_pair", "image_pair"):
            ci[("trained", "base", s)] = paired_pair_ci(smp["trained"], smp["base"], s)
            ci[("trained", "answer_first", s)] = paired_pair_ci(smp["trained"], smp["answer_first"], s)
        for s in ("text_score", "image_score"):
            ci[("trained", "base", s)] = paired_score_ci(smp["trained"], smp["base"], s)
            ci[("trained", "answer_first", s)] = paired_score_ci(smp["trained"], smp["answer_first"], s)
    claims = []
    if base and fj and "text_pair" in fj:
        b = {k: _headline(base, "text_pair", k) for k in ("w_tie", "wo_tie")}
        t = {k: _headline(fj, "text_pair", k) for k in ("w_tie", "wo_tie")}
        claims.append(claim("sft_raises_pair_accuracy",
                            "SFT on ~1K text-only judge traces raises pairwise accuracy (w. and w.o. tie) over the "
                            "untrained backbone (held-out text pairs)",
                            {"base_qwen2.5-vl-7b": [0.423, 0.425], "flex-vl-7b": [0.538, 0.655], "source": "Table 1"},
                            {"base": b, "trained": t, "w_tie_diff_ci": ci.get(("trained", "base", "text_pair"))},
                            t["w_tie"] > b["w_tie"] and t["wo_tie"] > b["wo_tie"]
                            and (not ci or _ci_positive(ci.get(("trained", "base", "text_pair"))))))
    if base and fj and "text_score" in fj:
        b, t = _headline(base, "text_score", "pearson"), _headline(fj, "text_score", "pearson")
        claims.append(claim("sft_raises_score_correlation",
                            "SFT raises the Pearson correlation of single scores (1-5) with the reference",
                            {"base_qwen2.5-vl-7b": 0.165, "flex-vl-7b": 0.332, "source": "Table 1"},
                            {"base": b, "trained": t, "diff_ci": ci.get(("trained", "base", "text_score"))},
                            t > b and (not ci or _ci_positive(ci.get(("trained", "base", "text_score"))))))
    if base and fj and "image_pair" in fj:
        b = {k: _headline(base, "image_pair", k) for k in ("w_tie", "wo_tie")}
        t = {k: _headline(fj, "image_pair", k) for k in ("w_tie", "wo_tie")}
        claims.append(claim("text_only_judge_runs_on_image_prompts",
                            "The text-only-trained judge keeps its gain when the prompt carries an image (format "
                            "transfer only: the pictures are decorative, the tiny vision tower is untrained)",
                            {"base_qwen2.5-vl-7b": [0.423, 0.425], "flex-vl-7b": [0.538, 0.655], "source": "Table 1"},
                            {"base": b, "trained": t, "w_tie_diff_ci": ci.get(("trained", "base", "image_pair"))},
                            t["w_tie"] > b["w_tie"] and (not ci or _ci_positive(ci.get(("trained", "base", "image_pair"))))))
    if base and fj and "text_batch" in fj:
        b, t = _headline(base, "text_batch", "levenshtein"), _headline(fj, "text_batch", "levenshtein")
        full = 1 - fj["text_batch"]["parse_fail_rate"]
        claims.append(claim("batch_ranking_zero_shot",
                            "Batch ranking (3 answers, never seen in training) improves zero-shot: lower normalized "
                            "Levenshtein than the untrained backbone",
                            {"base_qwen2.5-vl-7b": 0.585, "flex-vl-7b": 0.426, "source": "Table 1"},
                            {"base": b, "trained": t, "trained_full_rankings": round(full, 4)}, t < b and full >= 0.5,
                            detail="holds only if the distance falls AND most outputs rank all three answers: a "
                                   "ranking with fewer letters than assistants still scores below 1.0"))
    if base and fj:
        sets = [s for s in fj if isinstance(fj[s], dict) and "parse_fail_rate" in fj[s]]
        b = {s: round(base[s]["parse_fail_rate"], 4) for s in sets if s in base}
        t = {s: round(fj[s]["parse_fail_rate"], 4) for s in sets}
        mb = sum(b.values()) / max(1, len(b))
        mt = sum(t.values()) / max(1, len(t))
        claims.append(claim("parse_failures_fall",
                            "Parse-failure rate of the judgements (reported per set); SFT on traces teaches the answer "
                            "format, so failures fall", None, {"base": b, "trained": t,
                                                                 "mean_base": round(mb, 4), "mean_trained": round(mt, 4)},
                            mt < mb))
    af = metrics.get("answer_first")
    if af and fj and "text_pair" in af:
        r = {"pair_w_tie": _headline(fj, "text_pair", "w_tie"), "score_pearson": _headline(fj, "text_score", "pearson")}
        a = {"pair_w_tie": _headline(af, "text_pair", "w_tie"), "score_pearson": _headline(af, "text_score", "pearson")}
        claims.append(claim("reason_first_beats_answer_first",
                            "Reason-then-answer traces beat answer-then-reason traces of the same content (Fig. 5)",
                            {"reason_first": [0.538, 0.332], "answer_first": [0.521, 0.290],
                             "metrics": ["MLLM-Judge pair w. tie", "score Pearson"], "source": "Fig. 5 (VL-7B)"},
                            {"reason_first": r, "answer_first": a,
                             "pair_diff_ci": ci.get(("trained", "answer_first", "text_pair")),
                             "score_diff_ci": ci.get(("trained", "answer_first", "text_score"))},
                            _ci_positive(ci.get(("trained", "answer_first", "text_pair")))
                            or _ci_positive(ci.get(("trained", "answer_first", "text_score"))),
                            detail="holds only if a paired 95% bootstrap CI of the difference (over items) excludes 0 "
                                   "for pair accuracy or score Pearson"))
    tts = metrics.get("tts", {})
    if "text_pair" in tts:
        curve = tts["text_pair"]["majority"]
        ks = sorted(curve, key=int)
        per = tts["text_pair"].get("majority_per_item", {})
        mci = None
        if per.get(ks[0]) and per.get(ks[-1]):
            from mlrepro.metrics import bootstrap_ci

            m_, lo, hi = bootstrap_ci([x - y for x, y in zip(per[ks[-1]], per[ks[0]])], seed=0)
            mci = {"diff": round(m_, 4), "ci95": [round(lo, 4), round(hi, 4)]}
        claims.append(claim("majority_voting_helps_pairs",
                            "Majority voting over more sampled reasoning paths raises pairwise accuracy",
                            {"trend": "steady gains for 1..9 paths", "source": "Fig. 6"},
                            {"accuracy_by_paths": {k: round(curve[k], 4) for k in ks},
                             f"diff_{ks[-1]}_vs_{ks[0]}_ci": mci},
                            curve[ks[-1]] > curve[ks[0]] and (mci is None or mci["ci95"][0] > 0),
                            detail="holds only if the paired 95% bootstrap CI (max k vs 1 path) excludes 0"))
    return claims


def report(cfg, run, metrics: dict, t0: float) -> dict:
    from .plots import make_plots

    claims = build_claims(metrics, run.path)
    atomic_write_text(run.path / "metrics_full.json", json.dumps(metrics, indent=1, default=str))
    res = run.write_results(metrics, claims=claims, expected=cfg.expected, seeds=[cfg.seed],
                            wall_time_s=time.time() - t0,
                            notes=("mini: tiny Qwen2.5-VL trained from scratch on synthetic arithmetic judge traces of "
                                   "a rule-based teacher; the untrained backbone is random, so 'base' measures the "
                                   "floor, not a capable instruct model") if cfg.model.tiny else None)
    make_plots(run.path / "results.json", run.plots_dir)
    return res


# ---------------------------------------------------------------------------------------------------------------
# commands


def _prepare(cfg, run) -> tuple[list[dict], dict]:
    if cfg.seed_data.train_file is None:
        run.stage("seed_data", lambda d: stage_seed_data(cfg, d))
        stats = run.stage("curate", lambda d: stage_curate(cfg, run.stage_dir("seed_data"), d))
    else:
        stats = {"train_file": cfg.seed_data.train_file}
    train = _train_records(cfg, run)
    base = run.stage("base", lambda d: stage_base(cfg, train, d))
    return train, {"curation": stats, "base": base}


def _train_stage(cfg, run, base_path: str, name: str = "train", answer_first: bool = False) -> dict:
    if cfg.train.launcher == "accelerate" and not run.stage_done(name):
        info = launch_training(cfg, run)
        if not run.stage_done(name):
            raise RuntimeError(f"accelerate training did not finish the {name} stage: {info}")
    return run.stage(name, lambda d: stage_train(cfg, run, base_path, d, answer_first))


def reproduce(cfg, run, args) -> dict:
    if getattr(args, "dry_run", False):
        return dry_run(cfg, run)
    t0 = time.time()
    train, info = _prepare(cfg, run)
    exclude = {r["question"] for r in seed_records(cfg)} if cfg.seed_data.source == "synthetic" else set()
    items = build_eval_items(cfg, exclude) if any(s in TEXT_SETS for s in cfg.eval.sets + cfg.tts.sets) else {}
    metrics: dict[str, Any] = {"curation": info["curation"], "base_model": info["base"]}
    if cfg.eval.include_base:
        metrics["base"] = run.stage("eval_base", lambda d: evaluate_model(cfg, run, info["base"]["path"], items, "base"))
    tr = _train_stage(cfg, run, info["base"]["path"])
    metrics["train"] = {k: v for k, v in tr.items() if k != "path"}
    metrics["trained"] = run.stage("eval_trained", lambda d: evaluate_model(cfg, run, tr["path"], items, "trained"))
    if cfg.train.answer_first_ablation:
        af = _train_stage(cfg, run, info["base"]["path"], "train_answer_first", answer_first=True)
        metrics["train_answer_first"] = {k: v for k, v in af.items() if k != "path"}
        sets = [s for s in cfg.eval.sets if s in ("text_pair", "text_score")]
        metrics["answer_first"] = run.stage("eval_answer_first", lambda d: evaluate_model(
            replace(cfg, eval=replace(cfg.eval, sets=sets)), run, af["path"], items, "answer_first"))
    if cfg.tts.enabled:
        metrics["tts"] = run.stage("tts", lambda d: stage_tts(cfg, run, tr["path"], items))
    return report(cfg, run, metrics, t0)


def train_only(cfg, run, args) -> dict | None:
    """``train``: the data stages and the SFT (in-process; this is what ``accelerate launch`` runs)."""
    if getattr(args, "dry_run", False):
        return dry_run(cfg, run)
    _, info = _prepare(cfg, run)
    tr = run.stage("train", lambda d: stage_train(cfg, run, info["base"]["path"], d))
    if cfg.train.answer_first_ablation:
        run.stage("train_answer_first", lambda d: stage_train(cfg, run, info["base"]["path"], d, True))
    log.info("trained model: %s", tr["path"])
    return None


def eval_only(cfg, run, args) -> dict:
    """``eval``: evaluate ``model.name_or_path`` (e.g. ``jongwooko/Flex-VL-7B``) on the configured sets."""
    if getattr(args, "dry_run", False):
        return dry_run(cfg, run)
    t0 = time.time()
    items = {}
    if any(s in TEXT_SETS for s in cfg.eval.sets):
        items = build_eval_items(cfg, set())
    path = cfg.model.name_or_path
    if cfg.model.tiny:
        _, info = _prepare(cfg, run)
        path = info["base"]["path"]
    metrics = {"trained": run.stage("eval_trained", lambda d: evaluate_model(cfg, run, path, items, "model"))}
    return report(cfg, run, metrics, t0)


def dry_run(cfg, run) -> dict:
    """Resolve the config, build the data pipeline on test-made data (synthetic world, rule teacher, curation),
    construct every component with a tiny model (tokenizer, tiny Qwen2.5-VL + processor, SFT trainer, judges,
    one prompt per format through the processor) and print the launch command; no training, no hub."""
    from mlrepro.training import build_launch_command

    from . import prompts as P
    from .inference import TextJudge, VLJudge
    from .tiny import build_judge_tokenizer, build_tiny_vl
    from .trainer import paper_accelerate_config, tokenize_sft

    t0 = time.time()
    recs = D.judgelm_world(24, seed=cfg.seed + 1)
    rows = D.generate_seed_traces(recs, D.make_teacher(), [SamplingParams(temperature=cfg.seed_data.temperature,
                                                                          seed=int(s)) for s in cfg.seed_data.seeds])
    examples, stats = C.curate(rows, n_pair=6, n_single=6, min_pair_tokens=0, min_single_tokens=0,
                               rescale_fraction=cfg.curate.rescale_fraction, seed=cfg.curate.seed)
    train = [C.render_example(e, style=cfg.seed_data.prompt_style) for e in examples]
    tok = build_judge_tokenizer([r["prompt"] + r["completion"] for r in train], vocab_size=400)
    model, proc = build_tiny_vl(tok, hidden=32, layers=1)
    ex, tstats = tokenize_sft(tok, train, max_length=cfg.train.max_length, family=cfg.train.family)
    from trl import SFTConfig

    trainer_cfg = {k: v for k, v in _cpu_trainer(cfg).items()}
    SFTConfig(**{**trainer_cfg, "output_dir": str(run.path / "dry_trainer"), "use_cpu": True, "bf16": False,
                 "fp16": False, "report_to": "none"})
    img = D.draw_scene(3, 56)
    fmt_prompts = [
        P.pair_prompt("q", "a", "b", backbone="qwen2.5-vl", media=[("image", img)]),
        P.score_prompt("q", "a", backbone="qwen2.5-vl", media=[("image", img)]),
        P.batch_prompt("q", ["a", "b", "c"], backbone="qwen2.5-vl", media=[("image", img)]),
        P.genai_prompt("image_generation", "p", img, img), P.mjbench_prompt("c", img, img),
    ]
    vl = VLJudge(model, proc)
    outs = vl.judge(fmt_prompts, SamplingParams(temperature=0, max_new_tokens=4))
    TextJudge(D.make_teacher())
    omni = [P.audio_mos_prompt(None), P.bvcc_prompt(None), P.voxsim_prompt(None, None)]
    launch_cfg = paper_accelerate_config(cfg.train.num_processes)
    acfg = cfg.train.accelerate_config
    if acfg == "paper":
        from .trainer import write_accelerate_config

        acfg = str(write_accelerate_config(run.path / "accelerate_zero3_offload.yaml", cfg.train.num_processes))
    cmd = build_launch_command("mlrepro_flexjudge.cli", ["train", "--recipe", str(run.path / "config.yaml"),
                                                         "--output-dir", str(run.path), "--no-export"],
                               config=acfg, num_processes=cfg.train.num_processes)
    info = {"curation": stats, "sft_tokens": tstats, "formats_run": len(outs), "omni_prompts": len(omni),
            "accelerate": {k: launch_cfg["deepspeed_config"][k] for k in ("offload_optimizer_device",
                                                                          "offload_param_device", "zero3_init_flag")},
            "launch": " ".join(cmd), "model": cfg.model.name_or_path, "eval_sets": list(cfg.eval.sets),
            "time_s": round(time.time() - t0, 1)}
    print(json.dumps(info, indent=1))
    return info
