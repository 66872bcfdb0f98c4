"""Command line: ``mlrepro-dreamad {reproduce,eval,print-config} --recipe {paper,mini,smoke} [key=value ...]``.

``reproduce`` and ``eval`` run the same pipeline (the paper trains nothing): arena win rates, decision accuracy,
bias / diversity measures and the report. ``--dry-run`` checks every component on CPU and prints the LLM-call cost
of the full run.
"""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    from .reproduce import reproduce

    return reproduce(cfg, run, args)


main = make_main("dreamad", Config, {"reproduce": _reproduce, "eval": _reproduce})
