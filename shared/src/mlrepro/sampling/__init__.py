"""Sampling backends behind one interface (conventions §6).

``get_sampler(backend, **kwargs)`` builds a backend from a string-keyed table; each backend module is imported
only when selected (vllm is an optional extra). ``auto`` picks vllm only when it is importable and CUDA is
present, else hf. The sampler remembers what was asked for (``sampler.requested_backend``) and
``describe_sampler(sampler)`` returns the dict to put in env.json (``run.update_env(sampler=...)``), e.g.
``{"backend": "hf", "requested": "auto", "model": ..., "device": ...}``.

Backends: ``scripted`` (:class:`ScriptedSampler`), ``hf`` (:class:`mlrepro.sampling.hf.HFSampler`),
``vllm`` (:class:`mlrepro.sampling.vllm_backend.VLLMSampler`), ``openai``
(:class:`mlrepro.sampling.openai_backend.OpenAISampler`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

from .base import Completion, Message, Prompt, Sampler, SamplingParams, apply_stop, encode_prompt, row_seed
from .scripted import ScriptedSampler

# name -> "module:factory" (imported lazily) or a callable factory
_BACKENDS: dict[str, str | Callable[..., Sampler]] = {
    "scripted": "mlrepro.sampling.scripted:ScriptedSampler",
    "hf": "mlrepro.sampling.hf:HFSampler",
    "vllm": "mlrepro.sampling.vllm_backend:VLLMSampler",
    "openai": "mlrepro.sampling.openai_backend:OpenAISampler",
}

__all__ = ["SamplingParams", "Completion", "Sampler", "Prompt", "Message", "apply_stop", "encode_prompt", "row_seed",
           "ScriptedSampler", "get_sampler", "register_backend", "resolve_backend", "available_backends",
           "describe_sampler"]


def register_backend(name: str, factory: str | Callable[..., Sampler]) -> None:
    """Add a backend: ``factory`` is a callable or a ``"module:attr"`` string imported on first use."""
    _BACKENDS[name] = factory


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def resolve_backend(backend: str) -> str:
    """Map ``auto`` to ``vllm`` (importable and CUDA present) or ``hf``; other names pass through."""
    if backend != "auto":
        return backend
    if importlib.util.find_spec("vllm") is not None:
        try:
            import torch

            if torch.cuda.is_available():
                return "vllm"
        except ImportError:  # pragma: no cover
            pass
    return "hf"


def get_sampler(backend: str = "auto", **kwargs: Any) -> Sampler:
    """Build the sampler named ``backend`` (``auto``, ``hf``, ``vllm``, ``openai``, ``scripted`` or registered)."""
    name = resolve_backend(backend)
    if name not in _BACKENDS:
        raise ValueError(f"unknown sampling backend {backend!r}; known: {', '.join(['auto', *available_backends()])}")
    factory = _BACKENDS[name]
    if isinstance(factory, str):
        mod, attr = factory.split(":")
        factory = getattr(importlib.import_module(mod), attr)
    sampler = factory(**kwargs)
    try:
        sampler.requested_backend = backend
    except AttributeError:  # pragma: no cover - slotted/frozen third-party sampler
        pass
    return sampler


def describe_sampler(sampler: Any) -> dict[str, Any]:
    """JSON-able description of a sampler for env.json: backend chosen, backend requested, backend details."""
    info: dict[str, Any] = {"backend": getattr(sampler, "name", type(sampler).__name__)}
    describe = getattr(sampler, "describe", None)
    if callable(describe):
        info.update(describe())
    info["requested"] = getattr(sampler, "requested_backend", info["backend"])
    return info
