"""Seed ("THINK ONCE") data curation, as pure functions (paper App. B.1, spec §2.2).

Pipeline, in order:

1. **Generation** (not here: :func:`mlrepro_flexjudge.data.generate_seed_traces` runs the teacher through
   ``mlrepro.sampling``): each row is ``{"id", "prompt", "text", "n_tokens", "ref": [s1, s2], "question",
   "answer1", "answer2", "seed"}``; ``text`` is the continuation after ``<think>\\n``.
2. **Exact-match filter** (code ``utils/lrm_process.py``): keep a row only if the first two
   ``<answer>(\\d+)</answer>`` integers equal the reference scores; any failure (fewer than two answers, a
   malformed reference) drops it. :func:`filter_exact_match`.
3. **Dedup** (same script): group kept rows by prompt string and keep the one with the most generated tokens
   (first seen wins a tie). :func:`dedup_longest`.
4. **Final selection** (paper App. B.1; no code released, the details are [INFERRED] and recorded in the README):
   - pairwise: among rows whose reasoning exceeds ``min_pair_tokens`` (750), the ``n_pair`` (500) longest;
   - single: among the remaining rows, those whose Assistant-1 part of the reasoning exceeds
     ``min_single_tokens`` (375) are cut before the first paragraph about Assistant 2 and rewritten to the
     single-answer form (one ``[Assistant's Answer]`` block, "Assistant 1" -> "the assistant", one answer tag);
     the ``n_single`` (500) with the longest Assistant-1 part are kept;
   - scale change: a seeded random ``rescale_fraction`` of each subset moves from 1-10 to 1-5:
     ``s -> ceil(s / 2)`` (round half up, so 1-2 -> 1, ..., 9-10 -> 5) and the instruction says 1-5.
5. **Render**: :func:`render_example` gives the ``{"prompt", "text"}`` training record (prompt = chat-templated
   system + user + ``<|im_start|>assistant\\n<think>\\n``; text = reasoning, ``</think>``, answer tags).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .method import int_answers, split_think
from .prompts import pair_prompt, render_chatml, score_prompt

__all__ = ["passes_exact_match", "filter_exact_match", "dedup_longest", "split_at_assistant2",
           "to_single_reasoning", "rescale_score", "select_pairwise", "select_single", "apply_scale_change",
           "render_example", "curate", "whitespace_tokens", "trace_text"]

TokenCount = Callable[[str], int]
_A2 = re.compile(r"assistant\s*2\b|second assistant", re.I)
_A1 = re.compile(r"\b(assistant)\s*1\b", re.I)


def whitespace_tokens(text: str) -> int:
    """Default token count (whitespace words) when no tokenizer is supplied."""
    return len(text.split())


def passes_exact_match(text: str, ref: Sequence[Any]) -> bool:
    """The first two integer answers equal ``ref[0]`` and ``ref[1]`` exactly; anything else (fewer answers, a
    non-integer reference, ...) fails, as the official ``try/except`` does."""
    try:
        s = int_answers(text)
        return s[0] == int(ref[0]) and s[1] == int(ref[1])
    except (IndexError, TypeError, ValueError):
        return False


def filter_exact_match(rows: Iterable[dict]) -> tuple[list[dict], dict[str, int]]:
    """Rows (``text``, ``ref``) that pass :func:`passes_exact_match`, plus counts."""
    rows = list(rows)
    kept = [r for r in rows if passes_exact_match(r.get("text", ""), r.get("ref"))]
    return kept, {"generated": len(rows), "exact_match": len(kept), "dropped": len(rows) - len(kept)}


def dedup_longest(rows: Iterable[dict], n_tokens: Callable[[dict], int] | None = None) -> list[dict]:
    """One row per prompt string: the one with the most generated tokens (``n_tokens(row)``, default
    ``row["n_tokens"]`` or ``len(row["tokens"])``); a tie keeps the first seen. Output follows first appearance."""
    def count(r: dict) -> int:
        if n_tokens is not None:
            return n_tokens(r)
        if "n_tokens" in r:
            return int(r["n_tokens"])
        return len(r.get("tokens", []))

    best: dict[str, dict] = {}
    order: list[str] = []
    for r in rows:
        p = r["prompt"]
        if p not in best:
            best[p] = r
            order.append(p)
        elif count(r) > count(best[p]):
            best[p] = r
    return [best[p] for p in order]


def split_at_assistant2(reasoning: str) -> str | None:
    """The Assistant-1 part of a pairwise reasoning trace [INFERRED]: everything before the first paragraph that
    mentions Assistant 2 (paragraphs split on blank lines, then on single newlines, then on sentences). ``None``
    when the very first unit already mentions Assistant 2 at every granularity, or nothing mentions it."""
    r = reasoning.strip()
    if not _A2.search(r):
        return None
    for sep in (r"\n[ \t]*\n", r"\n", r"(?<=[.!?])\s+"):
        starts = [0] + [m.end() for m in re.finditer(sep, r)]
        if len(starts) < 2:
            continue
        ends = [m.start() for m in re.finditer(sep, r)] + [len(r)]
        first = next((i for i, (a, b) in enumerate(zip(starts, ends)) if _A2.search(r[a:b])), None)
        if first:
            return r[: starts[first]].rstrip() or None
    return None


def _sentence_case(text: str) -> str:
    def repl(m: re.Match) -> str:
        start = m.start()
        before = text[:start].rstrip(" \t")
        cap = not before or before[-1] in ".!?\n"
        return ("The assistant" if cap else "the assistant")
    return _A1.sub(repl, text)


def to_single_reasoning(reasoning: str) -> str | None:
    """Assistant-1 part of the reasoning, rewritten to the single-answer form ("Assistant 1" -> "the assistant",
    capitalised at a sentence start). ``None`` when :func:`split_at_assistant2` finds no cut."""
    head = split_at_assistant2(reasoning)
    return None if head is None else _sentence_case(head)


def rescale_score(score: int) -> int:
    """1-10 -> 1-5 [INFERRED rounding]: halve and round half up, i.e. ``ceil(s / 2)``; an integer for the
    ``\\d+`` parsers and a bijection of the bins {1,2}->1, ..., {9,10}->5."""
    if not 1 <= int(score) <= 10:
        raise ValueError(f"score {score} outside 1..10")
    return int(math.ceil(int(score) / 2))


def _example_from_row(row: dict, kind: str, reasoning: str, scores: list[int]) -> dict:
    ex = {"id": row.get("id"), "kind": kind, "question": row["question"], "reasoning": reasoning,
          "scores": scores, "scale": 10, "source_prompt": row["prompt"]}
    ex["answers"] = [row["answer1"], row["answer2"]] if kind == "pair" else [row["answer1"]]
    return ex


def select_pairwise(pool: Sequence[dict], n: int, min_tokens: int, count: TokenCount = whitespace_tokens) -> list[dict]:
    """The ``n`` rows with the longest reasoning (tokens before ``</think>``) among those over ``min_tokens``,
    as pairwise examples with their two reference scores."""
    scored = []
    for i, r in enumerate(pool):
        reasoning, _ = split_think(r["text"])
        k = count(reasoning)
        if k > min_tokens:
            scored.append((-k, i, r, reasoning))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [_example_from_row(r, "pair", reasoning, int_answers(r["text"])[:2]) for _, _, r, reasoning in scored[:n]]


def select_single(pool: Sequence[dict], n: int, min_tokens: int, count: TokenCount = whitespace_tokens,
                  exclude: Iterable[str] = ()) -> list[dict]:
    """Single-answer examples: rows not in ``exclude`` (ids) whose Assistant-1 reasoning exceeds ``min_tokens``,
    cut and rewritten by :func:`to_single_reasoning`, keeping the first score; the ``n`` longest."""
    skip = set(exclude)
    scored = []
    for i, r in enumerate(pool):
        if r.get("id") in skip:
            continue
        reasoning, _ = split_think(r["text"])
        single = to_single_reasoning(reasoning)
        if single is None:
            continue
        k = count(single)
        if k > min_tokens:
            scored.append((-k, i, r, single))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [_example_from_row(r, "single", s, int_answers(r["text"])[:1]) for _, _, r, s in scored[:n]]


def apply_scale_change(examples: Sequence[dict], fraction: float, rng: random.Random) -> list[dict]:
    """Move a random ``fraction`` of ``examples`` to the 1-5 scale (:func:`rescale_score` on every score; the
    prompt is re-rendered with scale 5). One ``rng.random()`` draw per example, in order. The reasoning text is
    left as it is (the teacher's words do not quote the scale)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("rescale fraction must be in [0, 1]")
    out = []
    for ex in examples:
        ex = dict(ex)
        if rng.random() < fraction:
            ex["scores"] = [rescale_score(s) for s in ex["scores"]]
            ex["scale"] = 5
        out.append(ex)
    return out


def trace_text(reasoning: str, scores: Sequence[int], answer_first: bool = False) -> str:
    """The assistant continuation after ``<think>\\n``: ``reasoning\\n</think>\\n<answer>a</answer>...``.
    ``answer_first`` gives the Fig. 5 ablation order (answer tags, then the think block)."""
    tags = "".join(f"<answer>{s}</answer>" for s in scores)
    if answer_first:
        return f"{tags}\n<think>\n{reasoning}\n</think>"
    return f"{reasoning}\n</think>\n{tags}"


def render_example(ex: dict, style: str = "paper", backbone: str = "text", answer_first: bool = False,
                   eos: str | None = "<|im_end|>") -> dict:
    """Training record ``{"prompt", "completion", "text", ...}`` of a curated example.

    ``prompt`` is the chat-templated system + user turn and the assistant header; ``completion`` is what the loss
    covers: ``<think>\\n`` + reasoning + ``</think>`` + answers (+ ``eos``: [INFERRED] the stored traces lack
    ``<|im_end|>``; appending it teaches the model to stop). ``text`` is the official field (the part after
    ``<think>\\n``). For ``answer_first`` the completion starts with the answer tags."""
    if ex["kind"] == "pair":
        jp = pair_prompt(ex["question"], ex["answers"][0], ex["answers"][1], backbone=backbone, scale=ex["scale"],
                         style=style)
    elif ex["kind"] == "single":
        jp = score_prompt(ex["question"], ex["answers"][0], backbone=backbone, scale=ex["scale"], style=style)
    else:
        raise ValueError(f"unknown example kind {ex['kind']!r}")
    head = render_chatml(jp.system, jp.user)
    text = trace_text(ex["reasoning"], ex["scores"], answer_first)
    completion = (text if answer_first else "<think>\n" + text) + (eos or "")
    return {"id": ex.get("id"), "kind": ex["kind"], "scale": ex["scale"], "prompt": head, "completion": completion,
            "text": text, "scores": list(ex["scores"])}


def curate(rows: Sequence[dict], *, n_pair: int, n_single: int, min_pair_tokens: int, min_single_tokens: int,
           rescale_fraction: float, seed: int, count: TokenCount = whitespace_tokens) -> tuple[list[dict], dict]:
    """Steps 2-4 on generated rows: filter, dedup, pairwise + single selection, scale change. Returns the
    structured examples (pairwise first) and a stats dict (counts after every step)."""
    kept, stats = filter_exact_match(rows)
    pool = dedup_longest(kept)
    stats["dedup"] = len(pool)
    pair = select_pairwise(pool, n_pair, min_pair_tokens, count)
    single = select_single(pool, n_single, min_single_tokens, count, exclude=[e["id"] for e in pair])
    rng = random.Random(seed)
    pair = apply_scale_change(pair, rescale_fraction, rng)
    single = apply_scale_change(single, rescale_fraction, rng)
    stats.update(pair=len(pair), single=len(single), rescaled=sum(e["scale"] == 5 for e in pair + single))
    return pair + single, stats
