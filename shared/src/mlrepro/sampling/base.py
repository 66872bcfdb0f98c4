"""The one sampling interface (conventions §6): ``SamplingParams``, ``Completion``, ``Sampler``.

``Sampler.generate(prompts, params)`` takes a list of prompts, each either a plain string (sent as is) or a
list of chat messages (``[{"role": ..., "content": ...}]``, chat template applied by the backend), and returns
one list of ``params.n`` completions per prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, Any]
Prompt = str | list[Message]

__all__ = ["SamplingParams", "Completion", "Sampler", "Prompt", "Message", "apply_stop", "encode_prompt", "row_seed"]


@dataclass
class SamplingParams:
    """Backend-independent sampling parameters. ``temperature=0`` means greedy; ``top_k=-1`` disables top-k."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_new_tokens: int = 256
    stop: list[str] | None = None
    seed: int | None = None
    logprobs: bool = False

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Completion:
    """One generated continuation. ``finish_reason`` is ``"stop"`` (EOS or stop string) or ``"length"``.

    ``logprobs`` (when requested) holds one log-probability per generated token, aligned with ``token_ids``
    (or with the server's tokens when ``token_ids`` is unavailable). ``n_tokens`` is a token count reported by
    a backend that cannot return token ids (``openai``); ``num_tokens`` prefers ``len(token_ids)``.
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    n_tokens: int | None = None

    @property
    def num_tokens(self) -> int:
        if self.token_ids:
            return len(self.token_ids)
        return self.n_tokens or 0


@runtime_checkable
class Sampler(Protocol):
    name: str

    def generate(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]: ...


def apply_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string (the stop string itself is removed). Returns (text, stopped)."""
    if not stop:
        return text, False
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def row_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """Seed of one sample: a stable hash of (seed, prompt index, sample index), 63 bits.

    Backends seed each (prompt, sample) from this, so a sample does not depend on batching or concurrency.
    """
    h = hashlib.sha256(f"{seed}:{prompt_index}:{sample_index}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def encode_prompt(tokenizer: Any, prompt: Prompt, chat_template_kwargs: dict[str, Any] | None = None) -> list[int]:
    """Token ids of one prompt, as every local backend feeds it to its model.

    A string is tokenized with the tokenizer's special tokens (BOS where it has one); a list of chat messages goes
    through the chat template once (generation prompt added, unless ``continue_final_message``) and is then
    tokenized without special tokens, so nothing is added twice.
    """
    if isinstance(prompt, str):
        return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
    if not isinstance(prompt, list) or not all(isinstance(m, dict) for m in prompt):
        raise TypeError(f"a prompt is a string or a list of chat messages, got {type(prompt).__name__}")
    kw = {"add_generation_prompt": True, **(chat_template_kwargs or {})}
    if kw.get("continue_final_message"):
        kw["add_generation_prompt"] = False
    text = tokenizer.apply_chat_template(prompt, tokenize=False, **kw)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
