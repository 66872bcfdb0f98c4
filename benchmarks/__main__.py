"""Run the benchmarks: ``python -m benchmarks [name ...] [--quick]``.

Each module ``benchmarks/bench_<name>.py`` defines ``run(quick: bool = False) -> dict``; the dict is printed and
written to ``benchmarks/results/<name>.json`` (atomically) together with the environment it ran in.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from mlrepro.runs import atomic_write_json
from mlrepro.runs.env import capture_env

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(discover())})")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a quick check")
    args = p.parse_args(argv)
    names = args.names or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        print(f"unknown benchmark(s): {unknown}; known: {discover()}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}", flush=True)
        t0 = time.time()
        try:
            res = mod.run(quick=args.quick)
        except Exception as e:  # keep going: one broken benchmark should not hide the others
            print(f"benchmark {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(name)
            continue
        out = {"benchmark": name, "quick": args.quick, "wall_time_s": round(time.time() - t0, 2),
               "env": capture_env(), "results": res}
        if not args.quick:
            atomic_write_json(HERE / "results" / f"{name}.json", out)
        print(json.dumps(res, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
