"""Command line of mlrepro_grpoagg (stub until the paper issue lands)."""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    return run.write_results({"implemented": False}, claims=[], expected=cfg.expected, seeds=[cfg.seed])


main = make_main("grpoagg", Config, {"reproduce": _reproduce})
