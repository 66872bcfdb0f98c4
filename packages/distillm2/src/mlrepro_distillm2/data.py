"""Data pipeline (paper §2.2, §3.2, Algorithm 1; code ``generate/generate_vllm.py``, ``generate/reformat.py``,
``tokenize_row``): prompts -> teacher and student responses through :mod:`mlrepro.sampling` -> paired records
(teacher = chosen, student = rejected) -> tokenization with prompt masking -> the concatenated 2B-row batch.

Everything takes a hub id or a local path and is deterministic given the seed. ``datasets`` is imported lazily.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IGNORE_INDEX = -100

# Where the prompt lives in the paper's prompt sets (spec §2.6). SPIN_iter* hold UltraChat prompts as the first
# (user) message of the `generated` conversation.
PROMPT_FIELDS: dict[str, str] = {
    "UCLA-AGI/SPIN_iter0": "generated",
    "UCLA-AGI/SPIN_iter1": "generated",
    "UCLA-AGI/SPIN_iter2": "generated",
    "HuggingFaceH4/ultrachat_200k": "prompt",
    "meta-math/MetaMathQA": "query",
    "nickrosh/Evol-Instruct-Code-80k-v1": "instruction",
}
_FALLBACK_FIELDS = ("prompt", "instruction", "query", "question", "problem", "generated", "messages", "real",
                    "chosen")


def extract_prompt(row: Mapping[str, Any], field: str | None = None) -> str | None:
    """The user prompt of one dataset row: ``row[field]`` when it is a string, or the first user message when it is
    a conversation (``[{"role": "user", "content": ...}, ...]``). Without ``field`` the usual names are tried."""
    for key in ([field] if field else _FALLBACK_FIELDS):
        if key not in row or row[key] is None:
            continue
        v = row[key]
        if isinstance(v, str):
            return v
        if isinstance(v, Sequence) and v and isinstance(v[0], Mapping):
            for m in v:
                if m.get("role") == "user":
                    return str(m.get("content", ""))
            return str(v[0].get("content", ""))
    return None


def load_prompts(source: str, *, split: str = "train", field: str | None = None, limit: int | None = None,
                 seed: int = 0, shuffle: bool = True, name: str | None = None) -> list[str]:
    """Prompts of a hub dataset (``UCLA-AGI/SPIN_iter1``, ``meta-math/MetaMathQA``, ...) or a local
    JSON/JSONL/Parquet/CSV file: rows without a prompt and duplicate prompts are dropped; a seeded shuffle then the
    first ``limit`` (the paper's "50K random prompts")."""
    from mlrepro.tasks.loaders import load_records

    rows = load_records(source, split=split, name=name)
    field = field or PROMPT_FIELDS.get(source)
    seen, out = set(), []
    for r in rows:
        p = extract_prompt(r, field)
        if p and p.strip() and p not in seen:
            seen.add(p)
            out.append(p)
    if not out:
        raise ValueError(f"no prompts found in {source!r} (split {split!r}, field {field!r})")
    if shuffle:
        random.Random(seed).shuffle(out)
    return out[:limit] if limit else out


# ------------------------------------------------------------------------------------------------ generation
@dataclass
class GenerationStats:
    """Counts for one generation call: empty outputs are unusable (dropped at pairing), truncated ones kept."""

    n: int = 0
    empty: int = 0
    truncated: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"n": self.n, "empty": self.empty, "truncated": self.truncated}


@dataclass
class GenerationConfig:
    """Response sampling (code ``generate_vllm.py``: T = 0.8, top-p 0.95, 1024 tokens, one sample per prompt)."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 1024
    seed: int = 42
    chat: bool = True
    system: str | None = None
    stop: list[str] | None = field(default=None)


def as_model_prompt(prompt: str, chat: bool = True, system: str | None = None) -> Any:
    """What the sampler receives: chat messages (``[system?, user]``; the backend applies the model's own chat
    template with the generation prompt) or the plain string."""
    if not chat:
        return prompt
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": prompt}]


def generate_responses(sampler: Any, prompts: Sequence[str], gen: GenerationConfig) -> tuple[list[str], GenerationStats]:
    """One response per prompt from any :mod:`mlrepro.sampling` backend (vLLM in the paper recipe, hf in the mini)."""
    from mlrepro.sampling import SamplingParams

    params = SamplingParams(n=1, temperature=gen.temperature, top_p=gen.top_p, max_new_tokens=gen.max_new_tokens,
                            seed=gen.seed, stop=gen.stop)
    outs = sampler.generate([as_model_prompt(p, gen.chat, gen.system) for p in prompts], params)
    stats = GenerationStats(n=len(prompts))
    texts = []
    for row in outs:
        c = row[0]
        text = c.text.strip()
        stats.empty += not text
        stats.truncated += c.finish_reason == "length"
        texts.append(text)
    return texts, stats


# ------------------------------------------------------------------------------------------------ pairing
def pair_records(prompts: Sequence[str], teacher_texts: Sequence[str | None], student_texts: Sequence[str | None],
                 *, system: str | None = None) -> tuple[list[dict], int]:
    """Paired preference records (code ``reformat.py``): ``chosen = [user: prompt, assistant: teacher text]``,
    ``rejected = [user: prompt, assistant: student text]``. Prompts whose teacher or student response is missing or
    empty are dropped; returns (records, number dropped)."""
    if not len(prompts) == len(teacher_texts) == len(student_texts):
        raise ValueError("prompts, teacher_texts and student_texts must have the same length")
    out, dropped = [], 0
    for p, t, s in zip(prompts, teacher_texts, student_texts):
        if not t or not s or not str(t).strip() or not str(s).strip():
            dropped += 1
            continue
        head = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p}]
        out.append({"prompt": p,
                    "chosen": head + [{"role": "assistant", "content": str(t)}],
                    "rejected": head + [{"role": "assistant", "content": str(s)}]})
    return out, dropped


def reformat(teacher_rows: Iterable[Mapping[str, Any]], student_rows: Iterable[Mapping[str, Any]]
             ) -> tuple[list[dict], int]:
    """``reformat.py`` on generation files: rows ``{"prompt", "generated_text"}`` of the teacher and of the student,
    matched by prompt (teacher order kept); teacher prompts without a student response are dropped."""
    student = {}
    for r in student_rows:
        student.setdefault(r["prompt"], r.get("generated_text"))
    prompts, t_texts, s_texts = [], [], []
    missing = 0
    for r in teacher_rows:
        if r["prompt"] not in student:
            missing += 1
            continue
        prompts.append(r["prompt"])
        t_texts.append(r.get("generated_text"))
        s_texts.append(student[r["prompt"]])
    recs, dropped = pair_records(prompts, t_texts, s_texts)
    return recs, dropped + missing


def split_train_test(records: Sequence[dict], n_test: int, *, held_out: bool = True) -> tuple[list[dict], list[dict]]:
    """Train/test split of paired records. ``held_out=False`` reproduces ``reformat.py`` (test = the first
    ``n_test`` *training* rows, not held out); ``True`` (default) removes them from train."""
    test = list(records[:n_test])
    train = list(records[n_test:]) if held_out else list(records)
    return train, test


# ------------------------------------------------------------------------------------------------ tokenization
def _split_prompt_completion(tokenizer, prompt: Any, response: str, chat: bool) -> tuple[list[int], list[int]]:
    from mlrepro.training import tokenize_prompt_completion

    if chat:
        out = tokenize_prompt_completion(tokenizer, prompt, [{"role": "assistant", "content": response}])
    else:
        out = tokenize_prompt_completion(tokenizer, prompt, response, add_eos=True)
    ids, cm = out["input_ids"], out["completion_mask"]
    n_prompt = len(cm) - sum(cm)
    return list(ids[:n_prompt]), list(ids[n_prompt:])


def _response(x: Any) -> str:
    return str(x[-1]["content"]) if isinstance(x, list) else str(x)


def tokenize_pair(tokenizer, record: Mapping[str, Any], *, max_length: int | None = 1024,
                  max_prompt_length: int | None = 512, chat: bool = True, add_bos: bool = True
                  ) -> dict[str, list[int]]:
    """One paired record -> ``{"prompt_ids", "chosen_ids", "rejected_ids"}`` (the code's TRL-0.9 ``tokenize_row``,
    with a clean prompt/response boundary).

    ``record``: ``{"prompt": str, "chosen": [..., assistant msg] | str, "rejected": ...}`` (as made by
    :func:`pair_records`).

    * ``chat=True``: the prompt messages (``chosen`` without its last, assistant message; else a user message holding
      ``prompt``) are rendered with the chat template and the generation prompt; each response is the assistant turn
      that follows (its text plus the template's end-of-turn), so the labels hold only response tokens [INFERRED:
      the code renders the response as a lone assistant message, which can put the template's default system turn
      into the labels, spec §2.6]. ``chat=False``: the plain prompt string, response + EOS.
    * ``add_bos``: prepend the tokenizer's BOS when it has one and the prompt does not start with it.
    * Truncation: when prompt + longest response exceeds ``max_length``, keep the last ``max_prompt_length`` prompt
      tokens (``keep_end``); if still too long, cut both responses to ``max_length - max_prompt_length`` tokens.
    """
    if chat:
        ch = record["chosen"]
        prompt: Any = list(ch[:-1]) if isinstance(ch, list) and len(ch) > 1 else \
            [{"role": "user", "content": str(record["prompt"])}]
    else:
        prompt = str(record["prompt"])
    prompt_ids, chosen = _split_prompt_completion(tokenizer, prompt, _response(record["chosen"]), chat)
    p2, rejected = _split_prompt_completion(tokenizer, prompt, _response(record["rejected"]), chat)
    if p2 != prompt_ids:  # pragma: no cover - same prompt rendering on both sides
        raise ValueError("chosen and rejected render different prompts")
    bos = getattr(tokenizer, "bos_token_id", None)
    if add_bos and bos is not None and (not prompt_ids or prompt_ids[0] != bos):
        prompt_ids = [bos] + prompt_ids
    if max_length is not None:
        longest = max(len(chosen), len(rejected))
        if len(prompt_ids) + longest > max_length and max_prompt_length is not None:
            prompt_ids = prompt_ids[-max_prompt_length:]
        if len(prompt_ids) + longest > max_length:
            keep = max_length - (max_prompt_length if max_prompt_length is not None else len(prompt_ids))
            if keep <= 0:
                raise ValueError(f"max_length={max_length} leaves no room for the response after the prompt")
            chosen, rejected = chosen[:keep], rejected[:keep]
    return {"prompt_ids": prompt_ids, "chosen_ids": chosen, "rejected_ids": rejected}


def tokenize_pairs(tokenizer, records: Iterable[Mapping[str, Any]], **kw) -> list[dict[str, list[int]]]:
    return [tokenize_pair(tokenizer, r, **kw) for r in records]


def concatenated_batch(features: Sequence[Mapping[str, Sequence[int]]], pad_token_id: int) -> dict[str, Any]:
    """The code's ``concatenated_forward`` batch: chosen rows (prompt + teacher response) then rejected rows (prompt +
    student response), right padded to a common length; ``labels`` are the input ids with ``-100`` on prompt and
    padding positions (unshifted, like ``input_ids``). Same layout as TRL's ``DataCollatorForPreference``."""
    import torch

    rows, masks = [], []
    for side in ("chosen_ids", "rejected_ids"):
        for f in features:
            rows.append(list(f["prompt_ids"]) + list(f[side]))
            masks.append([0] * len(f["prompt_ids"]) + [1] * len(f[side]))
    n = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), n), pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(rows), n), dtype=torch.long)
    completion = torch.zeros((len(rows), n), dtype=torch.long)
    for i, (r, m) in enumerate(zip(rows, masks)):
        input_ids[i, : len(r)] = torch.tensor(r)
        attention[i, : len(r)] = 1
        completion[i, : len(m)] = torch.tensor(m)
    labels = input_ids.masked_fill(completion == 0, IGNORE_INDEX)
    return {"input_ids": input_ids, "attention_mask": attention, "completion_mask": completion, "labels": labels}


def shift_labels(labels):
    """Next-token targets aligned with positions ``0..L-2`` of the model output: ``labels[:, 1:]``."""
    return labels[:, 1:]
