"""Data for AdaSTaR: the six benchmarks by HF id (or local file), the synthetic arithmetic task of the mini recipe,
and the prompt formats of the official code (spec §2.8-2.9).

Every loader returns records ``{"id", "question", "answer", "options", "task"}``: ``answer`` is the gold string the
answer extractor is compared with (a letter, ``yes``/``no``, ``0``/``1``/``2`` or a number); ``options`` is a list
of option texts for multiple-choice tasks (else empty).

Prompt formats (our own wording of the code's layout):

* sampling prompt: few-shot exemplars joined by ``"\\n"``, then ``"\\nQ: {question}\\nA:"``;
* rationalization prompt: the hint exemplars, then ``"\\nQ: {question} ({gold})\\nA:"`` (options after the hint);
* training example: prompt ``"Q: {question}\\nA:"``, completion ``" {rationale}"`` (zero-shot, no exemplars;
  the loss covers only the completion, i.e. everything after the last "A:");
* test prompt: zero-shot ``"Q: {question}\\nA:"`` with greedy decoding.

The code writes ``"A: "`` with a trailing space and the rationale after it; we move that space into the completion
so the prompt ends on a token boundary for byte-level BPE (same text, cleaner token split).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["BENCHMARKS", "LETTERS", "load_benchmark", "convert_row", "arithmetic_records", "format_question",
           "sampling_prompt", "zero_shot_prompt", "train_example", "hint_answer", "load_exemplars", "arithmetic_exemplars",
           "number_to_gold", "make_fake_rows"]

LETTERS = "ABCDEFGH"

# task -> how to load it. ``train``: splits merged into the training set; ``test``: evaluation split.
BENCHMARKS: dict[str, dict] = {
    # ARC-Challenge: train + validation merged = 1,418 (Table 4)
    "arc_challenge": {"hf_id": "allenai/ai2_arc", "name": "ARC-Challenge", "train": ["train", "validation"],
                      "test": "test", "mc": True},
    # CommonsenseQA: the public test split has no labels, so the labelled validation split is the test set [INFERRED]
    "cqa": {"hf_id": "tau/commonsense_qa", "name": None, "train": ["train"], "test": "validation", "mc": True},
    # CLadder 1.5 [INFERRED config name]; yes/no answers
    "cladder": {"hf_id": "causal-nlp/CLadder", "name": "full_v1.5_default", "train": ["train"], "test": "test",
                "mc": False},
    # ANLI round 1: a random 10k of train_r1 (Table 4)
    "anli_r1": {"hf_id": "facebook/anli", "name": None, "train": ["train_r1"], "test": "test_r1", "mc": False,
                "train_limit": 10000},
    "gsm8k": {"hf_id": "openai/gsm8k", "name": "main", "train": ["train"], "test": "test", "mc": False},
    "svamp": {"hf_id": "ChilleD/SVAMP", "name": None, "train": ["train"], "test": "test", "mc": False},
    # the mini recipe's synthetic task (mlrepro.tasks arithmetic word problems)
    "arithmetic": {"hf_id": None, "name": None, "train": [], "test": "", "mc": False},
}

ANLI_LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}


def number_to_gold(x) -> str:
    """Gold numbers as the string the extractor is compared with: ``18.0`` -> ``"18"``, commas dropped [INFERRED:
    the code compares strings, so a float gold "18.0" would never match a model's "18"]."""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    s = str(x).replace(",", "").strip()
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    return s


def _mc(question: str, choices: dict, answer_key: str, task: str, i: int, rid) -> dict:
    texts = list(choices["text"])
    labels = [str(x) for x in choices["label"]]
    if answer_key not in labels:
        raise ValueError(f"{task} row {i}: answer key {answer_key!r} not among labels {labels}")
    # numeric labels ("1".."4", a few ARC rows) are mapped to letters by position [INFERRED]
    return {"id": str(rid if rid is not None else f"{task}-{i}"), "question": question.strip(),
            "answer": LETTERS[labels.index(answer_key)], "options": texts, "task": task}


def convert_row(task: str, row: dict, i: int) -> dict:
    """One raw dataset row of ``task`` -> our record."""
    if task == "arc_challenge":
        return _mc(row["question"], row["choices"], str(row["answerKey"]), task, i, row.get("id"))
    if task == "cqa":
        return _mc(row["question"], row["choices"], str(row["answerKey"]), task, i, row.get("id"))
    if task == "cladder":
        q = row.get("prompt") or " ".join(x for x in (row.get("given_info"), row.get("question")) if x)
        label = str(row.get("label", row.get("answer", ""))).strip().lower()
        if label not in ("yes", "no"):
            raise ValueError(f"cladder row {i}: label must be yes/no, got {label!r}")
        return {"id": str(row.get("id", f"cladder-{i}")), "question": q.strip(), "answer": label, "options": [],
                "task": task}
    if task == "anli_r1":
        label = int(row["label"])
        if label not in ANLI_LABELS:
            raise ValueError(f"anli row {i}: label must be 0/1/2, got {label}")
        q = (f"Premise: {row['premise'].strip()}\nHypothesis: {row['hypothesis'].strip()}\n"
             "Answer 0 if the premise entails the hypothesis, 1 if it is neutral, 2 if it contradicts it.")
        return {"id": str(row.get("uid", f"anli-{i}")), "question": q, "answer": str(label), "options": [],
                "task": task}
    if task == "gsm8k":
        sol = row["answer"]
        if "####" not in sol:
            raise ValueError(f"gsm8k row {i}: no '####' in the answer field")
        gold = sol.split("####")[-1].strip()
        return {"id": str(row.get("id", f"gsm8k-{i}")), "question": row["question"].strip(),
                "answer": number_to_gold(gold), "options": [], "task": task}
    if task == "svamp":
        q = row.get("question_concat") or f"{row['Body'].strip()} {row['Question'].strip()}"
        return {"id": str(row.get("ID", f"svamp-{i}")), "question": q.strip(), "answer": number_to_gold(row["Answer"]),
                "options": [], "task": task}
    if task == "arithmetic":
        return {"id": str(row["id"]), "question": row["question"], "answer": str(row["answer"]), "options": [],
                "task": task, "difficulty": row.get("difficulty")}
    raise ValueError(f"unknown task {task!r}; known: {', '.join(BENCHMARKS)}")


def _rows(path_or_id: str, split: str, name: str | None) -> list[dict]:
    from mlrepro.tasks import load_records

    if Path(path_or_id).exists():
        return load_records(path_or_id, split=split)
    return load_records(path_or_id, split=split, name=name)


def load_benchmark(task: str, split: str = "train", path: str | None = None, limit: int | None = None,
                   seed: int = 10) -> list[dict]:
    """Records of ``task``'s ``split`` (``train`` merges the spec's training splits; ``test`` is the evaluation
    split). ``path``: a local ``.jsonl``/``.json``/``.csv``/``.parquet`` file (then ``split`` only names it) or a
    hub id replacing the default. ``limit``: a seeded random subset (ANLI's 10k train subset uses it)."""
    if task not in BENCHMARKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(BENCHMARKS)}")
    spec = BENCHMARKS[task]
    src = path or spec["hf_id"]
    if src is None:
        raise ValueError(f"task {task!r} is generated in code: use arithmetic_records()")
    if path is not None and Path(path).exists():
        rows = _rows(path, split, None)
    else:
        splits = spec["train"] if split == "train" else [spec["test"] if split == "test" else split]
        rows = [r for s in splits for r in _rows(src, s, spec["name"])]
    recs = [convert_row(task, r, i) for i, r in enumerate(rows)]
    lim = limit if limit is not None else (spec.get("train_limit") if split == "train" else None)
    if lim is not None and len(recs) > lim:
        recs = random.Random(seed).sample(recs, lim)
    return recs


def arithmetic_records(n: int, seed: int, difficulties: Iterable[int] = (1, 2, 3), max_value: int = 20,
                       id_prefix: str = "arith", style: str = "terse") -> list[dict]:
    """Synthetic arithmetic word problems (``mlrepro.tasks``), with their worked solutions kept under
    ``solution`` (used only for the base model's seed SFT, never by STaR itself)."""
    from mlrepro.tasks import generate_problems

    out = []
    for r in generate_problems(n, seed=seed, difficulties=tuple(difficulties), styles=(style,), max_value=max_value,
                               id_prefix=id_prefix):
        rec = convert_row("arithmetic", r, 0)
        rec["solution"] = r["solution"]
        out.append(rec)
    return out


def misread_solution(solution: str, rng: random.Random, p_misread: float,
                     ops_misread: Sequence[str] = ("*",)) -> tuple[str, int]:
    """A terse worked solution as a sloppy annotator writes it (mini recipe's seed corpus): each step whose operation
    is in ``ops_misread`` (e.g. ``x * k = y``, ``x - k = y``) is, with probability ``p_misread``, misread as an
    addition ``x + k = x+k``; the following steps are computed correctly from the wrong value, so the slip
    propagates to a wrong final answer. Returns the new solution and the number of misread steps (0: unchanged)."""
    from mlrepro.tasks import parse_steps

    eqs = parse_steps(solution)
    if not eqs or p_misread <= 0:
        return solution, 0
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    x, lines, n_bad = eqs[0][0], [], 0
    for _, op, b, _ in eqs:
        if op in ops_misread and op != "+" and rng.random() < p_misread:
            op, n_bad = "+", n_bad + 1
        y = ops[op](x, b)
        lines.append(f"{x} {op} {b} = {y}")
        x = y
    if not n_bad:
        return solution, 0
    return "\n".join(lines + [f"#### {x}"]), n_bad


def misread_rate(records: Sequence[dict], texts: Sequence[str], ops_misread: Sequence[str] = ("*",)) -> tuple[int, int]:
    """Arithmetic task: (gold steps with an operation in ``ops_misread`` written as ``+ k`` at the same position in
    ``texts``, such steps in total): how often a model repeats the seed corpus' misconception."""
    from mlrepro.tasks import parse_steps

    bad = total = 0
    for r, t in zip(records, texts):
        if not r.get("solution"):
            continue
        gold, out = parse_steps(r["solution"]), parse_steps(t.split("Q: ")[0])
        for k, (_, op, b, _) in enumerate(gold):
            if op in ops_misread and op != "+":
                total += 1
                bad += k < len(out) and out[k][1] == "+" and out[k][2] == b
    return bad, total


def hint_answer(rec: dict) -> str:
    """The hint appended in rationalization: the gold answer (GSM8K: the last whitespace token of the gold)."""
    return str(rec["answer"]).split()[-1] if str(rec["answer"]).split() else str(rec["answer"])


def format_question(rec: dict, hint: bool = False) -> str:
    """The question text, with ``" (gold)"`` appended for rationalization and options listed after it."""
    q = rec["question"]
    if hint:
        q = f"{q} ({hint_answer(rec)})"
    if rec.get("options"):
        q += "\nOptions:\n" + "\n".join(f"({LETTERS[j]}) {t}" for j, t in enumerate(rec["options"]))
    return q


def _exemplar_block(ex: dict, hint: bool) -> str:
    return f"Q: {format_question(ex, hint)}\nA: {ex['rationale'].strip()}\n"


def sampling_prompt(rec: dict, exemplars: list[dict] | None = None, hint: bool = False) -> str:
    """Few-shot sampling prompt (hint exemplars + hinted question when ``hint``); zero-shot without exemplars."""
    q = f"Q: {format_question(rec, hint)}\nA:"
    if not exemplars:
        return q
    return "\n".join(_exemplar_block(e, hint) for e in exemplars) + "\n" + q


def zero_shot_prompt(rec: dict) -> str:
    """Zero-shot test prompt (spec §2.9: no exemplars at test time)."""
    return f"Q: {format_question(rec)}\nA:"


def train_example(rec: dict, rationale: str) -> dict:
    """Prompt-completion pair for trl's SFTTrainer: loss on the completion only (rationale + answer + EOS)."""
    return {"prompt": f"Q: {format_question(rec)}\nA:", "completion": " " + rationale.strip()}


def load_exemplars(path: str | None, task: str) -> list[dict]:
    """Few-shot exemplars ``[{"question", "rationale", "answer", "options"?}]`` from a JSON/JSONL file. The official
    exemplar files are not shipped here (we never copy upstream text): the paper recipe points ``exemplars_path``
    at a file the user writes. ``None`` -> zero-shot prompting."""
    if not path:
        return []
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"exemplars file {p} not found")
    text = p.read_text()
    rows = json.loads(text) if p.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x.strip()]
    for j, r in enumerate(rows):
        missing = {"question", "rationale", "answer"} - set(r)
        if missing:
            raise ValueError(f"exemplar {j} in {p} lacks {sorted(missing)}")
        r.setdefault("options", [])
        r.setdefault("task", task)
    return rows


def arithmetic_exemplars(n: int = 2, seed: int = 12345, max_value: int = 20) -> list[dict]:
    """Made-in-code exemplars for the arithmetic task (used by tests and the dry run)."""
    return [{"question": r["question"], "rationale": r["solution"], "answer": r["answer"], "options": [],
             "task": "arithmetic"} for r in arithmetic_records(n, seed, (1,), max_value, "exemplar")]


def make_fake_rows(task: str, n: int = 6, seed: int = 0) -> list[dict]:
    """Rows in each benchmark's raw hub schema, made in code (dry runs and tests; never real data)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        if task == "arc_challenge":
            labels = ["A", "B", "C", "D"] if i % 3 else ["1", "2", "3", "4"]
            rows.append({"id": f"arc-{i}", "question": f"Which number is the sum of {a} and {b}?",
                         "choices": {"text": [str(a + b), str(a * b), str(a), str(b)], "label": labels},
                         "answerKey": labels[0]})
        elif task == "cqa":
            rows.append({"id": f"cqa-{i}", "question": f"Where would you keep {a} pens?", "question_concept": "pen",
                         "choices": {"label": list("ABCDE"), "text": ["desk", "sea", "sky", "moon", "sun"]},
                         "answerKey": "A"})
        elif task == "cladder":
            rows.append({"id": i, "prompt": f"Imagine a world where X causes Y with strength {a}. Does X cause Y?",
                         "label": "yes" if i % 2 else "no"})
        elif task == "anli_r1":
            rows.append({"uid": f"anli-{i}", "premise": f"There are {a} cats.", "hypothesis": f"There are {b} cats.",
                         "label": 0 if a == b else 2, "reason": ""})
        elif task == "gsm8k":
            rows.append({"question": f"Ann has {a} apples and buys {b} more. How many apples does she have?",
                         "answer": f"She has {a} + {b} = {a + b} apples.\n#### {a + b}"})
        elif task == "svamp":
            rows.append({"ID": f"chal-{i}", "Body": f"Ann has {a} apples.", "Question": f"How many after eating {min(a, b)}?",
                         "Equation": f"( {a} - {min(a, b)} )", "Answer": float(a - min(a, b)), "Type": "Subtraction",
                         "question_concat": f"Ann has {a} apples. How many after eating {min(a, b)}?"})
        elif task == "arithmetic":
            return [dict(r) for r in arithmetic_records(n, seed)]
        else:
            raise ValueError(f"unknown task {task!r}")
    return rows
