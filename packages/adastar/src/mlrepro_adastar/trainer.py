"""The STaR "Train" step with trl's SFTTrainer (spec §2.8).

* Examples are prompt-completion pairs (``data.train_example``), tokenized here with labels -100 on the prompt:
  the NLL covers only the rationale, the answer and the EOS (the code sets every label up to the last "A:" to
  -100); trl's SFTTrainer then trains on them as a pre-tokenized dataset.
* The data order is the code's: a non-shuffled sampler walking D_t^+ in collection order and cycling when it runs
  short. We materialise the exact ``steps * batch`` sequence (:func:`method.training_sequence`) and feed it with
  ``train_sampling_strategy="sequential"``.
* A fresh optimizer and LR scheduler every iteration (the code rebuilds both each iteration, also when
  accumulating). Adam without weight decay (the code's ``weight_decay`` is ignored with ``optim: Adam``) is
  ``adamw_torch`` with ``weight_decay=0``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["sft_train", "plain_sft", "tokenize_examples", "padded_tokens", "DEFAULT_TRAINER"]

# values the paper gives (Table 3) for the SFTConfig; recipes override through their `trainer:` dict
DEFAULT_TRAINER: dict[str, Any] = {
    "learning_rate": 1e-5,
    "lr_scheduler_type": "constant_with_warmup",
    "warmup_steps": 100,
    "optim": "adamw_torch",
    "weight_decay": 0.0,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "bf16": True,
}


def padded_tokens(lengths: list[int], batch_size: int) -> int:
    """Tokens processed when consecutive groups of ``batch_size`` sequences are padded to their longest one."""
    return sum(len(lengths[s:s + batch_size]) * max(lengths[s:s + batch_size])
               for s in range(0, len(lengths), batch_size))


def tokenize_examples(tokenizer, examples: list[dict], max_length: int | None = None) -> list[dict]:
    """Prompt-completion pairs -> ``{"input_ids", "labels"}`` with -100 on the prompt, EOS appended: the code's
    rationale-only mask (every label up to the last "A:" ignored). Pre-tokenizing here (trl's
    ``skip_prepare_dataset``) saves trl's five dataset passes per STaR iteration."""
    eos = tokenizer.eos_token_id
    full = tokenizer([e["prompt"] + e["completion"] for e in examples], add_special_tokens=True)["input_ids"]
    prompts = tokenizer([e["prompt"] for e in examples], add_special_tokens=True)["input_ids"]
    out = []
    for ids, p in zip(full, prompts):
        n = 0
        while n < min(len(p), len(ids)) and p[n] == ids[n]:
            n += 1
        ids = list(ids) + [eos]
        labels = [-100] * n + ids[n:]
        if max_length is not None:
            ids, labels = ids[:max_length], labels[:max_length]
        out.append({"input_ids": ids, "labels": labels})
    return out


def sft_train(model, tokenizer, examples: list[dict], steps: int, trainer_args: dict[str, Any], output_dir: str | Path,
              max_length: int | None = None, seed: int = 0) -> dict:
    """Run ``steps`` optimizer steps of rationale-only SFT on ``examples`` (already in feed order; cycled if short).

    Returns ``{"steps", "examples", "train_tokens" (padded, for 6N FLOPs), "loss"}``. The model is trained in place.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if steps <= 0 or not examples:
        return {"steps": 0, "examples": 0, "train_tokens": 0, "loss": None}
    args = {**DEFAULT_TRAINER, **dict(trainer_args)}
    per_dev = int(args["per_device_train_batch_size"])
    accum = int(args.get("gradient_accumulation_steps", 1))
    eff = per_dev * accum * _world_size()
    need = steps * eff
    toks = tokenize_examples(tokenizer, examples, max_length)
    seq = [toks[j % len(toks)] for j in range(need)]
    args.update(output_dir=str(output_dir), max_steps=int(steps), num_train_epochs=1, seed=seed,
                train_sampling_strategy="sequential", save_strategy="no", max_length=max_length,
                dataloader_drop_last=False, dataset_kwargs={"skip_prepare_dataset": True})
    args.setdefault("report_to", "none")
    args.setdefault("logging_steps", max(1, steps))
    args.setdefault("disable_tqdm", True)
    cfg = SFTConfig(**args)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(seq), processing_class=tokenizer)
    # accelerate's free_memory() runs gc.collect() after training; with the interpreter's long-lived objects frozen
    # it only scans what this call created (seconds saved per iteration on CPU); unfrozen again right after
    import gc

    gc.freeze()
    try:
        out = trainer.train()
    finally:
        gc.unfreeze()
    model.eval()
    loss = out.training_loss
    return {"steps": int(steps), "examples": need,
            "train_tokens": padded_tokens([len(x["input_ids"]) for x in seq], per_dev),
            "loss": float(loss) if loss is not None and not math.isnan(loss) else None}


def _world_size() -> int:
    try:
        import torch.distributed as dist

        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    except Exception:  # pragma: no cover
        return 1


def plain_sft(model, tokenizer, examples: list[dict], steps: int, batch_size: int, learning_rate: float,
              max_length: int | None = None, warmup_steps: int = 0, seed: int = 0, progress: bool = True) -> dict:
    """A lean causal-LM SFT loop (same masking as :func:`sft_train`, Adam, linear warm-up then constant LR) used
    only for the mini recipe's seed SFT of the from-scratch base model, where trl's per-step bookkeeping would
    double the cost. The STaR iterations themselves always go through :func:`sft_train` (trl)."""
    import torch

    toks = tokenize_examples(tokenizer, examples, max_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warmup_steps)))
    torch.manual_seed(seed)
    model.train()
    tokens, losses = 0, []
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="seed SFT", unit="step", leave=False)
    for s in it:
        batch = [toks[(s * batch_size + j) % len(toks)] for j in range(batch_size)]  # stream, in order
        L = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), L), pad, dtype=torch.long)
        lab = torch.full((len(batch), L), -100, dtype=torch.long)
        att = torch.zeros((len(batch), L), dtype=torch.long)
        for r, b in enumerate(batch):  # right padding for training
            n = len(b["input_ids"])
            ids[r, :n] = torch.tensor(b["input_ids"])
            lab[r, :n] = torch.tensor(b["labels"])
            att[r, :n] = 1
        loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += len(batch) * L
        losses.append(float(loss.detach()))
    model.eval()
    return {"steps": steps, "examples": steps * batch_size, "train_tokens": tokens,
            "loss": float(sum(losses[-20:]) / max(1, len(losses[-20:]))) if losses else None}
