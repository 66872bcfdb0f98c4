"""The run directory contract (conventions §8).

``runs/<slug>/<recipe>/<UTC-timestamp>-<gitsha>/`` holds ``config.yaml``, ``env.json``, ``metrics.jsonl``,
``results.json``, ``samples.jsonl``, ``plots/`` and ``stages/<name>/`` (each with a ``DONE`` marker once it
finished). :meth:`RunDir.stage` runs a stage only if it has no ``DONE`` marker, so ``--resume`` continues a
killed run without redoing finished stages.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .env import capture_env, short_sha
from .io import append_jsonl, atomic_write_json, atomic_write_jsonl, atomic_write_text, read_json, to_jsonable
from .logging import get_logger

log = get_logger("mlrepro.runs")

__all__ = ["RunDir", "Claim", "claim", "compare_expected", "find_latest_run", "StageSkipped"]


class StageSkipped(Exception):
    pass


@dataclass
class Claim:
    """One claim of the paper tested by a run (contract §4). ``holds`` must be computed, never typed in."""

    id: str
    statement: str
    paper: Any
    measured: Any
    holds: bool
    detail: str = ""

    def to_dict(self) -> dict:
        d = {"id": self.id, "statement": self.statement, "paper": to_jsonable(self.paper),
             "measured": to_jsonable(self.measured), "holds": bool(self.holds)}
        if self.detail:
            d["detail"] = self.detail
        return d


def claim(id: str, statement: str, paper: Any, measured: Any, holds: Any, detail: str = "") -> Claim:
    """Build a :class:`Claim`; ``holds`` is coerced to ``bool`` (pass the comparison, not a literal)."""
    return Claim(id=id, statement=statement, paper=paper, measured=measured, holds=bool(holds), detail=detail)


def compare_expected(expected: list[dict] | dict | None, metrics: dict) -> list[dict]:
    """Compare a recipe's ``expected:`` entries (metric, value, tolerance, source) with measured metrics.

    ``metric`` may be a dotted path into ``metrics``. Entries whose metric was not measured get
    ``measured: None, within: None``.
    """
    if not expected:
        return []
    items = expected if isinstance(expected, list) else [dict(v, metric=v.get("metric", k)) for k, v in expected.items()]
    out = []
    for e in items:
        e = dict(to_jsonable(e))
        m = _get_path(metrics, e.get("metric", ""))
        tol = e.get("tolerance")
        within = None
        if isinstance(m, (int, float)) and isinstance(e.get("value"), (int, float)) and tol is not None:
            within = abs(float(m) - float(e["value"])) <= float(tol)
        out.append({**e, "measured": m, "within_tolerance": within})
    return out


def _get_path(d: Any, path: str) -> Any:
    cur = d
    for part in str(path).split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur if isinstance(cur, (int, float, str, bool)) or cur is None else to_jsonable(cur)


def _timestamp() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def find_latest_run(root: str | Path, slug: str, recipe: str) -> Path | None:
    base = Path(root) / slug / recipe
    if not base.is_dir():
        return None
    runs = sorted(p for p in base.iterdir() if p.is_dir() and (p / "config.yaml").exists())
    return runs[-1] if runs else None


class RunDir:
    """A run directory. Create with :meth:`create` (new) or :meth:`open` (resume)."""

    def __init__(self, path: str | Path, slug: str = "", recipe: str = ""):
        self.path = Path(path)
        self.slug = slug
        self.recipe = recipe
        self.t0 = time.time()
        (self.path / "plots").mkdir(parents=True, exist_ok=True)
        (self.path / "stages").mkdir(parents=True, exist_ok=True)

    # ---- creation -------------------------------------------------------------------------------------
    @classmethod
    def create(cls, slug: str, recipe: str, root: str | Path = "runs", output_dir: str | Path | None = None) -> RunDir:
        if output_dir is not None:
            path = Path(output_dir)
        else:
            path = Path(root) / slug / recipe / f"{_timestamp()}-{short_sha()}"
            n = 1
            while path.exists():
                path = path.with_name(f"{path.name.split('+')[0]}+{n}")
                n += 1
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, slug, recipe)

    @classmethod
    def open(cls, path: str | Path, slug: str = "", recipe: str = "") -> RunDir:
        path = Path(path)
        if not (path / "config.yaml").exists():
            raise FileNotFoundError(f"{path} is not a run directory (no config.yaml)")
        return cls(path, slug, recipe)

    # ---- files ----------------------------------------------------------------------------------------
    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    def write_config(self, yaml_text: str) -> None:
        atomic_write_text(self.path / "config.yaml", yaml_text)

    def write_env(self, argv: list[str] | None = None, **extra: Any) -> dict:
        env = capture_env(argv, extra)
        old = self.path / "env.json"
        if old.exists():  # keep earlier attempts' info on resume
            prev = read_json(old)
            env["previous_attempts"] = prev.get("previous_attempts", []) + [{k: prev.get(k) for k in ("git_sha", "command")}]
        atomic_write_json(old, env)
        return env

    def update_env(self, **fields: Any) -> None:
        p = self.path / "env.json"
        env = read_json(p) if p.exists() else {}
        env.update(to_jsonable(fields))
        atomic_write_json(p, env)

    def log_metrics(self, record: dict, step: int | None = None, **fields: Any) -> None:
        rec = dict(record)
        if step is not None:
            rec["step"] = step
        rec.update(fields)
        rec.setdefault("time", round(time.time() - self.t0, 3))
        append_jsonl(self.path / "metrics.jsonl", rec)

    def write_samples(self, records: list[dict], name: str = "samples.jsonl") -> Path:
        return atomic_write_jsonl(self.path / name, records)

    def write_results(
        self,
        metrics: dict,
        claims: list[Claim] | None = None,
        expected: Any = None,
        seeds: list[int] | None = None,
        wall_time_s: float | None = None,
        **extra: Any,
    ) -> dict:
        """Write ``results.json``: metrics, expected comparison, claims, seeds, wall time (atomic)."""
        res = {
            "slug": self.slug,
            "recipe": self.recipe,
            "metrics": to_jsonable(metrics),
            "expected": compare_expected(expected, metrics),
            "claims": [c.to_dict() if isinstance(c, Claim) else dict(c) for c in (claims or [])],
            "seeds": list(seeds or []),
            "wall_time_s": round(float(wall_time_s if wall_time_s is not None else time.time() - self.t0), 2),
        }
        res.update(to_jsonable(extra))
        atomic_write_json(self.path / "results.json", res)
        return res

    # ---- stages ---------------------------------------------------------------------------------------
    def stage_dir(self, name: str) -> Path:
        return self.path / "stages" / name

    def stage_done(self, name: str) -> bool:
        return (self.stage_dir(name) / "DONE").exists()

    def stage(self, name: str, fn: Callable[[Path], Any]) -> Any:
        """Run ``fn(stage_dir)`` unless the stage is already DONE; its return value (JSON-able or None) is
        saved to ``stages/<name>/output.json`` and returned, also when the stage is skipped on resume."""
        d = self.stage_dir(name)
        out_file = d / "output.json"
        if self.stage_done(name):
            log.info("stage %s: already done, skipping", name)
            return read_json(out_file) if out_file.exists() else None
        d.mkdir(parents=True, exist_ok=True)
        t = time.time()
        log.info("stage %s: start", name)
        out = fn(d)
        if out is not None:
            atomic_write_json(out_file, out)
            out = read_json(out_file)  # same value on a fresh run as on a resumed one
        atomic_write_text(d / "DONE", f"{time.time() - t:.2f}\n")
        log.info("stage %s: done in %.1fs", name, time.time() - t)
        return out

    # ---- export ---------------------------------------------------------------------------------------
    def export(self, dest: str | Path) -> Path:
        """Copy results.json and plots/*.png into ``dest`` (e.g. packages/<slug>/results/mini/)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.path / "results.json", dest / "results.json.tmp")
        (dest / "results.json.tmp").replace(dest / "results.json")
        for png in sorted(self.plots_dir.glob("*.png")):
            shutil.copy2(png, dest / png.name)
        log.info("exported results to %s", dest)
        return dest
