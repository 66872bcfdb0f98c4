"""Environment capture for env.json: git state, versions, devices. Never records environment variables."""

from __future__ import annotations

import importlib.metadata as md
import platform
import subprocess
import sys
from pathlib import Path

LIBS = ("mlrepro", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "vllm", "deepspeed", "numpy", "omegaconf")


def git_info(cwd: str | Path | None = None) -> dict:
    def _run(*args):
        try:
            r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except Exception:
            return ""
        return r.stdout.strip() if r.returncode == 0 else ""

    sha = _run("rev-parse", "HEAD")
    dirty = bool(_run("status", "--porcelain", "--untracked-files=no")) if sha else None
    return {"git_sha": sha or "unknown", "git_dirty": dirty}


def short_sha(cwd: str | Path | None = None) -> str:
    sha = git_info(cwd)["git_sha"]
    return sha[:7] if sha != "unknown" else "nogit"


def library_versions(extra: tuple[str, ...] = ()) -> dict:
    out = {}
    for name in (*LIBS, *extra):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def device_info() -> dict:
    info: dict = {"platform": platform.platform(), "cpu_count": __import__("os").cpu_count()}
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch  # noqa: F811
        except ImportError:
            return info
    info["cuda_available"] = bool(torch.cuda.is_available())
    if info["cuda_available"]:  # pragma: no cover - GPU only
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def capture_env(argv: list[str] | None = None, extra: dict | None = None) -> dict:
    env = {
        **git_info(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "versions": library_versions(),
        "devices": device_info(),
        "command": list(sys.argv if argv is None else argv),
    }
    if extra:
        env.update(extra)
    return env
