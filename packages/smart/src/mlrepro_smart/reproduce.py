"""Stage orchestration: (mini) world -> train LLM -> train SLM -> train PRM; (paper) data; then one stage per search
run (setting x scorer x {SLM-only, LLM-only, SMART at each tau}); then the report.

Every stage goes through :meth:`mlrepro.runs.RunDir.stage`, so ``--resume`` skips finished ones; training stages
also checkpoint inside (``ckpt.pt``). Models are loaded lazily, only when a stage that needs them runs.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrepro.runs import RunDir, atomic_write_jsonl, get_logger, read_json

from .config import Config
from .data import load_eval_records, make_world, write_jsonl
from .method import SearchParams, StepRequest, search

log = get_logger("mlrepro.smart")

__all__ = ["RunSpec", "plan_runs", "Components", "load_tokenizer", "run_pipeline", "dry_run", "mini_tau_label"]


# ---------------------------------------------------------------------------------------------------------------
# run plan
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    setting: str
    scorer: str
    method: str  # slm_only | llm_only | smart
    tau: float | None = None

    @property
    def name(self) -> str:
        base = f"{self.setting}-{self.scorer}-{self.method}"
        return base if self.tau is None else f"{base}-tau{mini_tau_label(self.tau)}"


def mini_tau_label(tau: float) -> str:
    return f"{tau:g}".replace("-", "m")


def plan_runs(cfg: Config) -> list[RunSpec]:
    out = []
    for st in cfg.search.settings:
        for sc in cfg.search.scorers:
            out += [RunSpec(st.name, sc, "slm_only"), RunSpec(st.name, sc, "llm_only")]
            taus = cfg.search.taus if st.tau_sweep else [cfg.search.tau]
            out += [RunSpec(st.name, sc, "smart", float(t)) for t in taus]
    return out


# ---------------------------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------------------------


def load_tokenizer(path: str):
    """Tokenizer of a model. Folders made by this package (and ``mlrepro.testing``) store a plain tokenizers
    backend; ``AutoTokenizer`` would swap in the architecture's own pre-tokenizer (Qwen2 splits digits), so those
    are loaded as :class:`PreTrainedTokenizerFast` to get back exactly the trained tokenizer."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    cfg_file = Path(path) / "tokenizer_config.json"
    if cfg_file.exists():
        tc = json.loads(cfg_file.read_text()).get("tokenizer_class")
        if tc in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path, trust_remote_code=False)


class Components:
    """Lazily built generators and scorers for a run: ``slm``/``llm`` step generators, ``prm``/``conf`` scorers."""

    def __init__(self, cfg: Config, paths: dict[str, str], backend: str | None = None, **overrides: Any):
        self.cfg, self.paths, self.backend = cfg, paths, backend
        self.overrides = overrides
        self._cache: dict[str, Any] = {}

    def _backend(self, role: str) -> str:
        if self.backend:
            return self.backend
        return getattr(self.cfg.models, role).backend or self.cfg.sampling.backend

    def generator(self, role: str):
        if role in self._cache:
            return self._cache[role]
        from mlrepro.sampling import get_sampler

        from .models import DEFAULT_SYSTEM_PROMPT, PromptBuilder, SamplerStepGenerator

        mc = getattr(self.cfg.models, role)
        path = self.paths[role]
        backend = self._backend(role)
        tok = load_tokenizer(path)
        kw: dict[str, Any] = dict(mc.sampler_kwargs)
        if mc.dtype and mc.dtype != "auto":
            kw["dtype"] = mc.dtype
        if mc.device:
            kw["device"] = mc.device
        sampler = get_sampler(backend, model=path, tokenizer=tok if backend == "hf" else path,
                              batch_size=mc.batch_size, **kw)
        p = self.cfg.prompt
        prompt = PromptBuilder(p.style, tokenizer=getattr(sampler, "tokenizer", tok),
                               system_prompt=DEFAULT_SYSTEM_PROMPT if p.system_prompt is None else p.system_prompt,
                               template=p.template)
        s = self.cfg.search
        gen = SamplerStepGenerator(sampler, role, prompt, temperature=s.temperature, top_p=s.top_p,
                                   max_step_tokens=self.overrides.get("max_step_tokens", s.max_step_tokens),
                                   max_final_tokens=self.overrides.get("max_final_tokens", s.max_final_tokens))
        self._cache[role] = gen
        return gen

    def scorer(self, name: str):
        if name in self._cache:
            return self._cache[name]
        from .method import ConfidenceScorer
        from .models import PRMScorer

        if name == "conf":
            sc = ConfidenceScorer(self.cfg.search.conf_strategy)
        elif name == "prm":
            mc, m = self.cfg.models.prm, self.cfg.models
            path = self.paths["prm"]
            sc = PRMScorer(path, tokenizer=load_tokenizer(path), style=m.prm_style, good_token=m.prm_good_token,
                           bad_token=m.prm_bad_token, batch_size=mc.batch_size, device=mc.device or None,
                           dtype=None if mc.dtype == "auto" else mc.dtype)
        else:
            raise ValueError(f"unknown scorer {name!r}")
        self._cache[name] = sc
        return sc

    def describe(self) -> dict[str, Any]:
        out = {}
        for k, v in self._cache.items():
            d = getattr(v, "describe", None)
            out[k] = d() if callable(d) else {"name": getattr(v, "name", k)}
        return out


# ---------------------------------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------------------------------


def _world_kwargs(cfg: Config) -> dict[str, Any]:
    w = cfg.data.world
    return {"difficulties": tuple(w.difficulties), "max_value": w.max_value, "max_operand": w.max_operand,
            "kinds": tuple(w.kinds)}


def stage_world(cfg: Config, d: Path) -> dict:
    """Evaluation problems, disjoint training problems, and the BPE tokenizer of the world."""
    from .models import prm_conversation
    from .trainer import build_world_tokenizer

    ev = load_eval_records("synthetic", n=cfg.data.n_eval, seed=cfg.data.eval_seed, world=_world_kwargs(cfg),
                           limit=cfg.data.limit)
    pt = cfg.pretrain
    val = make_world(pt.n_val, cfg.data.eval_seed + 1000, exclude={r["question"] for r in ev}, id_prefix="val",
                     **_world_kwargs(cfg))
    tr = make_world(pt.n_train, pt.train_seed, exclude={r["question"] for r in ev + val}, id_prefix="train",
                    **_world_kwargs(cfg))
    texts = [cfg.prompt.template.format(question=r["question"]) + r["solution"] for r in tr[:pt.tokenizer_docs]]
    tok0 = build_world_tokenizer(texts, pt.vocab_size)
    convs = [tok0.apply_chat_template(prm_conversation(r["question"], r["steps"]), tokenize=False)
             for r in tr[:max(1, pt.tokenizer_docs // 3)]]
    tok = build_world_tokenizer(texts + convs, pt.vocab_size)
    tok.save_pretrained(d / "tokenizer")
    write_jsonl(ev, d / "eval.jsonl")
    write_jsonl(tr, d / "train.jsonl")
    write_jsonl(val, d / "val.jsonl")
    return {"eval_problems": len(ev), "val_problems": len(val), "train_problems": len(tr), "vocab": len(tok),
            "example": {"question": ev[0]["question"], "solution": ev[0]["solution"]}}


def _read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def _sample_accuracy(model, tok, records: list[dict], template: str, temperature: float, seed: int,
                     max_new_tokens: int = 64) -> float:
    """Share of problems a model solves in one sampled full solution (a sanity check of the trained models)."""
    from mlrepro.grading import extract_boxed
    from mlrepro.sampling import SamplingParams, get_sampler

    s = get_sampler("hf", model=model, tokenizer=tok, batch_size=256)
    outs = s.generate([template.format(question=r["question"]) for r in records],
                      SamplingParams(n=1, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed))
    return sum(extract_boxed(o[0].text) == r["answer"] for o, r in zip(outs, records)) / max(len(records), 1)


def stage_train_lm(cfg: Config, run: RunDir, role: str, d: Path) -> dict:
    import torch

    from mlrepro.testing import build_model

    from .trainer import lm_examples, train_lm

    torch.set_num_threads(int(os.environ.get("MLREPRO_SMART_THREADS", "1")))
    wd = run.stage_dir("world")
    tok = load_tokenizer(str(wd / "tokenizer"))
    tcfg = getattr(cfg.pretrain, role)
    ex = lm_examples(_read_jsonl(wd / "train.jsonl"), tok, cfg.prompt.template)
    model = build_model(tok, layers=tcfg.layers, hidden=tcfg.hidden, heads=tcfg.heads, kv_heads=tcfg.kv_heads,
                        max_position=512, seed=tcfg.seed)
    val = _read_jsonl(wd / "val.jsonl")

    def val_accuracy() -> float:
        return _sample_accuracy(model, tok, val, cfg.prompt.template, cfg.search.temperature, cfg.seed + 1)

    target = tcfg.target_accuracy if tcfg.target_accuracy > 0 else None
    stats = train_lm(model, ex, tok.pad_token_id, tcfg.steps, tcfg.batch_size, tcfg.lr, tcfg.warmup,
                     seed=tcfg.seed, ckpt_dir=d, ckpt_every=cfg.pretrain.ckpt_every, desc=f"train {role}",
                     log=lambda r: run.log_metrics({f"train_{role}/{k}": v for k, v in r.items()}),
                     eval_fn=val_accuracy if target is not None else None, eval_every=tcfg.eval_every,
                     target=target, closest=tcfg.stop_closest)
    model.save_pretrained(d / "model")
    tok.save_pretrained(d / "model")
    (d / "ckpt.pt").unlink(missing_ok=True)
    ev = _read_jsonl(wd / "eval.jsonl")
    stats["params"] = int(sum(p.numel() for p in model.parameters()))
    stats["sample_accuracy_t"] = _sample_accuracy(model, tok, ev, cfg.prompt.template, cfg.search.temperature,
                                                  cfg.seed)
    stats["greedy_accuracy"] = _sample_accuracy(model, tok, ev, cfg.prompt.template, 0.0, cfg.seed)
    return stats


def stage_train_prm(cfg: Config, run: RunDir, d: Path) -> dict:
    import random

    import torch
    from transformers import AutoModelForCausalLM

    from mlrepro.testing import build_model

    from .data import corrupt_solution, step_labels
    from .method import Step
    from .models import PRMScorer
    from .trainer import prm_examples, train_prm

    torch.set_num_threads(int(os.environ.get("MLREPRO_SMART_THREADS", "1")))
    wd = run.stage_dir("world")
    tok = load_tokenizer(str(wd / "tokenizer"))
    pt, tcfg = cfg.pretrain, cfg.pretrain.prm
    good, bad = cfg.models.prm_good_token, cfg.models.prm_bad_token
    tr = _read_jsonl(wd / "train.jsonl")[:pt.prm_examples]
    ex, label_stats = prm_examples(tr, tok, pt.prm_corrupt_prob, seed=tcfg.seed, label=good)
    if pt.prm_init_from_llm:
        model = AutoModelForCausalLM.from_pretrained(run.stage_dir("train_llm") / "model")
    else:
        model = build_model(tok, layers=tcfg.layers, hidden=tcfg.hidden, heads=tcfg.heads, kv_heads=tcfg.kv_heads,
                            max_position=512, seed=tcfg.seed)
    gid, bid = (tok.convert_tokens_to_ids(tok.tokenize(t))[0] for t in (good, bad))
    stats = train_prm(model, ex, tok.pad_token_id, gid, bid, tcfg.steps, tcfg.batch_size, tcfg.lr, tcfg.warmup,
                      seed=tcfg.seed, ckpt_dir=d, ckpt_every=pt.ckpt_every, desc="train prm",
                      log=lambda r: run.log_metrics({f"train_prm/{k}": v for k, v in r.items()}))
    model.save_pretrained(d / "model")
    tok.save_pretrained(d / "model")
    (d / "ckpt.pt").unlink(missing_ok=True)
    # held-out check: gold and corrupted solutions of the evaluation problems, step labels from the rule checker
    ev = _read_jsonl(wd / "eval.jsonl")
    rng = random.Random(cfg.seed + 7)
    sols = [corrupt_solution(r, rng) if rng.random() < 0.5 else list(r["steps"]) for r in ev]
    prm = PRMScorer(model, tok, style=cfg.models.prm_style, good_token=good, bad_token=bad, batch_size=64)
    scores = prm.score([r["question"] for r in ev], [[Step(s, 1) for s in sol] for sol in sols])
    tp = tn = npos = nneg = 0
    for r, sol, sc in zip(ev, sols, scores):
        for y, s in zip(step_labels(r, sol), sc):
            npos += y
            nneg += not y
            tp += y and s >= 0.5
            tn += (not y) and s < 0.5
    stats.update(label_stats=label_stats, heldout_good_recall=tp / max(npos, 1), heldout_bad_recall=tn / max(nneg, 1),
                 heldout_accuracy=(tp + tn) / max(npos + nneg, 1))
    return stats


def stage_data(cfg: Config, d: Path) -> dict:
    recs = load_eval_records(cfg.data.source, cfg.data.path, cfg.data.split, cfg.data.limit)
    write_jsonl(recs, d / "eval.jsonl")
    return {"eval_problems": len(recs), "source": cfg.data.source, "path": cfg.data.path}


def stage_search(cfg: Config, comps: Components, records: list[dict], spec: RunSpec, d: Path) -> dict:
    from tqdm.auto import tqdm

    from .evaluate import grade_run, result_to_json, run_metrics

    st = {s.name: s for s in cfg.search.settings}[spec.setting]
    s = cfg.search
    params = SearchParams(n=st.n, beam_width=st.beam_width, tau=float(spec.tau or 0.0), num_iterations=s.num_iterations,
                          max_history_tokens=s.max_history_tokens, filter_duplicates=s.filter_duplicates,
                          sort_completed=st.sort_completed, agg_strategy=s.agg_strategy)
    generator = comps.generator("llm" if spec.method == "llm_only" else "slm")
    helper = comps.generator("llm") if spec.method == "smart" else None
    scorer = comps.scorer(spec.scorer)
    bar = tqdm(total=s.num_iterations, desc=spec.name, leave=False, mininterval=2.0, disable=None)

    def progress(it: int, live: int) -> None:
        bar.n = it
        bar.set_postfix(live=live)
        bar.refresh()

    t0 = time.time()
    results = search([r["question"] for r in records], generator, scorer, params, helper=helper, seed=cfg.seed,
                     progress=progress)
    bar.close()
    problems = [result_to_json(r, res) for r, res in zip(records, results)]
    n_values = [n for n in cfg.eval.n_values if n <= st.n] or [st.n]
    graded = grade_run(problems, n_values, cfg.eval.selections, cfg.eval.answer_format)
    metrics = run_metrics(problems, graded, cfg.eval.headline_selection, n_boot=cfg.eval.bootstrap, seed=cfg.seed)
    metrics["seconds"] = round(time.time() - t0, 2)
    rows = []
    for p, g in zip(problems, graded):
        rows.append({"run": spec.name, "id": p["id"], "answer": p["answer"], "answers": g["answers"],
                     "correct": g["correct"], "n_interventions": p["n_interventions"],
                     "generated_tokens": p["generated_tokens"], "completions": p["completions"]})
    atomic_write_jsonl(d / "problems.jsonl", rows)
    return {"spec": {"setting": spec.setting, "scorer": spec.scorer, "method": spec.method, "tau": spec.tau,
                     "n": st.n, "beam_width": st.beam_width}, "metrics": metrics,
            "texts": [[c["text"] for c in p["completions"]] for p in problems]}


def run_pipeline(cfg: Config, run: RunDir, train: bool = True, evaluate: bool = True) -> dict[str, Any]:
    """All stages; returns {"prep": {...}, "runs": {name: output}}."""
    prep: dict[str, Any] = {}
    if cfg.trains_models:
        prep["world"] = run.stage("world", lambda d: stage_world(cfg, d))
        if train:
            prep["train_llm"] = run.stage("train_llm", lambda d: stage_train_lm(cfg, run, "llm", d))
            prep["train_slm"] = run.stage("train_slm", lambda d: stage_train_lm(cfg, run, "slm", d))
            if "prm" in cfg.search.scorers:
                prep["train_prm"] = run.stage("train_prm", lambda d: stage_train_prm(cfg, run, d))
        records = _read_jsonl(run.stage_dir("world") / "eval.jsonl")
        paths = {r: str(run.stage_dir(f"train_{r}") / "model") for r in ("slm", "llm", "prm")}
    else:
        prep["data"] = run.stage("data", lambda d: stage_data(cfg, d))
        records = _read_jsonl(run.stage_dir("data") / "eval.jsonl")
        paths = {r: getattr(cfg.models, r).name_or_path for r in ("slm", "llm", "prm")}
    runs: dict[str, Any] = {}
    if evaluate:
        comps = Components(cfg, paths)
        for spec in plan_runs(cfg):
            runs[spec.name] = run.stage(f"run_{spec.name}", lambda d, spec=spec: stage_search(cfg, comps, records,
                                                                                             spec, d))
            m = runs[spec.name]["metrics"]
            log.info("%s: acc %.3f  slm tok %d  llm tok %d  interventions/problem %.2f", spec.name, m["accuracy"],
                     m["slm_tokens"], m["llm_tokens"], m["interventions_per_problem"])
        if comps.describe():
            run.update_env(components=comps.describe())
    return {"prep": prep, "runs": runs}


# ---------------------------------------------------------------------------------------------------------------
# dry run
# ---------------------------------------------------------------------------------------------------------------


def dry_run(cfg: Config) -> None:
    """Resolve the config, build the data pipeline on test-made data, construct every component with a tiny model
    and run one tiny SMART search per scorer (no results are written)."""
    from mlrepro.testing import tiny_lm

    from .data import fake_rows
    from .evaluate import grade_run, result_to_json, run_metrics

    with tempfile.TemporaryDirectory() as tmp:
        if cfg.data.source == "synthetic":
            records = load_eval_records("synthetic", n=2, seed=cfg.data.eval_seed, world=_world_kwargs(cfg))
        else:
            path = write_jsonl(fake_rows(cfg.data.source, 2), Path(tmp) / f"{cfg.data.source}.jsonl")
            records = load_eval_records(cfg.data.source, str(path), cfg.data.split)
        tiny = str(tiny_lm(arch="qwen2"))
        comps = Components(cfg, {"slm": tiny, "llm": tiny, "prm": tiny}, backend="hf", max_step_tokens=6,
                           max_final_tokens=6)
        for role in ("slm", "llm"):
            g = comps.generator(role)
            g.sampler.batch_size = 8
        for sc in cfg.search.scorers:
            comps.scorer(sc)
        st = cfg.search.settings[0]
        params = SearchParams(n=2, beam_width=min(st.beam_width, 2), tau=cfg.search.tau, num_iterations=2,
                              max_history_tokens=cfg.search.max_history_tokens, sort_completed=st.sort_completed,
                              agg_strategy=cfg.search.agg_strategy)
        for sc in cfg.search.scorers:
            res = search([r["question"] for r in records], comps.generator("slm"), comps.scorer(sc), params,
                         helper=comps.generator("llm"), seed=cfg.seed)
            probs = [result_to_json(r, x) for r, x in zip(records, res)]
            m = run_metrics(probs, grade_run(probs, [1, 2], cfg.eval.selections, cfg.eval.answer_format),
                            cfg.eval.headline_selection)
            log.info("dry run (%s scorer): %d problems, slm tokens %d, llm tokens %d, unparseable %d", sc,
                     len(probs), m["slm_tokens"], m["llm_tokens"], m["unparseable"])
        for role in ("slm", "llm"):  # one direct step from each model (the tiny search above may not need the LLM)
            st0 = comps.generator(role).generate_steps([StepRequest(records[0]["question"], "")], final=False, seed=0)
            log.info("dry run: %s step of %d tokens (%s)", role, st0[0].n_tokens, st0[0].finish_reason)
        log.info("dry run plan: %d search runs: %s", len(plan_runs(cfg)), ", ".join(s.name for s in plan_runs(cfg)))


def read_stage(run: RunDir, name: str) -> Any:
    p = run.stage_dir(name) / "output.json"
    return read_json(p) if p.exists() else None
