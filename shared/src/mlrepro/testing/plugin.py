"""pytest plugin (loaded by the root ``addopts``): offline hub env vars, CPU-friendly defaults, skip marks.

GPU-only tests are marked ``gpu`` and skipped when CUDA is absent; ``vllm``/``deepspeed`` marks are skipped
when the library is not importable. All of them are deselected by default in ``addopts``.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}.items():
    os.environ.setdefault(_k, _v)


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover
        return False


def pytest_collection_modifyitems(config, items):
    need_cuda = any(m in item.keywords for item in items for m in ("gpu", "vllm", "multi_gpu"))
    has_cuda = _cuda() if need_cuda else False
    for item in items:
        if ("gpu" in item.keywords or "multi_gpu" in item.keywords) and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
        if "vllm" in item.keywords and (importlib.util.find_spec("vllm") is None or not has_cuda):
            item.add_marker(pytest.mark.skip(reason="needs vllm and CUDA"))
        if "deepspeed" in item.keywords and importlib.util.find_spec("deepspeed") is None:
            item.add_marker(pytest.mark.skip(reason="needs deepspeed"))
        if "api" in item.keywords and not os.environ.get("OPENAI_API_KEY"):
            item.add_marker(pytest.mark.skip(reason="needs OPENAI_API_KEY"))


@pytest.fixture(scope="session")
def tiny_lm_path():
    """Path of a tiny Qwen2 causal LM with an in-process trained tokenizer (see ``mlrepro.testing.tiny_lm``).

    Built once and cached under ``$MLREPRO_CACHE`` (default ``~/.cache/mlrepro``); tests must not modify it."""
    from mlrepro.testing import tiny_lm

    return tiny_lm(arch="qwen2")


@pytest.fixture
def cpu_trainer_kwargs(tmp_path):
    """Keyword arguments every CPU TRL config in a test should use."""
    return dict(output_dir=str(tmp_path / "trainer"), use_cpu=True, bf16=False, fp16=False, report_to="none",
                save_strategy="no", logging_steps=1, dataloader_num_workers=0, disable_tqdm=True)
