"""Math answer extraction and equivalence (conventions §2).

``extract_answer(text, fmt)`` pulls the final answer out of a model output in one of the common formats:
GSM8K (``#### 42``), LaTeX ``\\boxed{...}`` (nested braces handled), and "The answer is ...". ``is_equiv(pred,
gold)`` decides equivalence: exact/numeric fast path first, then math-verify (sympy) with a timeout. Model output
is never ``eval``-ed. ``grade(text, gold)`` combines both and says whether extraction failed, so callers can
count unparseable outputs instead of crashing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["extract_answer", "extract_boxed", "normalize_number", "is_equiv", "grade", "Grade", "FORMATS"]

FORMATS = ("auto", "gsm8k", "boxed", "answer_is", "last_number")

_NUM = r"-?\$?\s*\d[\d,]*(?:\.\d+)?(?:/\d+)?"
_GSM_RE = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_IS_RE = re.compile(r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*[:]?\s*(.+?)(?:\.\s|\.$|\n|$)", re.IGNORECASE)
_LAST_NUM_RE = re.compile(_NUM)


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), with nested braces; None if absent/unclosed."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    i = text.find("{", idx)
    if i < 0:
        # "\boxed 5" form
        m = re.match(r"\\boxed\s+([^\s$]+)", text[idx:])
        return m.group(1) if m else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
    return None


def _clean(ans: str) -> str:
    ans = ans.strip().strip("$").strip()
    ans = re.sub(r"\\text\{([^}]*)\}", r"\1", ans)
    return ans.rstrip(".").strip()


def extract_answer(text: str, fmt: str = "auto") -> str | None:
    """Final answer string from ``text`` in format ``fmt`` (see ``FORMATS``); None when nothing is found.

    ``auto`` tries ``####``, then ``\\boxed{}``, then "The answer is", and finally the last number.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown answer format {fmt!r}; known: {FORMATS}")
    if text is None:
        return None
    order = {"auto": ("gsm8k", "boxed", "answer_is", "last_number")}.get(fmt, (fmt,))
    for f in order:
        if f == "gsm8k":
            m = _GSM_RE.findall(text)
            if m:
                return _clean(m[-1])
        elif f == "boxed":
            b = extract_boxed(text)
            if b is not None:
                return _clean(b)
        elif f == "answer_is":
            m = _ANSWER_IS_RE.findall(text)
            if m:
                inner = extract_boxed(m[-1])
                return _clean(inner if inner is not None else m[-1])
        elif f == "last_number":
            m = _LAST_NUM_RE.findall(text)
            if m:
                return _clean(m[-1])
    return None


def normalize_number(s: str) -> Fraction | None:
    """Parse a plain number (commas, ``$``, ``%``-free decimals, simple fractions ``a/b``) exactly; else None."""
    s = s.strip().replace(",", "").replace("$", "").replace("\\!", "").strip()
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)(?:\s*/\s*(-?\d+))?", s)
    if not m:
        m2 = re.fullmatch(r"-?\\[dt]?frac\{(-?\d+)\}\{(-?\d+)\}", s)
        if m2 and int(m2.group(2)) != 0:
            sign = -1 if s.startswith("-") else 1
            return sign * Fraction(int(m2.group(1)), int(m2.group(2)))
        return None
    num = Fraction(m.group(1))
    if m.group(2) is not None:
        if int(m.group(2)) == 0:
            return None
        num = num / int(m.group(2))
    return num


def is_equiv(pred: str | None, gold: str | None, timeout: int = 5) -> bool:
    """Whether ``pred`` and ``gold`` denote the same answer (numbers exactly; otherwise math-verify)."""
    if pred is None or gold is None:
        return False
    p, g = str(pred).strip(), str(gold).strip()
    if p == g:
        return True
    pn, gn = normalize_number(p), normalize_number(g)
    if pn is not None and gn is not None:
        return pn == gn
    try:
        from math_verify import parse, verify

        gp = parse(f"${g}$" if "$" not in g else g, parsing_timeout=timeout)
        pp = parse(f"${p}$" if "$" not in p else p, parsing_timeout=timeout)
        if not gp or not pp:
            return False
        return bool(verify(gp, pp, timeout_seconds=timeout))
    except Exception:
        return False


@dataclass
class Grade:
    pred: str | None
    correct: bool
    parsed: bool


def grade(text: str, gold: str, fmt: str = "auto", timeout: int = 5) -> Grade:
    """Extract and compare; ``parsed`` is False when no answer could be extracted (count these)."""
    pred = extract_answer(text, fmt)
    return Grade(pred=pred, correct=pred is not None and is_equiv(pred, gold, timeout), parsed=pred is not None)
