"""Data: the real sets (MATH-500, GSM8K) by HF id or local file, and the mini's synthetic step world.

Real sets go through :mod:`mlrepro.tasks.loaders` into the shared record schema
``{"id", "question", "answer", "solution", "steps", "difficulty", ...}``. Tests and ``--dry-run`` use rows that
:func:`fake_rows` makes in code, written to a local JSONL file.

The mini's world is :mod:`mlrepro.tasks` arithmetic (``make_problem`` with small numbers, add/sub only) written
tersely so that two tiny LMs can learn it on a CPU in a minute or two::

    question:  14 - 1 - 3 - 2
    solution:  14 - 1 = 13\\n\\n13 - 3 = 10\\n\\n10 - 2 = 8\\n\\n\\boxed{8}

one equation per step, steps separated by a blank line, the final step is the boxed answer. Every step is
checked exactly (:func:`step_labels`, built on :func:`mlrepro.tasks.check_step` plus a check that the step applies
the question's next operation), which gives the process labels the tiny PRM is trained on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlrepro.grading import extract_boxed
from mlrepro.runs import atomic_write_jsonl
from mlrepro.tasks import Op, Problem, check_step, make_problem, parse_steps

from .method import STEP_DELIMITER

__all__ = ["SOURCES", "terse_question", "terse_steps", "world_record", "make_world", "local_step_check",
           "step_labels", "corrupt_solution", "load_eval_records", "fake_rows", "write_jsonl"]

SOURCES = ("synthetic", "math500", "gsm8k")


# ---------------------------------------------------------------------------------------------------------------
# synthetic step world
# ---------------------------------------------------------------------------------------------------------------


def terse_question(p: Problem) -> str:
    return " ".join([str(p.start)] + [f"{op.symbol} {op.operand}" for op in p.ops])


def terse_steps(p: Problem) -> list[str]:
    """The reference steps (without delimiters): one equation per operation, then ``\\boxed{answer}``."""
    return [*p.steps(), f"\\boxed{{{p.answer}}}"]


def world_record(p: Problem, rid: str) -> dict[str, Any]:
    steps = terse_steps(p)
    return {"id": rid, "question": terse_question(p), "answer": str(p.answer),
            "solution": STEP_DELIMITER.join(steps), "steps": steps, "difficulty": p.difficulty,
            "style": "terse_steps", "source": "mlrepro.tasks.arithmetic", "start": p.start,
            "ops": [[op.kind, op.operand] for op in p.ops]}


def make_world(n: int, seed: int, difficulties: Sequence[int] = (2, 3), max_value: int = 15, max_operand: int = 3,
               kinds: Sequence[str] = ("add", "sub"), exclude: set[str] | None = None,
               id_prefix: str = "world") -> list[dict[str, Any]]:
    """``n`` distinct-by-draw problems (questions in ``exclude`` are skipped, e.g. the evaluation set)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise ValueError(f"could not draw {n} problems outside the excluded set; widen the world")
        p = make_problem(rng, rng.choice(list(difficulties)), max_value, max_operand, tuple(kinds))
        if exclude and terse_question(p) in exclude:
            continue
        out.append(world_record(p, f"{id_prefix}-{seed}-{len(out)}"))
    return out


def _ops(record: dict) -> list[Op]:
    return [Op(k, int(b)) for k, b in record["ops"]]


def local_step_check(record: dict, k: int, step: str, previous_value: int) -> tuple[bool, int | None]:
    """Whether step ``k`` (0-based) is right given the value the previous step wrote, and the value it writes.

    An operation step must hold exactly one equation ``a op b = c`` that starts from ``previous_value``
    (:func:`mlrepro.tasks.check_step`), applies the question's ``k``-th operation and operand, and is
    arithmetically right. The step after the last operation must be ``\\boxed{previous_value}``.
    """
    ops = _ops(record)
    text = step.strip()
    if k < len(ops):
        eqs = parse_steps(text)
        if len(eqs) != 1:
            return False, None
        a, sym, b, c = eqs[0]
        ok = bool(check_step(text, previous_value)) and sym == ops[k].symbol and b == ops[k].operand
        return ok, c
    if k == len(ops):
        boxed = extract_boxed(text)
        try:
            val = int(boxed) if boxed is not None else None
        except ValueError:
            val = None
        return val is not None and val == previous_value and text == f"\\boxed{{{val}}}", val
    return False, None


def step_labels(record: dict, steps: Sequence[str]) -> list[bool]:
    """Rule-checked process labels: step ``k`` is good iff it and every earlier step pass
    :func:`local_step_check` (Math-Shepherd style: a step after a mistake is not on a correct path)."""
    labels, ok_so_far = [], True
    prev: int | None = int(record["start"])
    for k, st in enumerate(steps):
        ok, val = local_step_check(record, k, st, prev) if prev is not None else (False, None)
        ok_so_far = ok_so_far and ok
        labels.append(ok_so_far)
        prev = val
    return labels


CORRUPTIONS = ("result", "operand", "op", "start", "answer", "early_answer")


def corrupt_solution(record: dict, rng: random.Random, kind: str | None = None) -> list[str]:
    """A wrong solution of ``record``: one step is spoiled (wrong result, operand, operation, starting value,
    boxed answer, or a premature answer) and the following steps carry on correctly from the written value, as a
    model that made one slip would."""
    ops = _ops(record)
    kind = kind or rng.choice(CORRUPTIONS)
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}")
    k = rng.randrange(len(ops))
    steps, v = [], int(record["start"])
    for i, op in enumerate(ops):
        a, sym, b = v, op.symbol, op.operand
        if i == k and kind == "early_answer":
            steps.append(f"\\boxed{{{v}}}")
            return steps
        if i == k and kind == "start":
            a = max(0, v + rng.choice([-2, -1, 1, 2]))
        if i == k and kind == "operand":
            b = rng.choice([x for x in range(1, max(4, op.operand + 2)) if x != op.operand])
        if i == k and kind == "op":
            sym = "-" if sym == "+" else "+"
        c = a + b if sym == "+" else a - b
        if i == k and kind == "result":
            c = max(0, c + rng.choice([-2, -1, 1, 2]))
            if c == (a + b if sym == "+" else a - b):
                c += 1
        steps.append(f"{a} {sym} {b} = {c}")
        v = c
    if kind == "answer":
        steps.append(f"\\boxed{{{v + rng.choice([-2, -1, 1, 2])}}}")
    else:
        steps.append(f"\\boxed{{{v}}}")
    return steps


# ---------------------------------------------------------------------------------------------------------------
# evaluation sets
# ---------------------------------------------------------------------------------------------------------------


def load_eval_records(source: str, path: str = "", split: str = "test", limit: int = 0, n: int = 0, seed: int = 1,
                      world: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Evaluation records: ``math500`` / ``gsm8k`` by hub id or local file (``path``), or the synthetic world."""
    from mlrepro.tasks import load_gsm8k, load_math

    if source == "math500":
        recs = load_math(path or "HuggingFaceH4/MATH-500", split=split, limit=limit or None)
    elif source == "gsm8k":
        recs = load_gsm8k(path or "openai/gsm8k", split=split, limit=limit or None)
    elif source == "synthetic":
        recs = make_world(n, seed, id_prefix="eval", **(world or {}))
        if limit:
            recs = recs[:limit]
    else:
        raise ValueError(f"unknown data source {source!r}; known: {SOURCES}")
    if not recs:
        raise ValueError(f"no evaluation records from {source} {path!r}")
    return recs


def fake_rows(kind: str, n: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """Rows in the raw hub format of MATH-500 (``problem, solution, answer, subject, level, unique_id``) or GSM8K
    (``question, answer`` with ``#### n``), made in code (no text copied from the real sets)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b, c = rng.randint(2, 40), rng.randint(2, 9), rng.randint(1, 30)
        if kind == "math500":
            rows.append({"problem": f"Compute ${a} \\cdot {b} + {c}$.",
                         "solution": f"First ${a} \\cdot {b} = {a * b}$.\n\nThen ${a * b} + {c} = \\boxed{{{a * b + c}}}$.",
                         "answer": str(a * b + c), "subject": "Prealgebra", "level": 1 + i % 5,
                         "unique_id": f"test/prealgebra/{i}.json"})
        elif kind == "gsm8k":
            rows.append({"question": f"A box holds {a} pens. Each of {b} boxes gets {c} more pens. How many pens "
                                     f"are there in all?",
                         "answer": f"Each box has {a} + {c} = <<{a}+{c}={a + c}>>{a + c} pens.\n"
                                   f"So {b} boxes hold {b} * {a + c} = <<{b}*{a + c}={b * (a + c)}>>{b * (a + c)} pens.\n"
                                   f"#### {b * (a + c)}"})
        else:
            raise ValueError(f"fake_rows kind must be math500 or gsm8k, got {kind!r}")
    return rows


def write_jsonl(rows: Sequence[dict], path: str | Path) -> Path:
    return atomic_write_jsonl(path, rows)
