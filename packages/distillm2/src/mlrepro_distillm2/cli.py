"""Command line of mlrepro_distillm2: ``reproduce``, ``train``, ``eval``, ``print-config`` (see ``--help``)."""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    from .reproduce import reproduce

    return reproduce(cfg, run, args)


def _train(cfg, run, args):
    from .reproduce import train

    return train(cfg, run, args)


def _eval(cfg, run, args):
    from .reproduce import evaluate_cmd

    return evaluate_cmd(cfg, run, args)


main = make_main("distillm2", Config, {"reproduce": _reproduce, "train": _train, "eval": _eval})


if __name__ == "__main__":
    raise SystemExit(main())
