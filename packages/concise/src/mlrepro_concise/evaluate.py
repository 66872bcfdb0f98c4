"""Scoring for the concise pipeline: parse, grade, count tokens, aggregate (digest §4-§5)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .method import math_equal, parse_answer_gsm8k, reduction, relative


def score_output(text: str, record: dict, dataset: str) -> tuple[str | None, bool]:
    """(parsed answer, correct) with the paper's parsers: GSM8K-style for gsm8k/synthetic, MATH candidate sets."""
    if dataset == "math":
        from .method import math_candidates

        cands = math_candidates(text, record["question"])
        return (sorted(cands)[0] if cands else None), math_equal(text, record["answer"], record["question"])
    ans = parse_answer_gsm8k(text)
    return ans, ans is not None and ans == str(record["answer"]).replace(",", "")


def shared_grade(text: str, record: dict, dataset: str) -> bool:
    """Cross-check with the shared grader (:func:`mlrepro.grading.grade`, math-verify equivalence): "The answer is"
    extraction for GSM8K-style outputs, ``auto`` (boxed first) for MATH."""
    from mlrepro.grading import grade

    return bool(grade(text, str(record["answer"]), "auto" if dataset == "math" else "answer_is").correct)


def count_tokens(text: str, tokenizer) -> int:
    """Generated tokens of an output (its text re-tokenized without special tokens, so EOS is not counted)."""
    return len(tokenizer(text.strip(), add_special_tokens=False)["input_ids"])


def summarize(rows: list[dict]) -> dict:
    """Accuracy (%), mean output tokens over *all* outputs, unparseable count, and the same per difficulty."""
    if not rows:
        raise ValueError("no evaluation rows")
    out = {"accuracy": 100.0 * float(np.mean([r["correct"] for r in rows])),
           "mean_tokens": float(np.mean([r["tokens"] for r in rows])),
           "unparseable": int(sum(r["answer"] is None for r in rows)), "n": len(rows)}
    if any("shared_correct" in r for r in rows):  # paper parser vs shared grader disagreements (should be 0)
        out["grader_disagreements"] = int(sum(r.get("shared_correct", r["correct"]) != r["correct"] for r in rows))
    by = defaultdict(list)
    for r in rows:
        if r.get("difficulty") is not None:
            by[int(r["difficulty"])].append(r)
    out["by_difficulty"] = {str(d): {"accuracy": 100.0 * float(np.mean([r["correct"] for r in v])),
                                     "mean_tokens": float(np.mean([r["tokens"] for r in v])), "n": len(v)}
                            for d, v in sorted(by.items())}
    return out


def relative_to_base(m: dict, base: dict) -> dict:
    """Relative accuracy / length (% of the base model) and length reduction, overall and per difficulty."""
    out = {"rel_accuracy": relative(m["accuracy"], base["accuracy"]) if base["accuracy"] else None,
           "rel_length": relative(m["mean_tokens"], base["mean_tokens"]),
           "reduction": reduction(m["mean_tokens"], base["mean_tokens"]),
           "accuracy_delta": m["accuracy"] - base["accuracy"]}
    out["reduction_by_difficulty"] = {d: reduction(v["mean_tokens"], base["by_difficulty"][d]["mean_tokens"])
                                      for d, v in m.get("by_difficulty", {}).items() if d in base.get("by_difficulty", {})}
    return out
