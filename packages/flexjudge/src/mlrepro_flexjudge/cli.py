"""Command line: ``mlrepro-flexjudge {reproduce,train,eval,print-config} --recipe {paper,mini,smoke}``.

* ``reproduce``: seed data -> curation -> (base eval) -> SFT -> eval [-> answer-first ablation] [-> test-time
  scaling] -> report (results.json, claims, figures);
* ``train``: the data stages and the SFT only (what ``accelerate launch`` runs for the paper recipe);
* ``eval``: evaluate ``model.name_or_path`` (e.g. ``model.name_or_path=jongwooko/Flex-VL-7B``) on ``eval.sets``.
"""

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


main = make_main("flexjudge", Config, {"reproduce": _reproduce, "train": _train, "eval": _eval})
