"""Data for the concise pipeline: the synthetic arithmetic world (mini) and GSM8K / MATH loaders (paper).

Records follow the shared schema (:mod:`mlrepro.tasks`): ``id, question, answer, solution, difficulty``. In the
synthetic world every solution ends with "The answer is N." (the paper's exemplars' convention), in one of three
styles of different length (terse / medium / verbose; ``mlrepro.tasks.render_solution``).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from mlrepro.tasks import load_gsm8k, load_math, make_problem

STYLES = ("terse", "medium", "verbose")

PROMPT_SEP = "\n\n"


STYLE_NAMES = ("terse", "medium", "verbose")


def render(p, style: str) -> str:
    """The miniature's three solution styles for one :class:`mlrepro.tasks.Problem`, all ending "The answer is N.".

    - ``verbose`` restates each question sentence before its computation and recaps at the end;
    - ``medium`` names each change briefly;
    - ``terse`` writes the equations only.
    Restating a sentence is a copy a small transformer learns easily (an induction pattern), so longer styles are
    also the more reliable ones for the tiny model, as longer reasoning is for real models on harder problems.
    """
    v = p.values()
    lines = []
    for i, op in enumerate(p.ops):
        eq = f"{v[i]} {op.symbol} {op.operand} = {v[i + 1]}"
        act = f"{p.name} gets {op.operand} more {p.item}" if op.kind == "add" else (
            f"{p.name} gives away {op.operand} {p.item}" if op.kind == "sub" else f"the {p.item} are multiplied by {op.operand}")
        if style == "verbose":
            lines.append(f"{act}, so {p.name} has {eq} {p.item}.")
        elif style == "medium":
            lines.append(f"{act}: {eq}.")
        elif style == "terse":
            lines.append(eq)
        else:
            raise ValueError(f"unknown style {style!r}; known: {STYLE_NAMES}")
    if style == "verbose":
        lines.insert(0, f"{p.name} has {p.start} {p.item}.")
        lines.append(f"So {p.name} has {v[-1]} {p.item} now.")
    lines.append(f"The answer is {p.answer}.")
    return "\n".join(lines)


_TERSE_LINE = re.compile(r"^\d+ [-+*] \d+ = \d+$")


def classify_style(text: str) -> str:
    """Which of the three styles an output is written in (``terse`` / ``medium`` / ``verbose``, else ``other``),
    from its step lines (all lines but "The answer is N."): verbose lines read "..., so X has a - b = c items.",
    medium lines "...: a - b = c.", terse lines are bare equations. A heuristic on line form: a cut-off output is
    judged by the lines it has (e.g. "X gives away 1 books:" alone counts as medium)."""
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip() and not ln.strip().startswith("The answer is")]
    if not lines:
        return "other"
    if all(_TERSE_LINE.match(ln) for ln in lines):
        return "terse"
    if any(", so " in ln for ln in lines):
        return "verbose"
    if all(":" in ln for ln in lines):
        return "medium"
    return "other"


def to_answer_is(solution: str, answer: str) -> str:
    """Replace the ``#### N`` line of a rendered solution with the sentence "The answer is N."."""
    lines = [ln for ln in solution.split("\n") if not ln.startswith("####")]
    return "\n".join([*lines, f"The answer is {answer}."])


def _world(world: dict | None) -> dict:
    w = dict(world or {})
    if "kinds" in w:
        w["kinds"] = tuple(w["kinds"])
    return w


def world_of(cfg) -> dict:
    """The synthetic world's problem parameters from ``cfg.data``."""
    return {"max_value": cfg.data.max_value, "max_operand": cfg.data.max_operand, "kinds": tuple(cfg.data.kinds)}


def synthetic_records(n: int, seed: int, difficulties: list[int], style: str = "medium", id_prefix: str = "q",
                      world: dict | None = None) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = make_problem(rng, rng.choice(difficulties), **_world(world))
        out.append({"id": f"{id_prefix}{seed}-{i}", "question": p.question(), "answer": str(p.answer),
                    "solution": render(p, style),
                    "difficulty": p.difficulty, "_problem": p})
    return out


def zs_prompt(question: str) -> str:
    """Zero-shot prompt of the miniature (plain text; the paper recipe uses chat messages, see README)."""
    return f"Question: {question}\nSolution:"


def fs_prompt(question: str, exemplars: list[dict], rng: random.Random, shots: int) -> str:
    """Few-shot prompt: ``shots`` exemplars in a fresh random order, then the question (digest §2.1)."""
    ex = rng.sample(exemplars, shots)
    return PROMPT_SEP.join(f"{zs_prompt(e['question'])} {e['solution']}" for e in ex) + PROMPT_SEP + zs_prompt(question)


def pretrain_documents(n_docs: int, seed: int, difficulties: list[int], style_mix: dict[str, float],
                       examples_per_doc: tuple[int, int], world: dict | None = None) -> list[str]:
    """Multi-example documents whose examples share one style (so in-context exemplars steer the style)."""
    bad = set(style_mix) - set(STYLES)
    if bad:
        raise ValueError(f"unknown styles {sorted(bad)} in pretrain.style_mix; known: {STYLES}")
    rng = random.Random(seed)
    styles, weights = zip(*style_mix.items())
    docs = []
    for _ in range(n_docs):
        style = rng.choices(styles, weights)[0]
        k = rng.randint(*examples_per_doc)
        exs = []
        for _ in range(k):
            p = make_problem(rng, rng.choice(difficulties), **_world(world))
            exs.append(f"{zs_prompt(p.question())} {render(p, style)}")
        docs.append(PROMPT_SEP.join(exs))
    return docs


def load_exemplars(spec: str, seed: int, difficulties: list[int], shots: int, world: dict | None = None) -> list[dict]:
    """The concise exemplar pool: a path to JSON/JSONL ``{question, solution}`` records, or a style name to
    generate ``shots`` synthetic exemplars in that style."""
    p = Path(spec)
    if p.suffix in (".json", ".jsonl") and p.exists():
        text = p.read_text()
        recs = json.loads(text) if p.suffix == ".json" else [json.loads(l) for l in text.splitlines() if l.strip()]
        return [{"question": r["question"], "solution": r["solution"]} for r in recs]
    if spec not in STYLES:
        raise ValueError(f"data.exemplars must be a style {STYLES} or a .json/.jsonl path, got {spec!r}")
    return [{"question": r["question"], "solution": r["solution"]}
            for r in synthetic_records(shots, seed + 7919, difficulties, spec, id_prefix="ex", world=world)]


def load_split(cfg, split: str) -> list[dict]:
    """Train or test questions for the configured dataset."""
    d = cfg.data
    n = d.n_train if split == "train" else d.n_test
    if d.dataset == "synthetic":
        # disjoint seeds for train and test questions; the base model's pre-training uses yet another seed
        return synthetic_records(n, 1000 + (0 if split == "train" else 1), d.difficulties, "medium",
                                 id_prefix="tr" if split == "train" else "te", world=world_of(cfg))
    path = d.train_path if split == "train" else d.test_path
    loader = load_gsm8k if d.dataset == "gsm8k" else load_math
    return loader(path, split=split, limit=n or None)
