"""Answer extraction (the official ``test_metric_STaR`` rules, spec §2.9), zero-shot greedy test evaluation and the
summary metrics of a STaR run (early-stopped accuracy, FLOPs, SD of training counts)."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["extract", "is_correct", "TASK_FORMATS", "evaluate_texts", "best_iteration"]

_NUM_RE = re.compile(r"-?\d+\.?\d*")
TASK_FORMATS = {
    "arc_challenge": re.compile(r"\b([A-D])\b"),
    "cqa": re.compile(r"\b([A-E])\b"),
    "anli_r1": re.compile(r"\b([012])\b"),
    "cladder": re.compile(r"\b(yes|no)\b", re.IGNORECASE),
    "gsm8k": _NUM_RE,
    "svamp": _NUM_RE,
    "arithmetic": _NUM_RE,
}


def extract(text: str, task: str) -> str | None:
    """The model's answer in ``text`` (None when nothing parses).

    1. cut the generation at the first ``"Q: "`` (the model starting a new question);
    2. if ``"####"`` is present keep only the first whitespace token after it;
    3. then the last match of the task's pattern: A-D (ARC-C), A-E (CQA), 0/1/2 (ANLI), yes/no case-insensitive
       (CLadder), the last ``-?\\d+\\.?\\d*`` number (GSM8K, SVAMP, arithmetic).
    """
    if task not in TASK_FORMATS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASK_FORMATS)}")
    if text is None:
        return None
    text = text.split("Q: ")[0]
    if "####" in text:
        after = text.split("####", 1)[1].split()
        text = after[0] if after else ""
    m = TASK_FORMATS[task].findall(text)
    if not m:
        return None
    ans = m[-1]
    return ans.lower() if task == "cladder" else ans


def is_correct(pred: str | None, gold: str) -> bool:
    """String comparison with the gold answer, as in the code (so "18.0" != "18")."""
    return pred is not None and pred == str(gold)


def evaluate_texts(records: Sequence[dict], texts: Sequence[str], task: str, cross_check: bool = True) -> dict:
    """Accuracy of generations ``texts`` against ``records``; unparseable outputs are counted. ``cross_check``
    also grades numeric tasks with the shared ``mlrepro.grading.is_equiv`` (reported, not used)."""
    preds = [extract(t, task) for t in texts]
    correct = [is_correct(p, r["answer"]) for p, r in zip(preds, records)]
    out = {"accuracy": sum(correct) / max(1, len(correct)), "n": len(correct),
           "unparsed": sum(p is None for p in preds), "correct": correct, "preds": preds}
    if cross_check and task in ("gsm8k", "svamp", "arithmetic"):
        from mlrepro.grading import is_equiv

        shared = [p is not None and is_equiv(p, r["answer"]) for p, r in zip(preds, records)]
        out["accuracy_shared_grader"] = sum(shared) / max(1, len(shared))
    if task == "arithmetic" and any(r.get("solution") for r in records):
        from .data import misread_rate

        bad, total = misread_rate(records, texts, ("-", "*"))
        out["misread_rate"] = bad / total if total else None
    by_d: dict[str, list[bool]] = {}
    for r, c in zip(records, correct):
        if r.get("difficulty") is not None:
            by_d.setdefault(str(r["difficulty"]), []).append(c)
    if by_d:
        out["accuracy_by_difficulty"] = {k: sum(v) / len(v) for k, v in sorted(by_d.items())}
    return out


def best_iteration(accs: Sequence[float]) -> int:
    """Early stopping: index of the best accuracy (the earliest one on ties)."""
    if not accs:
        raise ValueError("no accuracies")
    best = max(accs)
    return next(i for i, a in enumerate(accs) if a == best)
