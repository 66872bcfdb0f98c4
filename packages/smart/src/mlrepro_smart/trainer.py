"""Training of the mini's tiny models (the paper itself trains nothing: SMART is an inference-time method).

Three tiny Qwen2 models are trained from scratch on the synthetic step world (:mod:`mlrepro_smart.data`) with a
plain torch loop (single process, CPU friendly; a TRL trainer adds only overhead at this size):

* the LLM and the SLM: next-token loss on the solution tokens after the prompt; the SLM has less width and fewer
  updates, so it makes more arithmetic slips (the capacity gap SMART exploits);
* the PRM: initialised from the trained LLM (as RLHFlow's PRM is fine-tuned from Llama-3.1-8B-Instruct) and trained
  on the RLHFlow conversation format with every assistant turn "+" in the input; at each label position a 2-way
  cross-entropy over the "+"/"-" logits is fitted to the rule-checked label, which is exactly the quantity
  :class:`~mlrepro_smart.models.PRMScorer` reads.

Training resumes from ``ckpt.pt`` (model + optimiser + step, loaded with ``weights_only=True``) when a stage is
re-run after a kill. Batches are drawn from a generator seeded by ``(seed, step)``, so a resumed run sees the
same batches as an uninterrupted one.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .data import corrupt_solution, step_labels
from .method import STEP_DELIMITER
from .models import label_positions

__all__ = ["lm_examples", "prm_examples", "train_lm", "train_prm", "build_world_tokenizer"]


def build_world_tokenizer(texts: Sequence[str], vocab_size: int):
    """Byte-level BPE tokenizer trained on the world's own texts with GPT-2 pre-tokenization, so that every number
    of the world becomes one token (``mlrepro.testing.build_tokenizer`` splits digits like Qwen2, which makes the
    arithmetic much slower to learn for the tiny models). Special tokens and the ChatML template are the shared
    ones. Reload it with :func:`mlrepro_smart.reproduce.load_tokenizer` (``AutoTokenizer`` would swap in Qwen2's
    digit-splitting pre-tokenizer for a qwen2 model folder)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from mlrepro.testing import CHATML_TEMPLATE, SPECIAL_TOKENS

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|pad|>", bos_token=None,
                                   unk_token=None, additional_special_tokens=["<|endoftext|>", "<|im_start|>"],
                                   model_max_length=512, padding_side="left")
    fast.chat_template = CHATML_TEMPLATE
    return fast


def lm_examples(records: Sequence[dict], tokenizer, template: str = "{question}\n") -> list[tuple[list[int], list[int]]]:
    """(prompt ids, completion ids + EOS) per record: the solution is the steps joined by blank lines."""
    eos = tokenizer.eos_token_id
    out = []
    for r in records:
        p = tokenizer(template.format(question=r["question"]), add_special_tokens=False)["input_ids"]
        c = tokenizer(STEP_DELIMITER.join(r["steps"]), add_special_tokens=False)["input_ids"] + [eos]
        out.append((list(p), list(c)))
    return out


def prm_examples(records: Sequence[dict], tokenizer, corrupt_prob: float = 0.6, seed: int = 0,
                 label: str = "+") -> tuple[list[tuple[list[int], list[int], list[int]]], dict[str, float]]:
    """(ids, label positions, labels) per record: the gold solution or, with ``corrupt_prob``, a corrupted one;
    labels from the rule checker :func:`~mlrepro_smart.data.step_labels` (1 = good). Also returns label stats."""
    rng = random.Random(seed)
    out, n_pos, n_lab = [], 0, 0
    for r in records:
        steps = corrupt_solution(r, rng) if rng.random() < corrupt_prob else list(r["steps"])
        labels = [int(x) for x in step_labels(r, steps)]
        ids, pos = label_positions(tokenizer, r["question"], steps, label)
        out.append((ids, pos, labels))
        n_pos += sum(labels)
        n_lab += len(labels)
    return out, {"examples": len(out), "labels": n_lab, "good_fraction": n_pos / max(n_lab, 1)}


def _lr_at(step: int, steps: int, lr: float, warmup: int, final_frac: float = 0.05) -> float:
    """Linear warm-up, then linear decay to ``final_frac * lr``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return lr * max(final_frac, 1.0 - frac * (1.0 - final_frac))


def _loop(model, steps: int, lr: float, warmup: int, weight_decay: float, loss_at: Callable[[int], Any],
          ckpt_dir: str | Path | None, ckpt_every: int, desc: str, log: Callable[[dict], None] | None,
          eval_fn: Callable[[], float] | None = None, eval_every: int = 0, target: float | None = None,
          closest: bool = False) -> dict:
    """Optimise ``loss_at(step)``; with ``eval_fn``, evaluate every ``eval_every`` steps and stop as soon as the
    value reaches ``target``. With ``closest``, keep whichever of the last two evaluated snapshots is closer to the
    target (accuracy can jump between two evaluations). This is the mini's way of fixing a model's capability."""
    import copy

    import torch
    from tqdm.auto import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98))
    start = 0
    ckpt = Path(ckpt_dir) / "ckpt.pt" if ckpt_dir else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = int(state["step"])
    model.train()
    t0, loss_ema, last = time.time(), None, float("nan")
    curve: list[tuple[int, float]] = []
    stopped_at = None
    prev_snapshot: tuple[int, float, dict] | None = None
    bar = tqdm(range(start, steps), desc=desc, leave=False, mininterval=5.0, disable=None)
    for step in bar:
        if eval_fn is not None and eval_every > 0 and step > start and step % eval_every == 0:
            model.eval()
            val = float(eval_fn())
            model.train()
            curve.append((step, val))
            if log is not None:
                log({"step": step, "val": val})
            if target is not None and val >= target:
                stopped_at = step
                if closest and prev_snapshot is not None and abs(prev_snapshot[1] - target) < abs(val - target):
                    model.load_state_dict(prev_snapshot[2])
                    stopped_at = prev_snapshot[0]
                break
            prev_snapshot = (step, val, copy.deepcopy(model.state_dict()))
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, lr, warmup)
        loss = loss_at(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last = float(loss.item())
        loss_ema = last if loss_ema is None else 0.95 * loss_ema + 0.05 * last
        if log is not None and (step % 50 == 0 or step == steps - 1):
            log({"step": step, "loss": last, "loss_ema": loss_ema, "lr": opt.param_groups[0]["lr"]})
        if ckpt is not None and ckpt_every > 0 and (step + 1) % ckpt_every == 0 and step + 1 < steps:
            tmp = ckpt.with_suffix(f".tmp{os.getpid()}")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1}, tmp)
            os.replace(tmp, ckpt)
    model.eval()
    return {"steps": steps, "resumed_from": start, "final_loss": last, "final_loss_ema": loss_ema,
            "train_seconds": round(time.time() - t0, 2), "stopped_at": stopped_at,
            "steps_done": stopped_at if stopped_at is not None else steps, "val_curve": curve}


def _batch(rng_seed: int, step: int, n: int, batch_size: int) -> list[int]:
    r = random.Random(rng_seed * 1_000_003 + step)
    return [r.randrange(n) for _ in range(batch_size)]


def train_lm(model, examples: Sequence[tuple[list[int], list[int]]], pad_id: int, steps: int, batch_size: int,
             lr: float, warmup: int = 50, weight_decay: float = 0.0, seed: int = 0,
             ckpt_dir: str | Path | None = None, ckpt_every: int = 0, desc: str = "train lm",
             log: Callable[[dict], None] | None = None, eval_fn: Callable[[], float] | None = None,
             eval_every: int = 0, target: float | None = None, closest: bool = False) -> dict:
    """Causal-LM training on the completion tokens (the prompt is context only); optional early stop at a target
    validation value (see :func:`_loop`)."""
    import torch

    if not examples:
        raise ValueError("no training examples")

    def loss_at(step: int):
        batch = [examples[i] for i in _batch(seed, step, len(examples), batch_size)]
        T = max(len(p) + len(c) for p, c in batch)
        ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
        lab = torch.full((len(batch), T), -100, dtype=torch.long)
        att = torch.zeros((len(batch), T), dtype=torch.long)
        for r, (p, c) in enumerate(batch):
            x = p + c
            ids[r, :len(x)] = torch.tensor(x)
            lab[r, len(p):len(x)] = torch.tensor(c)
            att[r, :len(x)] = 1
        return model(input_ids=ids, attention_mask=att, labels=lab).loss

    return _loop(model, steps, lr, warmup, weight_decay, loss_at, ckpt_dir, ckpt_every, desc, log, eval_fn,
                 eval_every, target, closest)


def train_prm(model, examples: Sequence[tuple[list[int], list[int], list[int]]], pad_id: int, good_id: int,
              bad_id: int, steps: int, batch_size: int, lr: float, warmup: int = 50, weight_decay: float = 0.0,
              seed: int = 0, ckpt_dir: str | Path | None = None, ckpt_every: int = 0, desc: str = "train prm",
              log: Callable[[dict], None] | None = None) -> dict:
    """2-way cross-entropy on the ("+", "-") logits at every label position (label 1 = "+")."""
    import torch

    if not examples:
        raise ValueError("no PRM training examples")

    def loss_at(step: int):
        batch = [examples[i] for i in _batch(seed, step, len(examples), batch_size)]
        T = max(len(x[0]) for x in batch)
        ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
        att = torch.zeros((len(batch), T), dtype=torch.long)
        rows, cols, ys = [], [], []
        for r, (x, pos, lab) in enumerate(batch):
            ids[r, :len(x)] = torch.tensor(x)
            att[r, :len(x)] = 1
            rows += [r] * len(pos)
            cols += list(pos)
            ys += [0 if y else 1 for y in lab]  # class 0 = good ("+"), class 1 = bad ("-")
        logits = model(input_ids=ids, attention_mask=att).logits
        pair = logits[torch.tensor(rows), torch.tensor(cols)][:, [good_id, bad_id]]
        return torch.nn.functional.cross_entropy(pair.float(), torch.tensor(ys))

    return _loop(model, steps, lr, warmup, weight_decay, loss_at, ckpt_dir, ckpt_every, desc, log)
