"""Command line of mlrepro_bargainarena: ``mlrepro-bargainarena reproduce --recipe mini`` (conventions §5)."""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    from .reproduce import reproduce  # heavy imports stay inside the command

    return reproduce(cfg, run, args)


def _eval(cfg, run, args):
    """Re-run the evaluation stages; with ``--resume RUN_DIR`` finished sessions are reused, not replayed."""
    from .reproduce import reproduce

    return reproduce(cfg, run, args)


main = make_main("bargainarena", Config, {"reproduce": _reproduce, "eval": _eval})
