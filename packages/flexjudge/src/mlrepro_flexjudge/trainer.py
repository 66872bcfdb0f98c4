"""The SFT recipe (paper App. B.2, spec §2.3) with trl's ``SFTTrainer``.

* Data: each curated record is ``prompt + completion`` (the official ``prompt + text``: the chat-templated system
  and user turns, ``<|im_start|>assistant\\n``, then ``<think>\\n``, the reasoning, ``</think>``, the answer tags;
  we append ``<|im_end|>`` [INFERRED improvement, flagged in the README]).
* Loss on the assistant part only, exactly as ``DataCollatorForCompletionOnlyLM`` with
  ``response_template="<|im_start|>assistant\\n"`` and ``instruction_template="<|im_start|>user"``: the labels are
  built here by :func:`mlrepro_flexjudge.method.completion_only_labels` on the token ids (trl 1.x removed that
  collator) and handed to ``SFTTrainer`` as a pre-tokenized dataset (``skip_prepare_dataset``); records whose
  template is not found are counted (they carry no loss, as in trl).
* Models: Qwen2.5-VL -> ``Qwen2_5_VLForConditionalGeneration``; Qwen2.5-Omni -> only
  ``Qwen2_5OmniThinkerForConditionalGeneration`` is trained, then :func:`merge_omni_thinker` swaps it into the full
  ``Qwen2_5OmniForConditionalGeneration`` and saves that (so vLLM can load it); Llama-3.1 (molecule judge) as a
  causal LM with the Llama templates. All parameters train; the vision/audio towers get no gradient.
* Multi-GPU: ``accelerate launch`` with DeepSpeed ZeRO-3 and the optimizer offloaded to CPU:
  :func:`paper_accelerate_config` derives it from ``mlrepro.training``'s ``zero3_offload`` (the paper's file keeps
  parameters on GPU, ``zero3_init_flag: false``, 16-bit save, 4 processes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .method import completion_only_labels

__all__ = ["TEMPLATES", "PAPER_TRAINER", "tokenize_sft", "sft_train", "load_for_sft", "merge_omni_thinker",
           "paper_accelerate_config", "write_accelerate_config"]

# response / instruction templates and pad token of the official sft.py, per backbone family
TEMPLATES = {
    "qwen": {"response": "<|im_start|>assistant\n", "instruction": "<|im_start|>user", "pad": "<|fim_pad|>"},
    "llama": {"response": "<|start_header_id|>assistant<|end_header_id|>\n\n",
              "instruction": "<|start_header_id|>user<|end_header_id|>", "pad": "<|reserved_special_token_5|>"},
}

# train/vl.sh (Flex-VL-7B); omni.sh differs only in learning_rate 7e-6
PAPER_TRAINER: dict[str, Any] = {
    "learning_rate": 1e-5,
    "num_train_epochs": 1,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 4,
    "warmup_steps": 0.05,  # transformers 5: a float < 1 is a ratio (the script's warmup_ratio 0.05)
    "lr_scheduler_type": "cosine",
    "weight_decay": 1e-4,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "bf16": True,
    "gradient_checkpointing": True,
    "save_strategy": "no",
    "save_only_model": True,
    "eval_strategy": "no",
    "logging_steps": 1,
    "report_to": "none",
}


def tokenize_sft(tokenizer, records: Sequence[dict], max_length: int | None = None, family: str = "qwen",
                 add_special_tokens: bool = False) -> tuple[list[dict], dict[str, int]]:
    """Tokenize ``prompt + completion`` and build completion-only labels with the response/instruction templates.

    Returns the examples ``{"input_ids", "labels"}`` (truncated to ``max_length``, keeping the start, like the
    official ``block_size``) and stats: ``no_template`` (records with no response template: no loss),
    ``truncated``, ``loss_tokens``."""
    t = TEMPLATES[family]
    resp = tokenizer(t["response"], add_special_tokens=False)["input_ids"]
    inst = tokenizer(t["instruction"], add_special_tokens=False)["input_ids"]
    out, stats = [], {"no_template": 0, "truncated": 0, "loss_tokens": 0, "examples": 0}
    for r in records:
        ids = list(tokenizer(r["prompt"] + r["completion"], add_special_tokens=add_special_tokens)["input_ids"])
        if max_length is not None and len(ids) > max_length:
            ids = ids[:max_length]
            stats["truncated"] += 1
        labels = completion_only_labels(ids, resp, inst)
        n = sum(x != -100 for x in labels)
        if n == 0:
            stats["no_template"] += 1
        stats["loss_tokens"] += n
        stats["examples"] += 1
        out.append({"input_ids": ids, "labels": labels})
    return out, stats


def sft_train(model, tokenizer, examples: list[dict], trainer_args: dict[str, Any], output_dir: str | Path,
              max_length: int | None = None, seed: int = 0, resume: bool = False, callbacks=None,
              save_dir: str | Path | None = None) -> dict:
    """Run trl ``SFTTrainer`` on pre-tokenized examples (``input_ids`` + ``labels``). ``trainer_args`` go to
    ``SFTConfig`` (the recipe's ``trainer:`` dict). Returns ``{"steps", "loss", "log_history"}``; the model is
    trained in place and, with ``save_dir``, saved through ``trainer.save_model`` (main process only; under ZeRO-3
    the 16-bit weights are gathered first, as the paper's ``zero3_save_16bit_model``)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = dict(trainer_args)
    args.update(output_dir=str(output_dir), seed=seed, max_length=max_length,
                dataset_kwargs={"skip_prepare_dataset": True}, remove_unused_columns=False)
    args.setdefault("report_to", "none")
    cfg = SFTConfig(**args)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(examples),
                         processing_class=tokenizer, callbacks=callbacks)
    ckpt = None
    if resume:
        ckpts = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        ckpt = str(ckpts[-1]) if ckpts else None
    out = trainer.train(resume_from_checkpoint=ckpt)
    if save_dir is not None:
        trainer.save_model(str(save_dir))
    model.eval()
    loss = out.training_loss
    hist = [{k: v for k, v in h.items() if isinstance(v, (int, float))} for h in trainer.state.log_history]
    return {"steps": int(trainer.state.global_step),
            "loss": float(loss) if loss is not None and not math.isnan(loss) else None, "log_history": hist}


def load_for_sft(name_or_path: str, arch: str, dtype: str = "bfloat16", attn_implementation: str | None = None):
    """(model, tokenizer) as the official ``sft.py`` loads them: ``qwen2.5-vl`` ->
    ``Qwen2_5_VLForConditionalGeneration``; ``qwen2.5-omni`` -> the thinker only; ``llama`` -> causal LM. The pad
    token is the family's unused token (``<|fim_pad|>`` / ``<|reserved_special_token_5|>``)."""
    import torch
    from transformers import AutoTokenizer

    kw: dict[str, Any] = {"dtype": getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype,
                          "trust_remote_code": False}
    if attn_implementation:
        kw["attn_implementation"] = attn_implementation
    if arch == "qwen2.5-vl":
        from transformers import Qwen2_5_VLForConditionalGeneration as M
    elif arch == "qwen2.5-omni":
        from transformers import Qwen2_5OmniThinkerForConditionalGeneration as M
    elif arch == "llama":
        from transformers import AutoModelForCausalLM as M
    else:
        raise ValueError(f"unknown arch {arch!r} (qwen2.5-vl, qwen2.5-omni, llama)")
    model = M.from_pretrained(name_or_path, **kw)
    tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    pad = TEMPLATES["llama" if arch == "llama" else "qwen"]["pad"]
    if pad in tok.get_vocab():
        tok.pad_token = pad
    elif tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return model, tok


def merge_omni_thinker(base_name_or_path: str, thinker, out_dir: str | Path, dtype: str = "bfloat16") -> Path:
    """Load the full Qwen2.5-Omni, replace its thinker with the trained one (a model or the folder it was saved to),
    save the whole model (vLLM loads it)."""
    import torch
    from transformers import (
        AutoProcessor,
        Qwen2_5OmniForConditionalGeneration,
        Qwen2_5OmniThinkerForConditionalGeneration,
    )

    if isinstance(thinker, str | Path):
        thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
            str(thinker), dtype=getattr(torch, dtype), trust_remote_code=False)
    full = Qwen2_5OmniForConditionalGeneration.from_pretrained(
        base_name_or_path, dtype=getattr(torch, dtype), trust_remote_code=False)
    full.thinker = thinker
    out = Path(out_dir)
    full.save_pretrained(out)
    AutoProcessor.from_pretrained(base_name_or_path, trust_remote_code=False).save_pretrained(out)
    return out


def paper_accelerate_config(num_processes: int = 4) -> dict:
    """The paper's ZeRO-3 launcher config, derived from ``mlrepro.training``'s ``zero3_offload``: optimizer states
    on CPU, parameters on GPU (``offload_param_device: none``), ``zero3_init_flag: false``, 16-bit save, bf16,
    ``num_processes`` (4 in the launch scripts)."""
    from mlrepro.training import load_accelerate_config

    cfg = load_accelerate_config("zero3_offload")
    ds = dict(cfg.get("deepspeed_config", {}))
    ds.update(offload_optimizer_device="cpu", offload_param_device="none", zero3_init_flag=False,
              zero3_save_16bit_model=True, zero_stage=3)
    cfg["deepspeed_config"] = ds
    cfg.update(num_processes=int(num_processes), mixed_precision="bf16")
    return cfg


def write_accelerate_config(path: str | Path, num_processes: int = 4) -> Path:
    import yaml

    from mlrepro.runs import atomic_write_text

    p = Path(path)
    atomic_write_text(p, "# derived from mlrepro.training zero3_offload (paper: accelerate_configs/deepspeed_zero3)\n"
                      + yaml.safe_dump(paper_accelerate_config(num_processes), sort_keys=True))
    return p
