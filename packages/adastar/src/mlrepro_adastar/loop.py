"""The STaR outer loop (spec §2.2 / §2.5) for every method of :data:`method.METHODS`.

One call of :func:`run_star` runs one method with one seed: per iteration t it samples rationales (whole training
set for the STaR family, the AdaSTaR heap with early stopping otherwise), keeps the correct ones, fits them to the
budget beta_t, fine-tunes (from the previous model or from the base), updates the AdaSTaR heap, evaluates
zero-shot greedy on the test set and counts FLOPs. After every iteration the model and the loop state are saved, so
a killed run resumes at the next iteration.

Model handling goes through a small ``ops`` object (:class:`HFModelOps` for real models); tests pass a fake one.
"""

from __future__ import annotations

import dataclasses
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from mlrepro.flops import FlopsCounter
from mlrepro.runs import atomic_write_json, get_logger, read_json
from mlrepro.sampling import SamplingParams

from .data import sampling_prompt, train_example, zero_shot_prompt
from .evaluate import evaluate_texts, extract, is_correct
from .method import (
    Attempt,
    HieMinHeap,
    MethodSpec,
    adastar_sample,
    adastar_update,
    cap_per_observation,
    count_sd,
    num_updated,
    star_sample_full,
    star_subsample,
    steps_schedule,
    training_counts,
)

log = get_logger("mlrepro.adastar")

__all__ = ["run_star", "HFModelOps", "make_attempt_fn", "rationale_of", "evaluate_model", "false_positive"]


def torch_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def rationale_of(text: str) -> str:
    """The training rationale of a generation: the text before the model starts a new "Q: " (as extraction)."""
    return text.split("Q: ")[0].strip()


def false_positive(rec: dict, text: str) -> bool | None:
    """Arithmetic task only: is a correct-answer rationale wrong on the way (the paper's GPT-4o false-positive
    annotation, measured exactly)? A rationale counts as valid when its equations are arithmetically right, chained
    (each starts from the previous result), start from the question's first number and use exactly the question's
    operations (in any order: reordered additions are fine). None when the record has no gold solution."""
    if not rec.get("solution"):
        return None
    from mlrepro.tasks import parse_steps

    eqs, gold = parse_steps(rationale_of(text)), parse_steps(rec["solution"])
    if not eqs or not gold:
        return True
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    for k, (a, op, b, c) in enumerate(eqs):
        if op not in ops or ops[op](a, b) != c or (k > 0 and a != eqs[k - 1][3]):
            return True
    same_ops = sorted((op, b) for _, op, b, _ in eqs) == sorted((op, b) for _, op, b, _ in gold)
    return not (eqs[0][0] == gold[0][0] and same_ops)


def _ntok(tokenizer, text: str) -> int:
    if tokenizer is None:
        return len(text.split())
    return len(tokenizer(text, add_special_tokens=True)["input_ids"])


def make_attempt_fn(sampler, records: list[dict], task: str, params: SamplingParams, exemplars: list[dict],
                    hint_exemplars: list[dict], tokenizer=None, seed: int = 0):
    """Batched attempt functions over ``records`` for :mod:`method`'s samplers: ``one(indices, hint)`` and
    ``many(indices, k)``. Each call gets its own sampling seed so results do not depend on call batching."""
    calls = [0]

    def _params(n: int) -> SamplingParams:
        calls[0] += 1
        return dataclasses.replace(params, n=n, seed=(seed * 1_000_003 + calls[0] * 7919) % (2**62))

    def _att(i: int, prompt: str, c, hint: bool) -> Attempt:
        pred = extract(c.text, task)
        return Attempt(idx=i, text=c.text, correct=is_correct(pred, records[i]["answer"]), hint=hint,
                       parsed=pred is not None, prompt_tokens=_ntok(tokenizer, prompt), gen_tokens=len(c.token_ids))

    def one(indices: list[int], hint: bool) -> list[Attempt]:
        ex = hint_exemplars if hint else exemplars
        prompts = [sampling_prompt(records[i], ex, hint) for i in indices]
        outs = sampler.generate(prompts, _params(1))
        return [_att(i, p, row[0], hint) for i, p, row in zip(indices, prompts, outs)]

    def many(indices: list[int], k: int) -> list[list[Attempt]]:
        prompts = [sampling_prompt(records[i], exemplars, False) for i in indices]
        outs = sampler.generate(prompts, _params(k))
        return [[_att(i, p, c, False) for c in row] for i, p, row in zip(indices, prompts, outs)]

    return one, many


def evaluate_model(sampler, records: list[dict], task: str, max_new_tokens: int, stop: list[str] | None = None) -> dict:
    """Zero-shot greedy accuracy on ``records`` (spec §2.9), with unparseable outputs counted."""
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, stop=stop or None)
    outs = sampler.generate([zero_shot_prompt(r) for r in records], params)
    texts = [row[0].text for row in outs]
    ev = evaluate_texts(records, texts, task)
    ev["texts"] = texts
    return ev


class HFModelOps:
    """Real-model operations: load the base, save/load checkpoints, build a sampler, run trl SFT."""

    def __init__(self, base_path: str, tokenizer, cfg, work_dir: str | Path):
        self.base_path = str(base_path)
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.work_dir = Path(work_dir)

    def load_base(self):
        return self.load(self.base_path)

    def load(self, path: str | Path):
        from transformers import AutoModelForCausalLM

        kw = {}
        if self.cfg.model.dtype != "auto":  # e.g. float32 master weights; trl's bf16 flag then autocasts
            import torch

            kw["dtype"] = getattr(torch, self.cfg.model.dtype)
        m = AutoModelForCausalLM.from_pretrained(str(path), trust_remote_code=False, **kw)
        if torch_cuda():
            m.to("cuda")
        m.eval()
        return m

    def save(self, model, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        self.tokenizer.save_pretrained(tmp)
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)

    def sampler(self, model, model_path: str | Path | None):
        from mlrepro.sampling import get_sampler, resolve_backend

        backend = resolve_backend(self.cfg.sampling.backend)
        if backend == "vllm":  # vLLM loads weights from disk: give it the saved checkpoint
            return get_sampler("vllm", model=str(model_path or self.base_path), tokenizer=str(model_path or self.base_path))
        # the in-memory model is sampled as it is (no dtype cast: it is also the model being trained)
        return get_sampler(backend, model=model, tokenizer=self.tokenizer, batch_size=self.cfg.sampling.batch_size)

    def train(self, model, examples: list[dict], steps: int, seed: int) -> dict:
        from .trainer import sft_train

        out = sft_train(model, self.tokenizer, examples, steps, self.cfg.trainer, self.work_dir / "trainer",
                        max_length=self.cfg.star.max_length, seed=seed)
        shutil.rmtree(self.work_dir / "trainer", ignore_errors=True)
        return out

    def n_params(self, model) -> int:
        from mlrepro.flops import count_params

        return count_params(model)


def _settings(spec: MethodSpec, star) -> dict:
    return {
        "accumulate": spec.accumulate if star.accumulate is None else bool(star.accumulate),
        "rationalize": spec.rationalize if spec.rationalize is not None else bool(star.rationalize),
        "power": spec.accuracy_power if spec.accuracy_power is not None else float(star.accuracy_power),
    }


def run_star(spec: MethodSpec, cfg, train: list[dict], test: list[dict], ops, out_dir: str | Path, seed: int,
             exemplars: list[dict] | None = None, hint_exemplars: list[dict] | None = None,
             base_eval: dict | None = None, log_fn: Callable[[dict], None] | None = None, progress: bool = True) -> dict:
    """Run (or resume) one method for ``cfg.star.n_iters`` iterations; returns the run summary (history etc.)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sc, sp = cfg.star, cfg.sampling
    task = cfg.data.task
    st = _settings(spec, sc)
    N, B = len(train), int(sc.batch_size)
    exemplars = exemplars or []
    hint_exemplars = hint_exemplars or exemplars
    state_file = out_dir / "state.json"
    model_dir = out_dir / "model_t0"  # no trained checkpoint yet
    tok = getattr(ops, "tokenizer", None)
    params = SamplingParams(n=1, temperature=sp.temperature, top_p=sp.top_p, max_new_tokens=sp.max_new_tokens,
                            stop=list(sp.stop) or None)
    eval_tokens = sp.eval_max_new_tokens or sp.max_new_tokens

    if state_file.exists():
        state = read_json(state_file)
        if state.get("model"):
            model_dir = out_dir / state["model"]
            if not model_dir.exists():
                raise FileNotFoundError(f"{state_file} names checkpoint {model_dir}, which is missing")
        model = ops.load(model_dir) if model_dir.exists() else ops.load_base()
        heap = HieMinHeap.from_state(state["heap"], spec.heap_priority, sc.tie_break, seed)
        log.info("%s seed %d: resuming after iteration %d", spec.name, seed, state["t_done"])
    else:
        model = ops.load_base()
        heap = HieMinHeap(N, spec.heap_priority, sc.tie_break, seed)
        if base_eval is None:
            ev = evaluate_model(ops.sampler(model, None), test, task, eval_tokens, list(sp.stop))
            base_eval = {"accuracy": ev["accuracy"], "unparsed": ev["unparsed"]}
        state = {"t_done": 0, "counts": [0] * N, "train_flops": 0.0, "inference_flops": 0.0,
                 "history": [{"t": 0, "accuracy": base_eval["accuracy"], "unparsed_test": base_eval.get("unparsed", 0),
                              "misread_rate_test": base_eval.get("misread_rate"),
                              "train_flops": 0.0, "inference_flops": 0.0, "total_flops": 0.0, "sd": 0.0}]}
    n_params = float(cfg.n_params) if cfg.n_params else float(ops.n_params(model))
    flops = FlopsCounter(n_params, train=state["train_flops"], inference=state["inference_flops"])
    counts = list(state["counts"])
    history = list(state["history"])

    iters = range(state["t_done"] + 1, sc.n_iters + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(iters, desc=f"{spec.name} s{seed}", unit="it", leave=False)
        iters = bar
    for t in iters:
        steps = steps_schedule(t, sc.start_steps, sc.grow_steps, sc.exponential_grow)
        beta = steps * B
        sampler = ops.sampler(model, model_dir if model_dir.exists() else None)
        one, many = make_attempt_fn(sampler, train, task, params, exemplars, hint_exemplars, tok,
                                    seed=seed * 10_007 + t)
        # -- Sample + Filter ------------------------------------------------------------------------------
        if spec.sampler == "adastar":
            res = adastar_sample(heap.order(), beta, one, st["rationalize"], batch_size=sc.sample_chunk or sp.batch_size)
        else:
            res = star_sample_full(N, one, st["rationalize"], batch_size=sp.batch_size, k=spec.k, attempts_fn=many)
        correct = res.correct
        if spec.cap is not None:
            correct = cap_per_observation(correct, spec.cap)
        # -- Fit to the budget ---------------------------------------------------------------------------
        if spec.budget == "full":
            data = list(correct)
            steps = math.ceil(len(data) / B) if data else 0
        elif spec.sampler == "adastar":
            data = list(correct[:beta])
        else:
            data = star_subsample(correct, beta, random.Random(f"{seed}-{t}"))
        if not data:
            steps = 0
        examples = [train_example(train[a.idx], rationale_of(a.text)) for a in data]
        fps = [f for f in (false_positive(train[a.idx], a.text) for a in data) if f is not None]
        trained_obs = [data[j % len(data)].idx for j in range(steps * B)] if data else []
        # -- Train (accumulate: continue; reset: from the base model) -------------------------------------
        if not st["accumulate"]:
            del model
            model = ops.load_base()
        tr = ops.train(model, examples, steps, seed * 1000 + t)
        # -- AdaC curriculum update ------------------------------------------------------------------------
        n_upd = 0
        if spec.sampler == "adastar":
            n_upd = len(adastar_update(heap, res, t, st["power"], sc.rounding))
        counts = training_counts(N, trained_obs, counts)
        flops.add_inference(res.prompt_tokens + res.gen_tokens, tag=f"t{t}")
        flops.add_train(tr["train_tokens"], tag=f"t{t}")
        # -- Evaluate (the new weights are written to model_next first: a disk-loading backend such as vLLM needs
        # them; model_next becomes model only once the loop state is written, so a kill never mixes iterations) --
        next_dir = out_dir / f"model_t{t}"
        if sc.checkpoint_every_iter or t == sc.n_iters:
            ops.save(model, next_dir)
        ev = evaluate_model(ops.sampler(model, next_dir if next_dir.exists() else None), test, task, eval_tokens,
                            list(sp.stop))
        rec = {"t": t, "steps": steps, "beta": beta, "m": res.m, "alpha": res.alpha, "attempts": res.attempts,
               "n_correct": len(res.correct), "n_trained_examples": len(trained_obs), "n_unique_trained": len(data),
               "num_updated": n_upd, "expected_num_updated": num_updated(res.m, res.alpha, st["power"], sc.rounding)
               if spec.sampler == "adastar" else 0,
               "unparsed_samples": res.unparsed, "unparsed_test": ev["unparsed"], "accuracy": ev["accuracy"],
               "accuracy_by_difficulty": ev.get("accuracy_by_difficulty"), "misread_rate_test": ev.get("misread_rate"),
               "train_loss": tr.get("loss"),
               "false_positive_rate": sum(fps) / len(fps) if fps else None, "train_tokens": tr["train_tokens"], "sample_tokens": res.prompt_tokens + res.gen_tokens,
               "train_flops": flops.train, "inference_flops": flops.inference, "total_flops": flops.total,
               "sd": count_sd(counts)}
        history.append(rec)
        if bar is not None:
            bar.set_postfix(acc=f"{ev['accuracy']:.3f}", m=res.m)
        if log_fn is not None:
            log_fn({"method": spec.name, "seed": seed, **rec})
        # -- Checkpoint --------------------------------------------------------------------------------------
        # the state names the checkpoint it belongs to, so a kill at any point resumes consistently
        state = {"t_done": t, "counts": counts, "train_flops": flops.train, "inference_flops": flops.inference,
                 "history": history, "heap": heap.state(), "model": next_dir.name if next_dir.exists() else None}
        atomic_write_json(state_file, state)
        if next_dir.exists():
            model_dir = next_dir
            for old in out_dir.glob("model_t*"):
                if old != next_dir:
                    shutil.rmtree(old, ignore_errors=True)
    if bar is not None:
        bar.close()
    sd_upto = sc.sd_iters or sc.n_iters
    return {"method": spec.name, "seed": seed, "settings": st, "n_params": n_params, "history": history,
            "counts": counts, "sd": count_sd(counts), "sd_iters": sd_upto,
            "sd_at": next((h["sd"] for h in history if h["t"] == sd_upto), count_sd(counts))}
