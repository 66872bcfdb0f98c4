"""Self-training elicits concise reasoning (Munkhbat et al., arXiv 2502.20122): the method as pure functions.

The paper's contribution is a data recipe, not a loss: sample reasoning paths from the model itself (optionally
steered by few-shot exemplars), keep the correct ones, take the *shortest correct path per question* and fine-tune
on it. This module holds every piece of that recipe plus the paper's answer parser and metrics:

- :func:`parse_answer_gsm8k` — the official GSM8K parser (digest §4), exact behaviour;
- :func:`math_candidates` / :func:`math_equal` — a MATH answer normaliser and comparer (digest §4, subset);
- :func:`zero_shot_messages`, :func:`few_shot_messages`, :func:`direct_text` — prompt builders (digest §2.1, §2.3);
- :func:`filter_candidates` and :func:`select` — the correctness filter, global exact dedup, ``< cap - 1`` truncation
  filter and per-question shortest selection with a stable tie-break (digest §2.2, ``preprocess.py``/``dataset.py``);
- :func:`augment` / :func:`budget_matched` — the FS + zero-shot pooled candidate sets (digest §2.1);
- :func:`relative` / :func:`reduction` — relative accuracy and length against the zero-shot baseline (digest §5);
- :func:`expected_shortest_correct` — the sample-efficiency analysis (Fig. 3 analogue, digest §8 A.6), exact order
  statistics of the shortest correct path among N draws.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "parse_answer_gsm8k", "gsm8k_label", "math_candidates", "math_equal",
    "zero_shot_messages", "few_shot_messages", "direct_text", "IRPO_SYSTEM_PROMPT",
    "Candidate", "filter_candidates", "select", "augment", "budget_matched",
    "relative", "reduction", "expected_shortest_correct", "expected_shortest_correct_bruteforce",
    "premise_gap", "premise_met", "PREMISE_MAX_GAP",
]

# Our own wording of the baseline instruction (the IRPO-style prompt asks for step-by-step reasoning and a final
# "The answer is ..." sentence; digest §2.4). Not copied from the official repo.
IRPO_SYSTEM_PROMPT = (
    "Solve the problem by reasoning step by step, then give the final result in a sentence of the form "
    "\"The answer is <number>\"."
)

_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?")


# --------------------------------------------------------------------------------------------------------------
# Answer parsing (digest §4)
# --------------------------------------------------------------------------------------------------------------
def _strip_decimal_zeros(s: str) -> str:
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def parse_answer_gsm8k(text: str) -> str | None:
    """Official GSM8K parser: split on "answer is" and take the last piece; delete commas; take the *first* number
    after "answer is" if it occurred, else the *last* number in the output; strip trailing period/newlines and
    trailing decimal zeros (``18.00`` -> ``18``). Returns None when the output has no number at all."""
    if text is None:
        return None
    pieces = text.split("answer is")
    had_anchor = len(pieces) > 1
    tail = pieces[-1].replace(",", "")
    nums = _NUM_RE.findall(tail if had_anchor else text.replace(",", ""))
    if not nums:
        return None
    ans = nums[0] if had_anchor else nums[-1]
    ans = ans.rstrip(".").strip("\n")
    return _strip_decimal_zeros(ans)


def gsm8k_label(solution: str) -> str:
    """Label of a GSM8K reference solution: the number after ``####``, commas removed, decimal zeros stripped."""
    m = re.search(r"####\s*(.+)$", solution.strip(), re.MULTILINE)
    if not m:
        raise ValueError("reference solution has no '#### <answer>' line")
    return _strip_decimal_zeros(m.group(1).replace(",", "").strip())


_UNIT_WORDS = re.compile(r"\s*(?:\\text\{\s*[a-zA-Z ]+\}|[a-zA-Z]+)(?:\s+[a-zA-Z]+)?$")


def _normalise_math(s: str, question: str = "") -> str:
    s = s.strip()
    s = re.sub(r"^.*\bis\s+", "", s)  # keep what follows the last "is"
    s = s.replace("\\(", "").replace("\\)", "").replace("**", "")
    s = s.strip().strip(":").strip().rstrip(".").strip().strip("$").strip()
    m = re.fullmatch(r"\(?([A-J])\)?", s)
    if m:
        return m.group(1)
    if "in the form" not in question:
        s = re.sub(r"^[a-zA-Z]\s*=\s*", "", s)
    if "separated by commas" not in question:
        s = re.sub(r"(\d),(\d{3})", r"\1\2", s)
    s = s.replace("\\left", "").replace("\\right", "")
    s = re.sub(r"\\text\{\s*([^}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:mathbf|mathrm|mbox)\{([^}]*)\}", r"\1", s)
    s = s.replace("^\\circ", "").replace("^{\\circ}", "").replace("\\%", "").replace("%", "").replace("°", "")
    s = s.replace("\\$", "").replace("\\cdot", "*").replace("\\!", "")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt(\d+)", r"\\sqrt{\1}", s)
    s = s.replace("infinity", "\\infty").replace("inf", "\\infty") if "\\infty" not in s else s
    s = s.replace(" ", "")
    # a trailing unit word ("3bolts" after space removal): drop trailing letters after a number
    s = re.sub(r"^(-?\d+(?:\.\d+)?)[a-zA-Z]+$", r"\1", s)
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    if m:
        s = f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"
    if s.startswith("0.") is False and s.startswith("."):
        s = "0" + s
    return _strip_decimal_zeros(s) if _NUM_RE.fullmatch(s) else s


def math_candidates(text: str, question: str = "") -> set[str]:
    """Normalised answer candidates of a MATH output (digest §4): every ``\\boxed{}`` content if any, else the text
    after the last "answer is" (cut at the first sentence end, split on " or "), else the last token with a digit.
    Simple integer fractions also contribute their decimal value."""
    from mlrepro.grading import extract_boxed

    raw: list[str] = []
    if "boxed" in text:
        rest = text
        while True:
            b = extract_boxed(rest)
            if b is None:
                break
            raw.append(b)
            rest = rest[: rest.rfind("\\boxed")]
    elif "answer is" in text:
        tail = text.split("answer is")[-1]
        tail = re.split(r"\.\n|\. ", tail)[0]
        raw.extend(tail.split(" or "))
    else:
        toks = [t for t in text.split() if any(ch.isdigit() for ch in t)]
        if toks:
            raw.append(toks[-1])
    out = set()
    for r in raw:
        n = _normalise_math(r, question)
        if not n:
            continue
        out.add(n)
        m = re.fullmatch(r"\\frac\{(-?\d+)\}\{(\d+)\}", n)
        if m and int(m.group(2)) != 0:
            out.add(_strip_decimal_zeros(f"{int(m.group(1)) / int(m.group(2)):.6f}"))
    return out


def math_equal(output: str, label: str, question: str = "") -> bool:
    """Correct iff the output's candidate set intersects the label's (the label is a bare answer string)."""
    gold = math_candidates(f"\\boxed{{{label}}}", question)
    return bool(math_candidates(output, question) & gold)


# --------------------------------------------------------------------------------------------------------------
# Prompt builders (digest §2.1, §2.3)
# --------------------------------------------------------------------------------------------------------------
def _user_turn(question: str) -> str:
    return f"Question: {question}\nSolution:"


def zero_shot_messages(question: str, system: str = IRPO_SYSTEM_PROMPT, system_role: bool = True) -> list[dict]:
    """System (IRPO-style) + ``Question: <q>\\nSolution:``. Models without a system role (Gemma) get the system text
    prepended to the user turn with a newline."""
    if system_role:
        return [{"role": "system", "content": system}, {"role": "user", "content": _user_turn(question)}]
    return [{"role": "user", "content": f"{system}\n{_user_turn(question)}"}]


def few_shot_messages(question: str, exemplars: Sequence[dict], rng: random.Random, shots: int = 8) -> list[dict]:
    """``shots`` (user, assistant) exemplar turns drawn without replacement in a fresh random order, then the target
    question; no system prompt. ``exemplars`` are ``{"question", "solution"}`` dicts."""
    if len(exemplars) < shots:
        raise ValueError(f"need at least {shots} exemplars, got {len(exemplars)}")
    msgs: list[dict] = []
    for ex in rng.sample(list(exemplars), shots):
        msgs.append({"role": "user", "content": _user_turn(ex["question"])})
        msgs.append({"role": "assistant", "content": ex["solution"]})
    msgs.append({"role": "user", "content": _user_turn(question)})
    return msgs


def direct_text(question: str, rationale: str | None = None, bos: str | None = None, eos: str = "") -> tuple[str, str]:
    """The SFT / evaluation "direct" format (no chat template): prompt ``[BOS] + question``, completion
    ``" " + rationale + EOS``. Loss applies to the completion only. Qwen has no BOS: pass ``bos=None``."""
    prompt = (bos or "") + question
    completion = "" if rationale is None else " " + rationale + eos
    return prompt, completion


# --------------------------------------------------------------------------------------------------------------
# Filtering and selection (digest §2.2)
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One sampled path for question ``qid``: its rationale text, parsed answer, token count and gold label."""

    qid: str
    rationale: str
    answer: str | None
    token_count: int
    label: str
    source: str = "zs"  # "zs" (zero-shot) or "fs" (few-shot)

    @property
    def correct(self) -> bool:
        return self.answer is not None and self.answer == self.label


def filter_candidates(cands: Iterable[Candidate], max_tokens: int, correct_fn=None) -> tuple[list[Candidate], dict]:
    """The three filters of ``preprocess.py``, in order, over the whole candidate list in file order:

    1. correctness (``answer == label``, or ``correct_fn(candidate)`` e.g. :func:`math_equal`);
    2. global exact-text dedup of rationales (first occurrence kept);
    3. truncation: keep ``token_count < max_tokens - 1`` (drops outputs that hit the generation cap).

    Returns the survivors and counts of what each filter removed."""
    seen: set[str] = set()
    kept, stats = [], {"total": 0, "incorrect": 0, "duplicate": 0, "truncated": 0}
    for c in cands:
        stats["total"] += 1
        ok = correct_fn(c) if correct_fn is not None else c.correct
        if not ok:
            stats["incorrect"] += 1
            continue
        if c.rationale in seen:
            stats["duplicate"] += 1
            continue
        seen.add(c.rationale)
        if not c.token_count < max_tokens - 1:
            stats["truncated"] += 1
            continue
        kept.append(c)
    stats["kept"] = len(kept)
    return kept, stats


def select(cands: Sequence[Candidate], rule: str = "shortest") -> list[Candidate]:
    """Per-question selection over filtered candidates. ``shortest``: the minimum ``token_count`` per question, ties
    to the first in input order (Python ``min`` is stable); ``all``: every candidate. Questions without a surviving
    candidate are absent from the output (they get no training example). Output order = first appearance."""
    if rule == "all":
        return list(cands)
    if rule != "shortest":
        raise ValueError(f"unknown selection rule {rule!r} (shortest or all)")
    groups: dict[str, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(c.qid, []).append(c)
    return [min(g, key=lambda c: c.token_count) for g in groups.values()]


def augment(few_shot: Sequence[Candidate], zero_shot: Sequence[Candidate]) -> list[Candidate]:
    """Sample augmentation: the union of the few-shot and zero-shot candidate sets (few-shot files first, as the
    official pipeline copies them into one folder); selection then runs on the union grouped by question."""
    return [*few_shot, *zero_shot]


def budget_matched(few_shot: Sequence[Candidate], zero_shot: Sequence[Candidate], k_fs: int = 8, k_zs: int = 8) -> list[Candidate]:
    """The budget-matched variant: the first ``k_fs`` few-shot and ``k_zs`` zero-shot samples of each question."""
    def first_k(cands, k):
        count: dict[str, int] = {}
        out = []
        for c in cands:
            if count.get(c.qid, 0) < k:
                out.append(c)
                count[c.qid] = count.get(c.qid, 0) + 1
        return out

    return augment(first_k(few_shot, k_fs), first_k(zero_shot, k_zs))


# --------------------------------------------------------------------------------------------------------------
# Metrics (digest §5)
# --------------------------------------------------------------------------------------------------------------
def relative(value: float, baseline: float) -> float:
    """Method / baseline x 100 (relative accuracy or relative length, in %)."""
    if baseline == 0:
        raise ZeroDivisionError("baseline value is 0")
    return 100.0 * value / baseline


def reduction(length: float, baseline_length: float) -> float:
    """Length reduction in % of the baseline: 100 - relative length."""
    return 100.0 - relative(length, baseline_length)


# --------------------------------------------------------------------------------------------------------------
# Sample efficiency (Fig. 3 analogue; digest §8 A.6)
# --------------------------------------------------------------------------------------------------------------
def expected_shortest_correct(lengths: Sequence[float], correct: Sequence[bool], n: int) -> float | None:
    """Expected length of the shortest correct path among ``n`` draws *without replacement* from a pool of ``M``
    samples (``lengths``, ``correct``), conditioned on at least one correct draw. None if that is impossible.

    With the ``c`` correct lengths sorted ``l_(1) <= ... <= l_(c)`` (ties broken by pool order), the shortest correct
    draw is ``l_(i)`` iff item ``i`` is drawn and none of the ``i - 1`` shorter correct items is:
    ``P_i = C(M - i, n - 1) / C(M, n)``; the probability of at least one correct is ``1 - C(M - c, n) / C(M, n)``.
    """
    m = len(lengths)
    if len(correct) != m:
        raise ValueError("lengths and correct must have the same size")
    if not 1 <= n <= m:
        raise ValueError(f"need 1 <= n <= pool size ({m}), got {n}")
    cl = sorted(float(l) for l, c in zip(lengths, correct) if c)
    c = len(cl)
    if c == 0:
        return None
    total = math.comb(m, n)
    p_any = 1.0 - math.comb(m - c, n) / total
    e = sum(l * math.comb(m - i, n - 1) / total for i, l in enumerate(cl, start=1))
    return e / p_any


def expected_shortest_correct_bruteforce(lengths: Sequence[float], correct: Sequence[bool], n: int) -> float | None:
    """Enumerate every ``n``-subset (test oracle for :func:`expected_shortest_correct`)."""
    from itertools import combinations

    vals = []
    for sub in combinations(range(len(lengths)), n):
        cl = [lengths[i] for i in sub if correct[i]]
        if cl:
            vals.append(min(cl))
    return sum(vals) / len(vals) if vals else None


# --------------------------------------------------------------------------------------------------------------
# The paper's premise (a precondition on the base model, checked before any self-training)
# --------------------------------------------------------------------------------------------------------------
# The paper's premise (§1, §3): the base model can already reason concisely, i.e. its few-shot concise outputs are
# nearly as accurate as its default ones, and self-training only elicits that latent ability. Not a number from the
# paper: we call the premise met when the base's accuracy under the concise prompt is within 5 points of zero-shot.
PREMISE_MAX_GAP = 5.0


def premise_gap(concise_accuracy: float, zero_shot_accuracy: float) -> float:
    """Accuracy of the base when the prompt forces the concise style minus its zero-shot accuracy (points)."""
    return float(concise_accuracy) - float(zero_shot_accuracy)


def premise_met(concise_accuracy: float, zero_shot_accuracy: float, max_gap: float = PREMISE_MAX_GAP) -> bool:
    """True when the concise-style accuracy is at most ``max_gap`` points below the zero-shot accuracy."""
    return premise_gap(concise_accuracy, zero_shot_accuracy) >= -max_gap
