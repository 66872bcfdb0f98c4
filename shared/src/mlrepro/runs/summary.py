"""A short plain-text summary table printed at the end of a run."""

from __future__ import annotations

from typing import Any


def format_table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = ".4g") -> str:
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0].keys())

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    body = "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells)
    return f"{line}\n{sep}\n{body}"


def summarize_results(results: dict) -> str:
    """Claims table (id, holds, measured, paper) plus wall time."""
    rows = [
        {"claim": c["id"], "holds": c["holds"], "measured": _short(c.get("measured")), "paper": _short(c.get("paper"))}
        for c in results.get("claims", [])
    ]
    head = f"{results.get('slug', '')} [{results.get('recipe', '')}]  wall time {results.get('wall_time_s')} s  seeds {results.get('seeds')}"
    return head + "\n" + format_table(rows)


def _short(v: Any, n: int = 60) -> str:
    s = str(v)
    return s if len(s) <= n else s[: n - 3] + "..."
