"""Evaluation: the pairwise LLM-as-judge harness (paper App. C.3; code ``eval/``), the evaluation-set loaders, and
the exact teacher/student likelihood metrics of the mini recipe.

Judge protocol (spec §2.9): one user message laid out as ``[System]`` (instructions), ``[User Question]``,
``[The Start of Assistant A’s Answer]`` ... ``[The End of Assistant A’s Answer]``, the same for B; the verdict is the
substring ``[[A]]``, else ``[[B]]``, else ``[[C]]`` (tie), anything else unparsed and excluded. Both orders are
judged; per order ``WR = (wins + ties / 2) / parsed``; the reported WR is the mean of the two orders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The instructions paraphrase the elements of the MT-Bench pairwise template listed in the spec (our wording).
JUDGE_INSTRUCTIONS = (
    "Act as a fair and impartial judge. Compare the answers that two AI assistants gave to the user question "
    "below and decide which assistant follows the user's instructions and answers the question better. Weigh "
    "helpfulness, relevance, accuracy, depth, creativity and level of detail. Begin with a brief explanation of "
    "your comparison. Do not let the order in which the answers appear, their length or the assistants' names "
    "influence you, and be as objective as possible. After the explanation, give your verdict in exactly this "
    "format: \"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is better, and \"[[C]]\" for a tie."
)
A_START, A_END = "[The Start of Assistant A’s Answer]", "[The End of Assistant A’s Answer]"
B_START, B_END = "[The Start of Assistant B’s Answer]", "[The End of Assistant B’s Answer]"


def build_judge_prompt(question: str, answer_a: str, answer_b: str, instructions: str = JUDGE_INSTRUCTIONS) -> str:
    """The pairwise judge prompt: each header on its own line, its content on the next line(s), one blank line
    between blocks."""
    blocks = [f"[System]\n{instructions}", f"[User Question]\n{question}",
              f"{A_START}\n{answer_a}\n{A_END}", f"{B_START}\n{answer_b}\n{B_END}"]
    return "\n\n".join(blocks)


def parse_verdict(text: str | None) -> str | None:
    """``"A"``, ``"B"``, ``"C"`` (tie) or ``None`` (unparsable): the substring ``[[A]]``, else ``[[B]]``, else
    ``[[C]]`` (the code's check order)."""
    if not text:
        return None
    for v in ("A", "B", "C"):
        if f"[[{v}]]" in text:
            return v
    return None


def order_win_rate(verdicts: Sequence[str | None], candidate: str) -> dict[str, float | int]:
    """Weighted win rate of the candidate answering in position ``candidate`` ("A" or "B"):
    ``(wins + 0.5 ties) / parsed``; unparsed verdicts are excluded (and counted)."""
    if candidate not in ("A", "B"):
        raise ValueError("candidate position must be 'A' or 'B'")
    parsed = [v for v in verdicts if v is not None]
    wins = sum(v == candidate for v in parsed)
    ties = sum(v == "C" for v in parsed)
    wr = (wins + 0.5 * ties) / len(parsed) if parsed else float("nan")
    return {"win_rate": wr, "wins": wins, "ties": ties, "losses": len(parsed) - wins - ties,
            "parsed": len(parsed), "unparsed": len(verdicts) - len(parsed)}


@dataclass
class JudgeResult:
    win_rate: float
    candidate_first: dict
    candidate_second: dict
    consistency: float | None
    verdicts_first: list
    verdicts_second: list
    raw_first: list
    raw_second: list

    def summary(self) -> dict[str, Any]:
        return {"win_rate": self.win_rate, "win_rate_pct": 100.0 * self.win_rate,
                "win_rate_candidate_first": self.candidate_first["win_rate"],
                "win_rate_candidate_second": self.candidate_second["win_rate"],
                "unparsed": self.candidate_first["unparsed"] + self.candidate_second["unparsed"],
                "consistency": self.consistency, "n": len(self.verdicts_first)}


def judge_pairwise(sampler: Any, questions: Sequence[str], candidates: Sequence[str], references: Sequence[str], *,
                   temperature: float = 0.7, max_new_tokens: int = 1024, seed: int | None = 0) -> JudgeResult:
    """Judge every (question, candidate, reference) in both orders with one sampler (the ``openai`` backend and
    GPT-4o / GPT-4o-mini in the paper; judge temperature 0.7 as in the paper, the code sets none).

    The item-level two-order metric of :func:`mlrepro.metrics.two_order_win_rate` (on items parsed in both orders)
    is reported as ``consistency`` context; the headline ``win_rate`` is the paper's mean of per-order WRs."""
    from mlrepro.metrics import two_order_win_rate
    from mlrepro.sampling import SamplingParams

    if not len(questions) == len(candidates) == len(references):
        raise ValueError("questions, candidates and references must have the same length")
    params = SamplingParams(n=1, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    first = [[{"role": "user", "content": build_judge_prompt(q, c, r)}] for q, c, r in
             zip(questions, candidates, references)]
    second = [[{"role": "user", "content": build_judge_prompt(q, r, c)}] for q, c, r in
              zip(questions, candidates, references)]
    out = sampler.generate(first + second, params)
    raw = [row[0].text for row in out]
    raw1, raw2 = raw[: len(first)], raw[len(first):]
    v1, v2 = [parse_verdict(t) for t in raw1], [parse_verdict(t) for t in raw2]
    o1, o2 = order_win_rate(v1, "A"), order_win_rate(v2, "B")

    def view(v, cand_pos):
        if v is None:
            return None
        return "tie" if v == "C" else ("win" if v == cand_pos else "loss")

    both = [(view(a, "A"), view(b, "B")) for a, b in zip(v1, v2) if a is not None and b is not None]
    consistency = two_order_win_rate([a for a, _ in both], [b for _, b in both])["consistency"] if both else None
    return JudgeResult(win_rate=(o1["win_rate"] + o2["win_rate"]) / 2, candidate_first=o1, candidate_second=o2,
                       consistency=consistency, verdicts_first=v1, verdicts_second=v2, raw_first=raw1,
                       raw_second=raw2)


# ------------------------------------------------------------------------------------------------ evaluation sets
EVAL_SETS: dict[str, dict[str, Any]] = {
    # AlpacaEval: 805 instructions with text-davinci-003 reference outputs (judge GPT-4o).
    "alpaca_eval": {"source": "tatsu-lab/alpaca_eval", "name": "alpaca_eval", "split": "eval",
                    "question": "instruction", "reference": "output"},
    # Evol-Instruct (WizardLM test set, 218 items with gpt-3.5-turbo outputs; judge GPT-4o). No hub id is known:
    # the official repo ships it as eval/evol-instruct/evol_inst_eval.json; pass that path.
    "evol_instruct": {"source": "eval/evol-instruct/evol_inst_eval.json", "name": None, "split": "train",
                      "question": "instruction", "reference": "output"},
    # UltraFeedback eval: 2,000 prompts [INFERRED: test_prefs of ultrafeedback_binarized]; the gpt-3.5-turbo
    # references are generated with build_references (judge GPT-4o-mini).
    "ultrafeedback": {"source": "HuggingFaceH4/ultrafeedback_binarized", "name": None, "split": "test_prefs",
                      "question": "prompt", "reference": None},
}


def load_eval_set(kind: str, source: str | None = None, *, split: str | None = None, limit: int | None = None,
                  question_field: str | None = None, reference_field: str | None = None) -> list[dict[str, Any]]:
    """Records ``{"id", "question", "reference"}`` of an instruction-following evaluation set, by its hub id (the
    default in :data:`EVAL_SETS`) or a local JSON/JSONL/Parquet file (e.g. the official repo's shipped files);
    ``reference`` is ``None`` when the set has no reference outputs."""
    from mlrepro.tasks.loaders import load_records

    if kind not in EVAL_SETS:
        raise ValueError(f"unknown eval set {kind!r}; known: {sorted(EVAL_SETS)}")
    spec = EVAL_SETS[kind]
    src = source or spec["source"]
    rows = load_records(src, split=split or spec["split"], name=spec["name"] if source is None else None)
    qf, rf = question_field or spec["question"], reference_field or spec["reference"]
    out = []
    for i, r in enumerate(rows):
        q = r.get(qf)
        if not q:
            continue
        out.append({"id": r.get("id", f"{kind}-{i}"), "question": str(q),
                    "reference": (str(r[rf]) if rf and r.get(rf) is not None else None)})
        if limit and len(out) >= limit:
            break
    if not out:
        raise ValueError(f"no questions found in {src!r} (field {qf!r})")
    return out


def build_references(sampler: Any, questions: Sequence[str], *, temperature: float = 0.0,
                     max_new_tokens: int = 1024, seed: int | None = 0) -> list[str]:
    """Reference answers from a reference model (code ``eval/reference_answer.py``; gpt-3.5-turbo in the paper)."""
    from mlrepro.sampling import SamplingParams

    out = sampler.generate([[{"role": "user", "content": q}] for q in questions],
                           SamplingParams(n=1, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed))
    return [row[0].text for row in out]


# ------------------------------------------------------------------------------------------------ likelihood metrics
def response_batch(tokenizer, prompts: Sequence[str], responses: Sequence[str], *, chat: bool = True):
    """Tokenized (prompt, response) rows with completion-only labels (``concatenated_batch`` on identical
    chosen/rejected, first half)."""
    from .data import concatenated_batch, tokenize_pair

    feats = [tokenize_pair(tokenizer, {"prompt": p, "chosen": r, "rejected": r}, max_length=None, chat=chat,
                           add_bos=False) for p, r in zip(prompts, responses)]
    b = concatenated_batch(feats, tokenizer.pad_token_id)
    n = len(feats)
    return {k: v[:n] for k, v in b.items()}


def model_logits(model, batch, batch_size: int = 256):
    """``logits[:, :-1]`` (float32) of ``model`` on a batch, under ``no_grad``."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, batch["input_ids"].shape[0], batch_size):
            o = model(input_ids=batch["input_ids"][s:s + batch_size],
                      attention_mask=batch["attention_mask"][s:s + batch_size], use_cache=False)
            out.append(o.logits[:, :-1].float())
    return torch.cat(out)


def likelihood_metrics(student_logits, teacher_logits, labels) -> dict[str, float]:
    """Exact token-level metrics on response tokens (labels already shifted):

    ``kl``: mean over response tokens of KL(p_t || q_t) over the full vocabulary; ``kl_seq``: the same as a mean of
    per-sequence means; ``student_nll`` / ``teacher_nll``: mean negative log-likelihood per response token."""
    from mlrepro import kernels as K

    keep = labels != -100
    n = keep.sum().clamp(min=1)
    kl = K.chunked_divergence(student_logits, teacher_logits, "kl", labels=labels, reduction="none")
    lq = K.token_logprobs(student_logits, labels)
    lp = K.token_logprobs(teacher_logits, labels)
    per_seq = kl.sum(-1) / keep.sum(-1).clamp(min=1)
    return {"kl": float(kl.sum() / n), "kl_seq": float(per_seq.mean()), "student_nll": float(-lq.sum() / n),
            "teacher_nll": float(-lp.sum() / n), "tokens": int(n)}


def summarize_claim_values(values: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float]]:
    """Mean and std over seeds per key."""
    import numpy as np

    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)} for k, v in values.items()}
