"""Accelerate/DeepSpeed launcher configs shipped as package data, resolved by short name, and a launch helper."""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

CONFIG_NAMES = ("ddp", "zero2", "zero3", "zero3_offload")
DEEPSPEED_CONFIGS = ("zero2", "zero3", "zero3_offload")
LAUNCHERS = ("accelerate", "torchrun")

_extracted: dict[str, Path] = {}


def list_accelerate_configs() -> list[str]:
    """Short names of the shipped accelerate configs."""
    root = importlib.resources.files("mlrepro.training") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def accelerate_config_path(name: str | os.PathLike) -> Path:
    """Path of an accelerate config file: a shipped short name (``ddp``, ``zero2``, ``zero3``, ``zero3_offload``;
    ``.yaml`` optional) or an existing YAML path, returned as is. Unknown names raise ``ValueError`` listing the known
    ones."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p.resolve()
    short = p.name[: -len(".yaml")] if p.name.endswith(".yaml") else str(name)
    res = importlib.resources.files("mlrepro.training") / "configs" / f"{short}.yaml"
    if os.sep in str(name) or not res.is_file():
        raise ValueError(f"unknown accelerate config {str(name)!r}: expected one of {list_accelerate_configs()} "
                         "or the path of an existing YAML file")
    if isinstance(res, Path):
        return res
    if short not in _extracted:  # zipped install: copy the resource out once per process
        tmp = Path(tempfile.mkdtemp(prefix="mlrepro-accel-")) / f"{short}.yaml"
        tmp.write_text(res.read_text())
        _extracted[short] = tmp
    return _extracted[short]


def load_accelerate_config(name: str | os.PathLike) -> dict:
    """The YAML content of a config (by short name or path) as a dict."""
    import yaml

    with open(accelerate_config_path(name)) as f:
        return yaml.safe_load(f)


def uses_deepspeed(name: str | os.PathLike) -> bool:
    return str(load_accelerate_config(name).get("distributed_type", "")).upper() == "DEEPSPEED"


def require_deepspeed() -> None:
    """Raise a clear error when DeepSpeed is missing (checked without importing it)."""
    if importlib.util.find_spec("deepspeed") is None:
        raise ImportError("this accelerate config uses DeepSpeed, which is not installed; install the extra: "
                          "`uv sync --extra deepspeed` or `pip install 'mlrepro[deepspeed]'` (Linux only)")


def _is_script(entry: str) -> bool:
    return entry.endswith(".py") or os.sep in entry or Path(entry).is_file()


def _visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # pragma: no cover
        return 0


def build_launch_command(entry: str | os.PathLike, args: Sequence[str] = (), *, config: str | os.PathLike | None = "ddp",
                         num_processes: int | None = None, launcher: str = "accelerate",
                         main_process_port: int | None = None, mixed_precision: str | None = None,
                         cpu: bool = False, extra_launch_args: Sequence[str] = (),
                         python: str | None = None) -> list[str]:
    """The argv that launches a training entry point on several processes.

    ``entry`` is a module name (``mlrepro_distillm2.cli``: launched with ``-m``) or a script path (``*.py``).
    ``launcher="accelerate"`` gives ``python -m accelerate.commands.launch --config_file <resolved config>
    [--num_processes N] [--main_process_port P] [--mixed_precision M] [--cpu] [-m] entry args...``; ``num_processes``
    defaults to the number of visible GPUs when there are any (else the config's value).
    ``launcher="torchrun"`` gives ``python -m torch.distributed.run --nproc_per_node N (--standalone | --master_port P)
    [-m] entry args...`` and is the way to run several CPU processes (gloo): ``accelerate launch --cpu --num_processes 2``
    starts a single process on a machine without MPI. The script must then create ``Accelerator(cpu=True)``.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}; expected one of {LAUNCHERS}")
    py = python or sys.executable
    entry = str(entry)
    target = [entry] if _is_script(entry) else ["-m", entry]
    if launcher == "torchrun":
        n = num_processes or max(1, _visible_gpus())
        cmd = [py, "-m", "torch.distributed.run", "--nproc_per_node", str(n)]
        cmd += ["--master_port", str(main_process_port)] if main_process_port is not None else ["--standalone"]
        return [*cmd, *extra_launch_args, *target, *map(str, args)]
    cmd = [py, "-m", "accelerate.commands.launch"]
    if config is not None:
        cmd += ["--config_file", str(accelerate_config_path(config))]
    n = num_processes if num_processes is not None else (_visible_gpus() or None)
    if n is not None:
        cmd += ["--num_processes", str(n)]
    if main_process_port is not None:
        cmd += ["--main_process_port", str(main_process_port)]
    if mixed_precision is not None:
        cmd += ["--mixed_precision", mixed_precision]
    if cpu:
        cmd += ["--cpu"]
    return [*cmd, *extra_launch_args, *target, *map(str, args)]


def launch(entry: str | os.PathLike, args: Sequence[str] = (), *, config: str | os.PathLike | None = "ddp",
           num_processes: int | None = None, launcher: str = "accelerate", env: Mapping[str, str] | None = None,
           cwd: str | os.PathLike | None = None, dry_run: bool = False, check: bool = True,
           timeout: float | None = None, capture_output: bool = False,
           **kwargs) -> subprocess.CompletedProcess | list[str]:
    """Build the command with :func:`build_launch_command` and run it (``dry_run=True`` returns the argv instead).

    DeepSpeed configs are checked for an installed ``deepspeed`` before launching (without importing it).
    ``env`` is added to the current environment. ``check=True`` raises ``CalledProcessError`` on failure.
    """
    cmd = build_launch_command(entry, args, config=config, num_processes=num_processes, launcher=launcher, **kwargs)
    if dry_run:
        return cmd
    if launcher == "accelerate" and config is not None and uses_deepspeed(config):
        require_deepspeed()
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).exists():  # pragma: no cover
        raise FileNotFoundError(f"python interpreter {cmd[0]!r} not found")
    full_env = {**os.environ, **(dict(env) if env else {})}
    return subprocess.run(cmd, env=full_env, cwd=cwd, check=check, timeout=timeout, capture_output=capture_output,
                          text=True)
