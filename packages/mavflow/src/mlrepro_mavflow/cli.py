"""Command line of mlrepro_mavflow: ``reproduce``, ``train``, ``eval``, ``print-config`` (conventions §5).

Heavy imports (torch, librosa) happen inside the command functions, so ``--help`` and ``print-config`` stay light.
"""

from __future__ import annotations

from mlrepro.runs.cli import make_main

from .config import Config


def _reproduce(cfg, run, args):
    from .reproduce import reproduce

    return reproduce(cfg, run, args)


def _train(cfg, run, args):
    """Everything up to and including the CFM training stages (no evaluation)."""
    from .reproduce import reproduce

    if args.dry_run:
        return reproduce(cfg, run, args)
    import torch

    from . import reproduce as r

    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    ctx = r.Ctx(cfg, run)
    run.stage("data", lambda d: r.stage_data(cfg, d))
    run.stage("units", lambda d: r.stage_units(cfg, ctx, d))
    run.stage("speaker_encoders", lambda d: r.stage_speaker(cfg, ctx, d))
    run.stage("emotion_classifier", lambda d: r.stage_emotion(cfg, ctx, d))
    run.stage("duration_predictor", lambda d: r.stage_duration(cfg, ctx, d))
    prep = r.train_inputs(cfg, ctx)
    for v in cfg.train.variants:
        run.stage(f"train_{v}", lambda d, v=v: r.stage_train(cfg, ctx, v, d, prep))
    return None


def _eval(cfg, run, args):
    from .reproduce import evaluate_only, reproduce

    if args.dry_run:
        return reproduce(cfg, run, args)
    return evaluate_only(cfg, run, args)


main = make_main("mavflow", Config, {"reproduce": _reproduce, "train": _train, "eval": _eval})
