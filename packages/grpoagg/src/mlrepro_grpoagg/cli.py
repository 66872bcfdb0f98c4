"""Command line of mlrepro_grpoagg: ``mlrepro-grpoagg {reproduce,train,eval,print-config} --recipe ...``.

* ``reproduce``: every stage (closed forms, finite vs large G, log pooling, non-uniqueness, simulated GRPO,
  figures), then results.json with the claims.
* ``train``: only the simulated-GRPO stage (the package's stand-in for training) and its claims.
* ``eval``: only the analytic stages and the figures.
"""

from __future__ import annotations

import time

from mlrepro.runs.cli import make_main

from .config import Config


def _finish(cfg, run, stages: dict, t0: float):
    from .evaluate import claims_from_stages, metrics_from_stages
    from .plots import make_figures

    figs = make_figures(stages, run.plots_dir, dpi=cfg.figures.dpi)
    metrics = metrics_from_stages(cfg, stages)
    metrics["figures"] = sorted(p.name for p in figs)
    return run.write_results(metrics, claims=claims_from_stages(cfg, stages), expected=cfg.expected,
                             seeds=list(cfg.simulation.seeds), wall_time_s=time.time() - t0)


def _run(names):
    def fn(cfg, run, args):
        from .reproduce import dry_run, run_stages

        if args.dry_run:
            return dry_run(cfg)
        t0 = time.time()
        return _finish(cfg, run, run_stages(cfg, run, names), t0)

    return fn


def _reproduce(cfg, run, args):
    from .reproduce import ALL_STAGES

    return _run(ALL_STAGES)(cfg, run, args)


def _train(cfg, run, args):
    return _run(("simulate",))(cfg, run, args)


def _eval(cfg, run, args):
    from .reproduce import ANALYTIC

    return _run((*ANALYTIC, "curves"))(cfg, run, args)


main = make_main("grpoagg", Config, {"reproduce": _reproduce, "train": _train, "eval": _eval})
