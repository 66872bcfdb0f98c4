"""Seeded synthetic multi-step arithmetic word problems with step-by-step solutions.

Records share the schema of the GSM8K/MATH loaders (:mod:`mlrepro.tasks.loaders`)::

    {"id", "question", "answer", "solution", "steps", "difficulty", "style", "source"}

``answer`` is the final number as a string; ``solution`` is the worked solution ending in ``#### <answer>``;
``steps`` are the equations ``a op b = c`` of the solution, one per reasoning step. Difficulty ``d`` means
``d + 1`` operations (so level 1 has two steps). Styles render the same reasoning at different lengths:

- ``terse``: equations only, one per line;
- ``medium``: one short sentence per step;
- ``verbose``: restates the story before each step and adds a recap.

Every step can be checked exactly with :func:`check_step`, which gives process labels for reward models.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

__all__ = ["Op", "Problem", "make_problem", "generate_problems", "render_solution", "check_step", "STYLES",
           "parse_steps", "verify_answer"]

STYLES = ("terse", "medium", "verbose")
NAMES = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max", "Nia", "Oto", "Pia")
ITEMS = ("apples", "coins", "books", "stamps", "pens", "shells", "cards", "marbles", "seeds", "bricks")


@dataclass(frozen=True)
class Op:
    kind: str  # "add" | "sub" | "mul"
    operand: int

    def apply(self, x: int) -> int:
        return {"add": x + self.operand, "sub": x - self.operand, "mul": x * self.operand}[self.kind]

    @property
    def symbol(self) -> str:
        return {"add": "+", "sub": "-", "mul": "*"}[self.kind]


@dataclass(frozen=True)
class Problem:
    name: str
    item: str
    start: int
    ops: tuple[Op, ...]
    difficulty: int

    def values(self) -> list[int]:
        v = [self.start]
        for op in self.ops:
            v.append(op.apply(v[-1]))
        return v

    @property
    def answer(self) -> int:
        return self.values()[-1]

    def question(self) -> str:
        n, it = self.name, self.item
        parts = [f"{n} has {self.start} {it}."]
        for op in self.ops:
            if op.kind == "add":
                parts.append(f"{n} gets {op.operand} more {it}.")
            elif op.kind == "sub":
                parts.append(f"{n} gives away {op.operand} {it}.")
            else:
                parts.append(f"Then the number of {it} is multiplied by {op.operand}.")
        parts.append(f"How many {it} does {n} have now?")
        return " ".join(parts)

    def steps(self) -> list[str]:
        v = self.values()
        return [f"{v[i]} {op.symbol} {op.operand} = {v[i + 1]}" for i, op in enumerate(self.ops)]


def make_problem(rng: random.Random, difficulty: int = 1, max_value: int = 99, max_operand: int = 9,
                 kinds: tuple[str, ...] = ("add", "sub", "mul")) -> Problem:
    """One problem with ``difficulty + 1`` operations whose intermediate values stay in ``[0, max_value]``.
    Additive operands are drawn from ``1..max_operand``, multipliers from ``2..4``; ``kinds`` limits the operations."""
    if difficulty < 1:
        raise ValueError("difficulty must be >= 1")
    bad = set(kinds) - {"add", "sub", "mul"}
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of add, sub, mul (got {kinds})")
    while True:
        start = rng.randint(2, min(20, max_value))
        ops, x = [], start
        ok = True
        for _ in range(difficulty + 1):
            allowed = [k for k in kinds if k != "mul" or x <= max_value // 2] or [k for k in kinds if k != "mul"]
            if not allowed:
                ok = False
                break
            for _try in range(20):
                k = rng.choice(allowed)
                operand = rng.randint(2, 4) if k == "mul" else rng.randint(1, max_operand)
                y = Op(k, operand).apply(x)
                if 0 <= y <= max_value:
                    break
            else:
                ok = False
                break
            ops.append(Op(k, operand))
            x = y
        if ok:
            return Problem(rng.choice(NAMES), rng.choice(ITEMS), start, tuple(ops), difficulty)


def render_solution(p: Problem, style: str = "medium") -> str:
    """Worked solution of ``p`` in ``style``; always ends with ``#### <answer>``."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known: {STYLES}")
    v = p.values()
    lines = []
    if style == "terse":
        lines = p.steps()
    elif style == "medium":
        for i, s in enumerate(p.steps()):
            lines.append(f"Step {i + 1}: {s}.")
    else:
        lines.append(f"{p.name} starts with {p.start} {p.item}. We follow each change in order.")
        for i, (op, s) in enumerate(zip(p.ops, p.steps())):
            verb = {"add": "gets more", "sub": "gives some away", "mul": "multiplies the count"}[op.kind]
            lines.append(f"Step {i + 1}: {p.name} had {v[i]} {p.item} and {verb}, so we compute {s}. "
                         f"Now {p.name} has {v[i + 1]} {p.item}.")
        lines.append(f"So after all {len(p.ops)} changes, {p.name} has {v[-1]} {p.item}.")
    lines.append(f"#### {p.answer}")
    return "\n".join(lines)


def generate_problems(n: int, seed: int = 0, difficulties: tuple[int, ...] | list[int] = (1, 2, 3),
                      styles: tuple[str, ...] | list[str] = ("medium",), max_value: int = 99,
                      id_prefix: str = "arith", max_operand: int = 9,
                      kinds: tuple[str, ...] = ("add", "sub", "mul")) -> list[dict]:
    """``n`` records, difficulty and style drawn uniformly from the given tuples, deterministic in ``seed``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = rng.choice(list(difficulties))
        style = rng.choice(list(styles))
        p = make_problem(rng, d, max_value, max_operand, tuple(kinds))
        out.append({
            "id": f"{id_prefix}-{seed}-{i}",
            "question": p.question(),
            "answer": str(p.answer),
            "solution": render_solution(p, style),
            "steps": p.steps(),
            "difficulty": d,
            "style": style,
            "source": "mlrepro.tasks.arithmetic",
        })
    return out


_STEP_RE = re.compile(r"(-?\d+)\s*([-+*x×/])\s*(-?\d+)\s*=\s*(-?\d+)")


def parse_steps(text: str) -> list[tuple[int, str, int, int]]:
    """All ``a op b = c`` equations in ``text``, in order."""
    return [(int(a), op, int(b), int(c)) for a, op, b, c in _STEP_RE.findall(text)]


def check_step(step: str, previous_value: int | None = None) -> bool | None:
    """Exact check of a reasoning step: True if every equation in it is arithmetically right (and, when
    ``previous_value`` is given, the first equation starts from it); False if any is wrong; None if the
    step has no equation (nothing to check)."""
    eqs = parse_steps(step)
    if not eqs:
        return None
    for a, op, b, c in eqs:
        val = {"+": a + b, "-": a - b, "*": a * b, "x": a * b, "×": a * b}.get(op)
        if op == "/":
            val = a // b if b and a % b == 0 else None
        if val != c:
            return False
    if previous_value is not None and eqs[0][0] != previous_value:
        return False
    return True


def verify_answer(record: dict, pred: str | None) -> bool:
    """Exact verifier for these records (integers only)."""
    if pred is None:
        return False
    try:
        return int(str(pred).replace(",", "").strip()) == int(record["answer"])
    except ValueError:
        return False
