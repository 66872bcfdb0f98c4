"""Config schema of mlrepro_concise. Recipes: ``recipes/{paper,mini,smoke}.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

METHODS = ("naive_bon", "fs", "fs_bon", "fs_bon_budget", "fs_bon_faithful")
# fs_bon_faithful: a diagnostic for the synthetic world only (not in the paper): FS-BoN whose candidates must also have
# exactly the problem's true equations, which removes paths whose final answer is right by luck


@dataclass
class ModelConfig:
    # hub id or local path of the base model; "tiny" = build and pre-train a tiny model in code (mini/smoke)
    base: str = "tiny"
    bos: bool = False  # prepend the tokenizer's BOS text in the direct format (Qwen has none: False)
    dtype: str = "auto"
    # tiny-model settings (used when base == "tiny")
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    vocab: int = 400


@dataclass
class PretrainConfig:
    """Pre-training of the tiny base model on style-consistent multi-example documents (mini/smoke only)."""

    documents: int = 6000
    examples_per_doc: list[int] = field(default_factory=lambda: [1, 4])
    style_mix: dict[str, float] = field(default_factory=lambda: {"verbose": 0.6, "medium": 0.3, "terse": 0.1})
    lr: float = 3e-3
    batch_size: int = 32
    epochs: int = 1
    max_length: int = 512


@dataclass
class DataConfig:
    dataset: str = "synthetic"  # synthetic | gsm8k | math
    train_path: str = "openai/gsm8k"  # hub id or local file for gsm8k/math
    test_path: str = "openai/gsm8k"
    n_train: int = 100
    n_test: int = 150
    difficulties: list[int] = field(default_factory=lambda: [1, 2, 3])
    # synthetic world: value range, additive operand range and operation kinds (mlrepro.tasks.make_problem)
    max_value: int = 99
    max_operand: int = 9
    kinds: list[str] = field(default_factory=lambda: ["add", "sub", "mul"])
    exemplars: str = "terse"  # style of the 8 concise few-shot exemplars (synthetic); or a JSON/JSONL path
    shots: int = 8


@dataclass
class SamplingConfig:
    backend: str = "auto"
    n_zero_shot: int = 16  # digest §6: N = 16
    n_few_shot: int = 16
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    max_new_tokens: int = 512  # GSM8K 512, MATH 1024
    batch_size: int = 64
    tensor_parallel_size: int = 1


@dataclass
class MethodConfig:
    methods: list[str] = field(default_factory=lambda: ["naive_bon", "fs", "fs_bon", "fs_bon_budget"])
    bon_n: list[int] = field(default_factory=lambda: [1, 4, 16])
    budget_fs: int = 8
    budget_zs: int = 8
    selection: str = "shortest"


@dataclass
class EvalConfig:
    max_new_tokens: int = 512
    batch_size: int = 64
    efficiency_n: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])


@dataclass
class Config:
    seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    report_to: str = "none"
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    # trl SFTConfig keyword arguments (free-form)
    trainer: dict[str, Any] = field(default_factory=dict)
    eval: EvalConfig = field(default_factory=EvalConfig)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        bad = [m for m in self.method.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"config key 'method.methods': unknown method(s) {bad}; known: {list(METHODS)}")
        if "fs_bon_faithful" in self.method.methods and self.data.dataset != "synthetic":
            raise ConfigError("config key 'method.methods': fs_bon_faithful needs data.dataset=synthetic")
        if self.data.dataset not in ("synthetic", "gsm8k", "math"):
            raise ConfigError(f"config key 'data.dataset': {self.data.dataset!r} is not synthetic, gsm8k or math")
        if any(n < 1 or n > self.sampling.n_zero_shot for n in self.method.bon_n):
            raise ConfigError("config key 'method.bon_n': every N must be in [1, sampling.n_zero_shot]")
        if self.method.budget_fs > self.sampling.n_few_shot or self.method.budget_zs > self.sampling.n_zero_shot:
            raise ConfigError("config key 'method.budget_fs'/'budget_zs': larger than the sampled pools")
        if self.method.selection not in ("shortest", "all"):
            raise ConfigError(f"config key 'method.selection': {self.method.selection!r} is not shortest or all")
        if not self.seeds:
            raise ConfigError("config key 'seeds': needs at least one seed")
