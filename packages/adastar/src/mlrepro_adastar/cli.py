"""Command line of mlrepro_adastar: ``reproduce`` (all methods and seeds of the recipe, then claims and figure),
``train`` (same loop, no claims needed: one method/seed via overrides), ``eval`` (zero-shot greedy test accuracy of
``model.name_or_path``), ``print-config``. Heavy imports stay inside the commands."""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    from .reproduce import reproduce

    return reproduce(cfg, run, args)


def _eval(cfg, run, args):
    from .reproduce import _ops, dry_run, prepare_data

    if args.dry_run:
        return dry_run(cfg, run)
    from .loop import evaluate_model

    _, test = prepare_data(cfg)
    ops = _ops(cfg, cfg.model.name_or_path, run.path / "eval")
    ev = evaluate_model(ops.sampler(ops.load_base(), None), test, cfg.data.task,
                        cfg.sampling.eval_max_new_tokens or cfg.sampling.max_new_tokens, list(cfg.sampling.stop))
    run.write_samples([{"id": r["id"], "gold": r["answer"], "output": t, "pred": p, "correct": c}
                       for r, t, p, c in zip(test, ev["texts"], ev["preds"], ev["correct"])])
    return run.write_results({k: ev[k] for k in ("accuracy", "n", "unparsed")}, claims=[], seeds=[cfg.seed])


main = make_main("adastar", Config, {"reproduce": _reproduce, "train": _reproduce, "eval": _eval})
