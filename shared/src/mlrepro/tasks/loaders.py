"""Loaders for the real reasoning sets, by HF id or local path, into the shared record schema.

The ``paper`` recipes call these with hub ids (``openai/gsm8k``, ``HuggingFaceH4/MATH-500``, ``ChilleD/SVAMP``);
tests call them with local JSON/JSONL files they make themselves. ``datasets`` is imported lazily.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..grading import extract_answer, extract_boxed

__all__ = ["load_records", "load_gsm8k", "load_math", "gsm8k_record", "math_record"]


def load_records(path_or_id: str, split: str = "test", name: str | None = None, **kwargs) -> list[dict]:
    """Raw rows of a dataset: a local ``.json``/``.jsonl``/``.parquet``/``.csv`` file or folder, or a hub id."""
    import datasets

    p = Path(path_or_id)
    if p.exists():
        if p.is_file():
            ext = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(p.suffix)
            if ext is None:
                raise ValueError(f"unsupported data file {p} (use .json, .jsonl, .parquet or .csv)")
            ds = datasets.load_dataset(ext, data_files={split: str(p)}, split=split)
        else:
            ds = datasets.load_dataset(str(p), name=name, split=split, **kwargs)
    else:
        ds = datasets.load_dataset(path_or_id, name=name, split=split, **kwargs)
    return [dict(r) for r in ds]


def gsm8k_record(row: dict, i: int) -> dict:
    sol = row["answer"]
    ans = extract_answer(sol, "gsm8k")
    return {"id": row.get("id", f"gsm8k-{i}"), "question": row["question"], "answer": (ans or "").replace(",", ""),
            "solution": sol, "steps": [s for s in sol.split("\n") if s and not s.startswith("####")],
            "difficulty": row.get("level", None), "style": "gsm8k", "source": "gsm8k"}


def math_record(row: dict, i: int) -> dict:
    sol = row.get("solution", "")
    ans = row.get("answer") or extract_boxed(sol) or ""
    level = row.get("level")
    if isinstance(level, str) and level.lower().startswith("level"):
        level = int(level.split()[-1]) if level.split()[-1].isdigit() else None
    return {"id": row.get("unique_id", f"math-{i}"), "question": row["problem"], "answer": str(ans), "solution": sol,
            "steps": [s for s in sol.split("\n\n") if s.strip()], "difficulty": level,
            "style": "math", "source": "math", "subject": row.get("subject") or row.get("type")}


def load_gsm8k(path_or_id: str = "openai/gsm8k", split: str = "test", limit: int | None = None) -> list[dict]:
    rows = load_records(path_or_id, split=split, name="main" if not os.path.exists(path_or_id) else None)
    return [gsm8k_record(r, i) for i, r in enumerate(rows[:limit] if limit else rows)]


def load_math(path_or_id: str = "HuggingFaceH4/MATH-500", split: str = "test", limit: int | None = None) -> list[dict]:
    rows = load_records(path_or_id, split=split)
    return [math_record(r, i) for i, r in enumerate(rows[:limit] if limit else rows)]
