"""Helper script for test_training.py: a few SFT steps of a tiny LM on 2 CPU processes (gloo), launched by torchrun.

Usage: python -m torch.distributed.run --standalone --nproc_per_node 2 training_sft_ddp.py MODEL_DIR OUT_DIR [MODE]
MODE ``accelerate`` (default): a plain accelerate loop (``Accelerator(cpu=True)``, DDP-wrapped model) on batches built
with mlrepro.training's completion-only tokenization; MODE ``trl``: TRL's ``SFTTrainer`` on prompt-completion records.
Each rank writes OUT_DIR/rank<k>.json: the world size it saw, a hash of its initial and final weights, and a hash of
its first batch (the ranks must see different data and end with identical weights).
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import partial
from pathlib import Path

RECORDS = [{"question": f"What is {a} + {b}?", "answer": f"{a} + {b} = {a + b}"} for a in range(3, 9) for b in range(2, 6)]
STEPS, BATCH, LR = 3, 2, 5e-3


def weights_digest(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def _digest(t) -> str:
    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()


def run_accelerate(model_dir: str) -> dict:
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader
    from transformers import AutoModelForCausalLM

    from mlrepro.training import (
        pad_batch,
        prompt_completion_records,
        setup_tokenizer,
        tokenize_prompt_completion,
    )

    acc = Accelerator(cpu=True)
    assert acc.num_processes == 2, f"expected 2 processes, accelerate sees {acc.num_processes}"
    torch.manual_seed(0)
    tok = setup_tokenizer(model_dir, padding_side="right")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    init = weights_digest(model)
    recs = prompt_completion_records(RECORDS, prompt_key="question", completion_key="answer")
    feats = [tokenize_prompt_completion(tok, r["prompt"], r["completion"], max_length=64) for r in recs]
    loader = DataLoader(feats, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0),
                        collate_fn=partial(pad_batch, pad_token_id=tok.pad_token_id))
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    model, opt, loader = acc.prepare(model, opt, loader)
    first = None
    model.train()
    for _, batch in zip(range(STEPS), loader):
        first = first if first is not None else _digest(batch["input_ids"])
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        acc.backward(out.loss)
        opt.step()
        opt.zero_grad()
    return {"num_processes": acc.num_processes, "init": init, "final": weights_digest(acc.unwrap_model(model)),
            "steps": STEPS, "first_batch": first}


def run_trl(model_dir: str, out_dir: Path) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from mlrepro.training import prompt_completion_records, setup_tokenizer

    tok = setup_tokenizer(model_dir, padding_side="right")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    init = weights_digest(model)
    ds = Dataset.from_list(prompt_completion_records(RECORDS, prompt_key="question", completion_key="answer"))
    args = SFTConfig(output_dir=str(out_dir / "trainer"), use_cpu=True, bf16=False, fp16=False, report_to="none",
                     save_strategy="no", logging_steps=1, dataloader_num_workers=0, disable_tqdm=True,
                     max_steps=STEPS, per_device_train_batch_size=BATCH, learning_rate=LR, seed=0, max_length=64,
                     ddp_backend="gloo")
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    n = trainer.accelerator.num_processes
    assert n == 2, f"expected 2 processes, accelerate sees {n}"
    trainer.train()
    first = next(iter(trainer.get_train_dataloader()))["input_ids"]
    return {"num_processes": n, "init": init, "final": weights_digest(trainer.model),
            "steps": trainer.state.global_step, "first_batch": _digest(first)}


def main() -> None:
    model_dir, out_dir = sys.argv[1], Path(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "accelerate"
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    out = run_accelerate(model_dir) if mode == "accelerate" else run_trl(model_dir, out_dir)
    assert dist.is_initialized() and dist.get_world_size() == 2
    out.update(rank=dist.get_rank(), world_size=dist.get_world_size(), backend=dist.get_backend(), mode=mode)
    (out_dir / f"rank{dist.get_rank()}.json").write_text(json.dumps(out))
    dist.barrier()


if __name__ == "__main__":
    main()
