"""Command line of mlrepro_smart: ``mlrepro-smart {reproduce,train,eval,print-config} --recipe ...``.

* ``reproduce``: every stage (mini: world + tiny model training; paper: data), every search run, the report
  (results.json with the claims, trade-off figures).
* ``train``: only the mini's world and tiny-model training stages (the paper trains nothing).
* ``eval``: the search runs and the report (the mini's models must exist: ``--resume`` a run that trained them,
  or the stages run first).
"""

from __future__ import annotations

import time

from mlrepro.runs.cli import make_main

from .config import Config


def _report(cfg, run, out: dict, t0: float):
    from mlrepro.runs import read_json

    from .evaluate import build_claims, headline, tradeoff_table
    from .plots import make_figures

    runs = out["runs"]
    rows = tradeoff_table(runs)
    metrics = {"headline": headline(rows, cfg.claims.min_accuracy_ratio, cfg.claims.max_llm_token_ratio),
               "tradeoff": rows, "runs": {k: v["metrics"] for k, v in runs.items()}, "prep": out["prep"]}
    claims = build_claims(runs, rows, cfg)
    # on --resume, finished stages are skipped: count their recorded durations so the wall time is the whole run's
    stage_s = 0.0
    for done in run.path.glob("stages/*/DONE"):
        try:
            stage_s += float(done.read_text().strip() or 0)
        except ValueError:
            pass
    metrics["stage_seconds"] = round(stage_s, 2)
    kw = dict(claims=claims, expected=cfg.expected, seeds=[cfg.seed], wall_time_s=max(time.time() - t0, stage_s))
    run.write_results(metrics, **kw)
    figs = make_figures(read_json(run.path / "results.json"), run.plots_dir, dpi=cfg.figures.dpi)
    metrics["figures"] = sorted(p.name for p in figs)
    samples = []
    for name in runs:
        p = run.stage_dir(f"run_{name}") / "problems.jsonl"
        if p.exists():
            samples += [line for line in p.read_text().splitlines() if line.strip()]
    if samples:
        import json

        run.write_samples([json.loads(s) for s in samples])
    return run.write_results(metrics, **kw)


def _reproduce(cfg, run, args):
    from .reproduce import dry_run, run_pipeline

    if args.dry_run:
        return dry_run(cfg)
    t0 = time.time()
    return _report(cfg, run, run_pipeline(cfg, run), t0)


def _train(cfg, run, args):
    from .reproduce import dry_run, run_pipeline

    if args.dry_run:
        return dry_run(cfg)
    out = run_pipeline(cfg, run, train=True, evaluate=False)
    print({k: v for k, v in out["prep"].items()})
    return None


def _eval(cfg, run, args):
    return _reproduce(cfg, run, args)


main = make_main("smart", Config, {"reproduce": _reproduce, "train": _train, "eval": _eval})
