"""TRL glue: tokenizer / chat-template setup and completion-only / assistant-only masking for training records.

TRL's ``SFTTrainer`` already masks prompts of prompt-completion datasets (``completion_only_loss``) and non-assistant
turns of conversational datasets (``assistant_only_loss``, which needs ``{% generation %}`` markers in the template).
These helpers cover the rest: putting records into TRL's format, a consistent tokenizer set-up, and explicit
tokenization with label masks for custom trainers (distillation, DPO-like losses) that build their own batches.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

IGNORE_INDEX = -100

# Minimal ChatML template (role headers <|im_start|>role\n ... <|im_end|>\n) with {% generation %} markers around the
# assistant content, so transformers' return_assistant_tokens_mask and TRL's assistant_only_loss work with it.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def setup_tokenizer(tokenizer_or_path: Any, *, chat_template: str | None = None, padding_side: str = "right",
                    pad_token: str | None = None, model_max_length: int | None = None):
    """Load (from a local path or hub id; never ``trust_remote_code``) or take a tokenizer and make it trainable.

    * ``chat_template``: ``"chatml"`` (the template above), a Jinja string, or ``None`` = keep the tokenizer's own and
      fall back to ChatML when it has none;
    * pad token: ``pad_token`` if given, else the existing one, else EOS, else UNK (``ValueError`` when none exists;
      no token is added, so the embedding never needs resizing);
    * ``padding_side``: ``"right"`` for training, ``"left"`` for batched generation.
    """
    if isinstance(tokenizer_or_path, str | os.PathLike):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tokenizer_or_path))
    else:
        tok = tokenizer_or_path
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if chat_template == "chatml":
        tok.chat_template = CHATML_TEMPLATE
    elif chat_template is not None:
        tok.chat_template = chat_template
    elif getattr(tok, "chat_template", None) is None:
        tok.chat_template = CHATML_TEMPLATE
    if pad_token is not None:
        tok.pad_token = pad_token
    elif tok.pad_token is None:
        fallback = tok.eos_token or tok.unk_token
        if fallback is None:
            raise ValueError("tokenizer has no pad, eos or unk token: pass pad_token=... explicitly")
        tok.pad_token = fallback
    tok.padding_side = padding_side
    if model_max_length is not None:
        tok.model_max_length = int(model_max_length)
    return tok


def _as_messages(x: Any, role: str) -> list[dict]:
    if isinstance(x, str):
        return [{"role": role, "content": x}]
    if isinstance(x, Mapping):
        return [dict(x)]
    return [dict(m) for m in x]


def prompt_completion_records(records: Iterable[Mapping[str, Any]], *, prompt_key: str = "prompt",
                              completion_key: str = "completion", system: str | None = None,
                              conversational: bool = True, keep: Sequence[str] = ()) -> list[dict]:
    """Records -> TRL prompt-completion format.

    ``conversational=True``: ``{"prompt": [system?, user], "completion": [assistant]}`` (chat messages; TRL applies
    the chat template); ``False``: plain strings ``{"prompt": str, "completion": str}``. ``keep`` lists extra keys to
    copy over (e.g. ``"answer"`` for evaluation).
    """
    out = []
    for i, r in enumerate(records):
        if prompt_key not in r or completion_key not in r:
            raise KeyError(f"record {i} lacks {prompt_key!r} or {completion_key!r}: keys {sorted(r)}")
        p, c = r[prompt_key], r[completion_key]
        if conversational:
            prompt = ([{"role": "system", "content": system}] if system else []) + _as_messages(p, "user")
            rec = {"prompt": prompt, "completion": _as_messages(c, "assistant")}
        else:
            if not isinstance(p, str) or not isinstance(c, str):
                raise TypeError(f"record {i}: conversational=False needs string prompt and completion")
            rec = {"prompt": (system + "\n\n" + p) if system else p, "completion": c}
        for k in keep:
            rec[k] = r[k]
        out.append(rec)
    return out


def tokenize_prompt_completion(tokenizer, prompt: Any, completion: Any, *, max_length: int | None = None,
                               add_eos: bool = True, ignore_index: int = IGNORE_INDEX) -> dict[str, list[int]]:
    """Tokenize one prompt-completion pair with a completion-only label mask.

    ``prompt``/``completion`` are strings (plain text; the tokenizer's special tokens such as BOS are added to the
    prompt and EOS to the completion when ``add_eos``) or chat messages (the chat template is applied: the prompt with
    ``add_generation_prompt=True``, the completion as the assistant turn(s) that follow; the template's own
    end-of-turn token ends it). Prompt and completion are tokenized separately, so the boundary is exact.
    Returns ``input_ids``, ``attention_mask``, ``completion_mask`` (1 on completion tokens) and ``labels``
    (``ignore_index`` on prompt tokens), truncated to ``max_length`` keeping the start.
    """
    if isinstance(prompt, str) != isinstance(completion, str):
        raise TypeError("prompt and completion must both be strings or both be chat messages")
    if isinstance(prompt, str):
        p_ids = list(tokenizer(prompt)["input_ids"])
        c_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
        if add_eos and tokenizer.eos_token_id is not None and (not c_ids or c_ids[-1] != tokenizer.eos_token_id):
            c_ids.append(tokenizer.eos_token_id)
    else:
        pm, cm = _as_messages(prompt, "user"), _as_messages(completion, "assistant")
        p_text = tokenizer.apply_chat_template(pm, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(pm + cm, tokenize=False)
        if not full.startswith(p_text):
            raise ValueError("the chat template does not render the prompt as a prefix of prompt + completion; "
                             "cannot find the completion boundary")
        p_ids = list(tokenizer(p_text, add_special_tokens=False)["input_ids"])
        c_ids = list(tokenizer(full[len(p_text):], add_special_tokens=False)["input_ids"])
    ids = p_ids + c_ids
    cmask = [0] * len(p_ids) + [1] * len(c_ids)
    if max_length is not None:
        ids, cmask = ids[:max_length], cmask[:max_length]
    labels = [t if m else ignore_index for t, m in zip(ids, cmask)]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "completion_mask": cmask, "labels": labels}


def assistant_only_mask(tokenizer, messages: Sequence[Mapping[str, Any]], *, max_length: int | None = None,
                        ignore_index: int = IGNORE_INDEX) -> dict[str, list[int]]:
    """Tokenize a conversation with labels only on assistant turns (role header excluded; the end-of-turn token and
    whatever the template renders after it up to the next turn included).

    Works with any template that renders conversations prefix-consistently (ChatML, Llama-3, ...): the conversation
    is rendered turn by turn and each assistant turn's text is tokenized on its own.
    """
    msgs = [dict(m) for m in messages]
    ids: list[int] = []
    amask: list[int] = []
    prev = ""
    for i, m in enumerate(msgs):
        if m.get("role") == "assistant":
            head = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True)
        else:
            head = None
        upto = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False)
        if head is not None:
            if not (head.startswith(prev) and upto.startswith(head)):
                raise ValueError("chat template is not prefix-consistent; cannot locate assistant turns")
            pieces = [(head[len(prev):], 0), (upto[len(head):], 1)]
        else:
            if not upto.startswith(prev):
                raise ValueError("chat template is not prefix-consistent; cannot locate assistant turns")
            pieces = [(upto[len(prev):], 0)]
        for text, flag in pieces:
            if text:
                t = list(tokenizer(text, add_special_tokens=False)["input_ids"])
                ids += t
                amask += [flag] * len(t)
        prev = upto
    if max_length is not None:
        ids, amask = ids[:max_length], amask[:max_length]
    labels = [t if m else ignore_index for t, m in zip(ids, amask)]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "assistant_masks": amask, "labels": labels}


def pad_batch(features: Sequence[Mapping[str, Sequence[int]]], *, pad_token_id: int, padding_side: str = "right",
              ignore_index: int = IGNORE_INDEX, pad_to_multiple_of: int | None = None):
    """Pad a list of tokenized examples into a dict of ``torch.long`` tensors. ``labels`` are padded with
    ``ignore_index``, masks with 0, everything else with ``pad_token_id``."""
    import torch

    if not features:
        raise ValueError("empty batch")
    n = max(len(f["input_ids"]) for f in features)
    if pad_to_multiple_of:
        n = -(-n // pad_to_multiple_of) * pad_to_multiple_of
    out = {}
    for key in features[0]:
        fill = ignore_index if key == "labels" else (0 if "mask" in key else pad_token_id)
        rows = []
        for f in features:
            v = list(f[key])
            pad = [fill] * (n - len(v))
            rows.append(pad + v if padding_side == "left" else v + pad)
        out[key] = torch.tensor(rows, dtype=torch.long)
    return out
