"""Command line: ``mlrepro-concise {reproduce,print-config} --recipe {paper,mini,smoke}``."""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    from .reproduce import run_reproduce

    return run_reproduce(cfg, run, args)


main = make_main("concise", Config, {"reproduce": _reproduce})
