"""The common CLI skeleton every package's ``cli.main`` is built from (conventions §5).

Subcommands ``reproduce``, ``train``, ``eval``, ``print-config``; flags ``--recipe``, ``--output-dir``,
``--seed``, ``--sampler``, ``--report-to``, ``--resume [RUN_DIR|latest]``, ``--dry-run`` and trailing
``key=value`` overrides. Heavy imports stay in the package's command functions, so ``--help`` and
``print-config`` never touch CUDA.

A command function has the signature ``fn(cfg, run: RunDir, args) -> dict | None``; when it returns a
results dict (from :meth:`RunDir.write_results`), the summary table is printed and, for the ``mini`` and
``paper`` recipes run inside the repository, results.json and figures are exported to
``packages/<slug>/results/<recipe>/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.resources
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_config, to_yaml
from .logging import get_logger
from .rundir import RunDir, find_latest_run
from .seeding import seed_everything
from .summary import summarize_results

CommandFn = Callable[[Any, RunDir, argparse.Namespace], "dict | None"]
EXPORTED_RECIPES = ("mini", "paper")

__all__ = ["make_main", "recipes_dir_of", "find_repo_root", "runs_root"]


def recipes_dir_of(package: str) -> Path:
    """The ``recipes/`` folder shipped inside an installed package (``mlrepro_<slug>/recipes``)."""
    return Path(str(importlib.resources.files(package) / "recipes"))


def find_repo_root(slug: str, start: Path | None = None) -> Path | None:
    """The monorepo root (a folder holding ``packages/<slug>/pyproject.toml``) above ``start``, if any."""
    cur = (start or Path.cwd()).resolve()
    for p in (cur, *cur.parents):
        if (p / "packages" / slug / "pyproject.toml").exists():
            return p
    return None


def runs_root() -> Path:
    return Path(os.environ.get("MLREPRO_RUNS_DIR", "runs"))


def _has_field(schema: type, name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(schema))


def _build_parser(slug: str, commands: dict[str, CommandFn], recipes: list[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"mlrepro-{slug}", description=f"mlrepro reproduction of {slug}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in [*commands, "print-config"]:
        sp = sub.add_parser(name, help=f"{name} ({'resolve and print the config' if name == 'print-config' else 'run'})")
        sp.add_argument("--recipe", default="mini", help=f"recipe name ({', '.join(recipes)}) or path to a YAML file")
        sp.add_argument("overrides", nargs="*", help="key=value config overrides (OmegaConf dotlist)")
        if name == "print-config":
            continue
        sp.add_argument("--output-dir", default=None, help="run directory (default runs/<slug>/<recipe>/<time>-<sha>)")
        sp.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
        sp.add_argument("--sampler", default=None, choices=["auto", "hf", "vllm", "openai", "scripted"],
                        help="sampling backend (overrides sampling.backend)")
        sp.add_argument("--report-to", default="none", choices=["none", "wandb", "tensorboard"], help="tracker (opt-in)")
        sp.add_argument("--resume", nargs="?", const="latest", default=None, metavar="RUN_DIR|latest",
                        help="resume a run: rerun only stages without DONE")
        sp.add_argument("--dry-run", action="store_true",
                        help="resolve config, build the data pipeline on test-made data, construct every component with a tiny model")
        sp.add_argument("--no-export", action="store_true", help="do not copy results into packages/<slug>/results/")
    return p


def make_main(slug: str, schema: type, commands: dict[str, CommandFn], package: str | None = None) -> Callable[[list[str] | None], int]:
    """Return ``main(argv) -> exit code`` for package ``slug`` with config ``schema``."""
    package = package or f"mlrepro_{slug}"

    def main(argv: list[str] | None = None) -> int:
        rdir = recipes_dir_of(package)
        recipes = sorted(p.stem for p in rdir.glob("*.yaml")) if rdir.is_dir() else []
        args = _build_parser(slug, commands, recipes).parse_args(argv)
        log = get_logger(f"mlrepro.{slug}")
        overrides = list(args.overrides)
        if args.command != "print-config":
            if args.seed is not None and _has_field(schema, "seed"):
                overrides.append(f"seed={args.seed}")
            if args.sampler is not None and _has_field(schema, "sampling"):
                overrides.append(f"sampling.backend={args.sampler}")
            if _has_field(schema, "report_to"):
                overrides.append(f"report_to={args.report_to}")
        recipe_name = Path(args.recipe).stem if str(args.recipe).endswith((".yaml", ".yml")) else str(args.recipe)
        resume_dir = None
        recipe_src: Any = args.recipe
        if args.command != "print-config" and args.resume:
            resume_dir = find_latest_run(runs_root(), slug, recipe_name) if args.resume == "latest" else Path(args.resume)
            if resume_dir is None or not (Path(resume_dir) / "config.yaml").exists():
                print(f"error: no run to resume for {slug}/{recipe_name} ({args.resume})", file=sys.stderr)
                return 2
            recipe_src = Path(resume_dir) / "config.yaml"
        try:
            cfg = load_config(schema, recipe_src, overrides, recipes_dir=rdir)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.command == "print-config":
            print(to_yaml(cfg), end="")
            return 0
        if resume_dir is not None:
            run = RunDir.open(resume_dir, slug, recipe_name)
            log.info("resuming %s", run.path)
        else:
            run = RunDir.create(slug, recipe_name, runs_root(), args.output_dir)
        run.write_config(to_yaml(cfg))
        run.write_env(argv=[f"mlrepro-{slug}", *(sys.argv[1:] if argv is None else argv)])
        seed_everything(int(getattr(cfg, "seed", 0)))
        t0 = time.time()
        log.info("%s %s: run directory %s", slug, args.command, run.path)
        results = commands[args.command](cfg, run, args)
        if args.dry_run:
            log.info("dry run finished in %.1fs", time.time() - t0)
        if isinstance(results, dict) and "claims" in results:
            print(summarize_results(results))
            root = find_repo_root(slug)
            if recipe_name in EXPORTED_RECIPES and not args.dry_run and not args.no_export and root is not None:
                run.export(root / "packages" / slug / "results" / recipe_name)
        print(f"run directory: {run.path}")
        return 0

    return main
