"""Atomic file writes and small JSON helpers. Every result file in a run directory goes through these."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from collections.abc import Iterable
from typing import Any

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_json", "atomic_write_jsonl", "read_json", "append_jsonl",
           "read_jsonl", "to_jsonable"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays, dataclasses, paths and sets into JSON-friendly values.

    Non-finite floats become ``None`` (JSON has no NaN) so result files stay strict JSON.
    """
    import dataclasses

    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    mod = type(obj).__module__
    if mod.startswith("numpy"):
        if hasattr(obj, "tolist"):
            return to_jsonable(obj.tolist())
        return to_jsonable(obj.item())
    if mod.startswith("torch"):
        return to_jsonable(obj.detach().cpu().tolist())
    if hasattr(obj, "item"):
        return to_jsonable(obj.item())
    return str(obj)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=indent, allow_nan=False) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> Path:
    """Write ``records`` as JSON lines in one atomic replace (a stage's record file is whole or absent)."""
    return atomic_write_text(path, "".join(json.dumps(to_jsonable(r), allow_nan=False) + "\n" for r in records))


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and flush (metrics logs: a killed run keeps every line written before)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(to_jsonable(record), allow_nan=False) + "\n")
        f.flush()


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out
