"""The agent protocol on :mod:`mlrepro.sampling`: one model behind a ``Sampler``, JSON replies, retries, call budgets.

The official code asks every model for a JSON object, takes the first ``{...}`` by regex and retries forever on a
parse error. Here:

- :func:`extract_json` finds JSON objects with a real decoder (code fences, prose around the object, nested braces,
  trailing commas and curly quotes are tolerated) and falls back to a ``"key": value`` scan. Nothing a model writes
  is ever evaluated as code.
- :meth:`LLM.ask_json` retries an unparseable reply at most ``max_parse_retries`` times (the retry turn shows the
  model its reply and restates the required keys); every failed reply is counted (``unparseable``) and a reply that
  stays unparseable is given up (``gave_up``) and returned as ``None``.
- A :class:`CallLedger` counts the *logical* LLM calls of one decision against the method's budget (one completion
  = one call) and raises :class:`BudgetExceeded` past it; parse retries are counted separately.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlrepro.sampling import SamplingParams

__all__ = ["LLM", "Reply", "CallLedger", "BudgetExceeded", "extract_json", "messages", "RETRY_NOTE"]

Messages = list[dict[str, str]]
RETRY_NOTE = "Your reply could not be read. Answer again with only one JSON object with the keys:"


class BudgetExceeded(RuntimeError):
    """A method made more logical LLM calls in one decision than its budget allows (a bug in the method)."""


@dataclass
class CallLedger:
    budget: int | None = None
    logical: int = 0  # completions requested by the method itself
    retries: int = 0  # extra completions spent on parse retries
    unparseable: int = 0  # replies that could not be parsed (each attempt)
    gave_up: int = 0  # replies still unparseable after all retries
    prompt_chars: int = 0  # characters sent (all messages of every request, times n)
    completion_chars: int = 0  # characters received

    @property
    def total(self) -> int:
        return self.logical + self.retries

    def charge(self, k: int) -> None:
        if self.budget is not None and self.logical + k > self.budget:
            raise BudgetExceeded(f"{self.logical + k} logical LLM calls exceed the budget of {self.budget}")
        self.logical += k

    def as_dict(self) -> dict[str, int | None]:
        return {"budget": self.budget, "calls": self.logical, "retries": self.retries, "total_calls": self.total,
                "unparseable": self.unparseable, "gave_up": self.gave_up}


@dataclass
class Reply:
    text: str  # the last raw reply
    data: dict | None  # the parsed JSON object, None if it stayed unparseable
    attempts: int = 1


def messages(system: str | None, user: str) -> Messages:
    out: Messages = []
    if system:
        out.append({"role": "system", "content": system})
    out.append({"role": "user", "content": user})
    return out


# ------------------------------------------------------------------------------------------------------
# JSON extraction
# ------------------------------------------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_DECODER = json.JSONDecoder()


def _objects(text: str) -> list[dict]:
    out = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            out.append(obj)
            i = text.find("{", end)
        else:  # pragma: no cover - raw_decode at "{" always yields a dict
            i = text.find("{", i + 1)
    return out


def _key_scan(text: str, keys: Sequence[str], optional: Sequence[str]) -> dict | None:
    """Last resort: ``key: value`` pairs (quoted or bare key; string, list, number or bool value)."""
    out: dict[str, Any] = {}
    for k in keys:
        m = re.search(
            r"[\"']?" + re.escape(k) + r"[\"']?\s*[:=]\s*(\"(?:[^\"\\]|\\.)*\"|\[[^\[\]]*\]|\([^()]*\)|-?\d+|true|false)",
            text, flags=re.I)
        if not m:
            if k in optional:
                out[k] = ""
                continue
            return None
        v = m.group(1)
        try:
            out[k] = json.loads(v) if not v.startswith("(") else v
        except json.JSONDecodeError:
            out[k] = v.strip('"')
    return out


def extract_json(text: str, keys: Sequence[str] = (), optional: Sequence[str] = ("reasoning",)) -> dict | None:
    """The first JSON object in ``text`` holding every key in ``keys`` (keys matched case-insensitively; keys in
    ``optional`` may be missing and then read as ""), else None."""
    if not isinstance(text, str) or not text.strip():
        return None
    cleaned = _FENCE.sub("", text).translate(_QUOTES)
    variants = [cleaned, _TRAILING_COMMA.sub(r"\1", cleaned)]
    if '"' not in cleaned and "'" in cleaned:  # a python-style dict with single quotes only
        variants.append(_TRAILING_COMMA.sub(r"\1", cleaned.replace("'", '"')))
    want = [k.lower() for k in keys if k not in optional]
    for v in variants:
        for obj in _objects(v):
            low = {str(k).lower(): val for k, val in obj.items()}
            if all(k in low for k in want) and (want or all(k.lower() in low for k in keys)):
                for k in keys:
                    low.setdefault(k.lower(), "")
                return low
    return _key_scan(cleaned, keys, optional) if keys and want else None


# ------------------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------------------
@dataclass
class LLM:
    """One model behind an ``mlrepro.sampling`` sampler (``get_sampler("openai" | "hf" | "vllm" | "scripted")``).

    ``generate`` sends chat-message prompts; every completion counts as one LLM call in the current ledger.
    """

    sampler: Any
    name: str = "model"
    max_new_tokens: int = 1024
    top_p: float = 1.0
    top_k: int = -1
    seed: int | None = None
    max_parse_retries: int = 3
    ledger: CallLedger = field(default_factory=CallLedger)
    lifetime: CallLedger = field(default_factory=CallLedger)
    _seed_counter: int = 0

    @contextmanager
    def decision(self, budget: int | None):
        """Scope one decision: a fresh ledger with ``budget`` logical calls; totals roll into ``lifetime``."""
        prev = self.ledger
        self.ledger = CallLedger(budget=budget)
        try:
            yield self.ledger
        finally:
            led = self.ledger
            for k in ("logical", "retries", "unparseable", "gave_up", "prompt_chars", "completion_chars"):
                setattr(self.lifetime, k, getattr(self.lifetime, k) + getattr(led, k))
            self.ledger = prev

    def _params(self, temperature: float, n: int) -> SamplingParams:
        seed = None
        if self.seed is not None:
            self._seed_counter += 1
            seed = self.seed * 1_000_003 + self._seed_counter
        return SamplingParams(n=n, temperature=float(temperature), top_p=self.top_p, top_k=self.top_k,
                              max_new_tokens=self.max_new_tokens, seed=seed)

    def generate(self, prompts: list[Messages], temperature: float, n: int = 1, retry: bool = False) -> list[list[str]]:
        if not prompts:
            return []
        if retry:
            self.ledger.retries += len(prompts) * n
        else:
            self.ledger.charge(len(prompts) * n)
        outs = self.sampler.generate(prompts, self._params(temperature, n))
        if len(outs) != len(prompts) or any(len(o) != n for o in outs):
            raise RuntimeError(f"sampler {getattr(self.sampler, 'name', '?')} returned a wrongly shaped batch")
        self.ledger.prompt_chars += n * sum(len(str(m.get("content", ""))) for p in prompts for m in p)
        texts = [[c.text if isinstance(c.text, str) else "" for c in row] for row in outs]
        self.ledger.completion_chars += sum(len(t) for row in texts for t in row)
        return texts

    def ask_json(self, prompts: list[Messages], temperature: float, keys: Sequence[str], n: int = 1,
                 validate: Callable[[dict], bool] | None = None) -> list[list[Reply]]:
        """Ask for JSON objects with ``keys``; unparseable replies (or ones failing ``validate``) are retried.

        Returns per prompt ``n`` :class:`Reply` objects; ``data`` is None where all retries failed."""
        texts = self.generate(prompts, temperature, n=n)
        replies = [[Reply(t, None) for t in row] for row in texts]
        todo: list[tuple[int, int]] = []
        for i, row in enumerate(replies):
            for j, r in enumerate(row):
                r.data = self._parse(r.text, keys, validate)
                if r.data is None:
                    todo.append((i, j))
        for _ in range(self.max_parse_retries):
            if not todo:
                break
            self.ledger.unparseable += len(todo)
            retry_prompts = [
                [*prompts[i], {"role": "assistant", "content": replies[i][j].text[:2000]},
                 {"role": "user", "content": f"{RETRY_NOTE} {', '.join(keys)}."}]
                for i, j in todo
            ]
            again = self.generate(retry_prompts, temperature, n=1, retry=True)
            still = []
            for (i, j), row in zip(todo, again):
                r = replies[i][j]
                r.text, r.attempts = row[0], r.attempts + 1
                r.data = self._parse(r.text, keys, validate)
                if r.data is None:
                    still.append((i, j))
            todo = still
        if todo:
            self.ledger.unparseable += len(todo)
            self.ledger.gave_up += len(todo)
        return replies

    @staticmethod
    def _parse(text: str, keys: Sequence[str], validate: Callable[[dict], bool] | None) -> dict | None:
        d = extract_json(text, keys)
        if d is None:
            return None
        if validate is not None:
            try:
                if not validate(d):
                    return None
            except Exception:  # a validator must never crash the run on odd model output
                return None
        return d
