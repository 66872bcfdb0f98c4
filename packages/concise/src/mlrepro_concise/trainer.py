"""Training for the concise pipeline.

- :func:`sft` is the paper's step: full-parameter SFT with trl on (question -> selected path) pairs in the direct
  prompt-completion format, loss on the completion only (digest §2.3).
- :func:`pretrain_tiny` builds the miniature's *base* model: a tiny Qwen2 pre-trained from scratch on style-consistent
  multi-example documents (world-building for the mini recipe; not part of the paper's method).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from mlrepro.runs import get_logger

log = get_logger("mlrepro.concise.trainer")

# The paper's SFT recipe (digest §2.3); recipes override per scale.
SFT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-5,
    "lr_scheduler_type": "constant",
    "warmup_steps": 0,
    "num_train_epochs": 1,
    "per_device_train_batch_size": 16,
    "gradient_accumulation_steps": 1,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "seed": 0,
    "completion_only_loss": True,
    "packing": False,
    "save_strategy": "no",
    "logging_steps": 16,
}


def pretrain_tiny(docs: list[str], tokenizer, model, lr: float, batch_size: int, epochs: int, max_length: int,
                  seed: int, progress: bool = True) -> dict:
    """Causal-LM pre-training with AdamW and a cosine schedule; each document ends with EOS."""
    import torch
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    enc = [tokenizer(d, add_special_tokens=False)["input_ids"][: max_length - 1] + [tokenizer.eos_token_id] for d in docs]
    steps = epochs * math.ceil(len(enc) / batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 20)) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    pad = tokenizer.pad_token_id
    losses = []
    bar = tqdm(total=steps, desc="pretrain tiny base", disable=not progress)
    for _ in range(epochs):
        order = list(range(len(enc)))
        rng.shuffle(order)
        for s in range(0, len(order), batch_size):
            batch = [enc[i] for i in order[s:s + batch_size]]
            L = max(len(b) for b in batch)
            ids = torch.full((len(batch), L), pad, dtype=torch.long)
            labels = torch.full((len(batch), L), -100, dtype=torch.long)
            att = torch.zeros((len(batch), L), dtype=torch.long)
            for r, b in enumerate(batch):
                ids[r, : len(b)] = torch.tensor(b)
                labels[r, : len(b)] = torch.tensor(b)
                att[r, : len(b)] = 1
            loss = model(input_ids=ids, attention_mask=att, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    del g
    model.eval()
    return {"steps": steps, "final_loss": sum(losses[-10:]) / max(1, len(losses[-10:])), "first_loss": losses[0] if losses else None}


def sft(model_path: str | Path, records: list[dict], output_dir: str | Path, trainer_kwargs: dict[str, Any],
        seed: int, dtype: str = "auto") -> Path:
    """Full-parameter SFT (trl ``SFTTrainer``) on ``{"prompt", "completion"}`` records; the completion-only loss
    masks the prompt (the question). Saves model + tokenizer to ``output_dir/model`` and returns that path."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    if not records:
        raise ValueError("no SFT records: every question lost its candidates in filtering")
    out = Path(output_dir)
    kw = {**SFT_DEFAULTS, **trainer_kwargs, "seed": seed, "output_dir": str(out / "trainer"), "report_to": trainer_kwargs.get("report_to", "none")}
    if not torch.cuda.is_available():
        kw.update(use_cpu=True, bf16=False, fp16=False)
    tok = AutoTokenizer.from_pretrained(str(model_path))
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch_dtype)
    ds = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in records])
    trainer = SFTTrainer(model=model, args=SFTConfig(**kw), train_dataset=ds, processing_class=tok)
    trainer.train()
    dest = out / "model"
    trainer.model.save_pretrained(dest)
    tok.save_pretrained(dest)
    return dest
