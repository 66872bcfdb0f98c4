"""Command line of mlrepro_pfode: ``mlrepro-pfode {reproduce,train,eval,print-config}`` (conventions §5)."""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    from .reproduce import reproduce

    return reproduce(cfg, run, args)


def _train(cfg, run, args):
    from .reproduce import train_only

    return train_only(cfg, run, args)


def _eval(cfg, run, args):
    from .reproduce import eval_only

    return eval_only(cfg, run, args)


main = make_main("pfode", Config, {"reproduce": _reproduce, "train": _train, "eval": _eval})
