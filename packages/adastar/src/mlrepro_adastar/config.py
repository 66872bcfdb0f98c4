"""Config schema of mlrepro_adastar (recipes: ``recipes/{paper,mini,smoke}.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

from .method import METHODS, TIE_BREAKS


@dataclass
class ModelConfig:
    """The base model. ``tiny: true`` builds a tiny Qwen2 + BPE tokenizer in code (mini/smoke, dry runs)."""

    name_or_path: str = "Qwen/Qwen2.5-3B"
    tiny: bool = False
    tiny_hidden: int = 64
    tiny_layers: int = 2
    tiny_heads: int = 4
    tiny_kv_heads: int = 2
    tiny_vocab: int = 400
    dtype: str = "auto"  # sampling dtype for the hf backend (training precision is the trainer dict's bf16/fp16)


@dataclass
class PretrainConfig:
    """Mini only: a short SFT of the from-scratch tiny model on worked solutions of fresh synthetic problems, so it
    can produce rationales at all (replaces few-shot prompting of a pretrained LLM). ``steps: 0`` skips it."""

    steps: int = 0
    batch_size: int = 32
    learning_rate: float = 3e-3
    difficulties: list[int] = field(default_factory=lambda: [1, 2, 3])
    seed: int = 777
    # the seed corpus' systematic misconception (a weak reasoner for STaR to improve): each step of a seed solution
    # whose operation is in misread_ops ("-", "*") is written as an addition with probability misread, the slip
    # propagating to the final answer
    misread: float = 0.0
    misread_ops: list[str] = field(default_factory=lambda: ["-", "*"])


@dataclass
class DataConfig:
    task: str = "gsm8k"  # arc_challenge | cqa | cladder | anli_r1 | gsm8k | svamp | arithmetic
    train_path: str | None = None  # local file or hub id replacing the default
    test_path: str | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    exemplars_path: str | None = None  # few-shot exemplars for sampling (JSON/JSONL, user-written)
    hint_exemplars_path: str | None = None  # exemplars for rationalization prompts
    # arithmetic (mlrepro.tasks) only
    n_train: int = 256
    n_test: int = 128
    difficulties: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    max_value: int = 20
    data_seed: int = 0


@dataclass
class StarConfig:
    """The STaR outer loop and AdaSTaR's sampler."""

    methods: list[str] = field(default_factory=lambda: ["adastar"])
    single_seed_methods: list[str] = field(default_factory=list)  # run with the first seed only (context baselines)
    n_iters: int = 46
    start_steps: int = 40  # sigma_1
    grow_steps: float = 1.2  # sigma_{t+1} = grow * sigma_t
    exponential_grow: bool = True
    batch_size: int = 8  # effective batch: beta_t = sigma_t * batch_size
    rationalize: bool = False  # second attempt with the gold answer as a hint (off for GSM8K/SVAMP)
    accumulate: bool | None = None  # None: per method (STaR/-Full/ReST-EM reset, the rest accumulate)
    accuracy_power: float = 2.0  # f(alpha) = alpha ** power
    rounding: str = "round"  # "round" (code) or "floor" (paper Alg. 1)
    tie_break: str = "string"  # "string" (code: "id_<i>"), "index" or "random"
    max_length: int = 650  # training sequence cap (tokens)
    sample_chunk: int | None = None  # AdaSTaR checks its budget after each chunk (code: the generation batch)
    sd_iters: int | None = None  # SD of training counts over iterations 1..sd_iters (None: all)
    checkpoint_every_iter: bool = True  # save model + loop state after every iteration (resume inside a method)


@dataclass
class SamplingConfig:
    backend: str = "auto"  # auto | hf | vllm (| scripted in tests)
    temperature: float = 1.0
    top_p: float = 0.9
    max_new_tokens: int = 440  # gen_length
    eval_max_new_tokens: int | None = None  # default: max_new_tokens
    batch_size: int = 32  # test_batch_size (rows per generate call)
    stop: list[str] = field(default_factory=list)


@dataclass
class Config:
    seed: int = 10
    seeds: list[int] = field(default_factory=list)  # reproduce runs every seed (empty: [seed])
    report_to: str = "none"
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    star: StarConfig = field(default_factory=StarConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    trainer: dict[str, Any] = field(default_factory=dict)  # passed to trl.SFTConfig
    cpu_threads: int | None = None  # torch.set_num_threads on CPU (1 is much faster for tiny models on a busy box)
    n_params: float | None = None  # FLOPs accounting: None = count the model's parameters
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        from .data import BENCHMARKS

        bad = [m for m in self.star.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"star.methods: unknown {bad}; known: {sorted(METHODS)}")
        if not self.star.methods:
            raise ConfigError("star.methods: empty")
        stray = [m for m in self.star.single_seed_methods if m not in self.star.methods]
        if stray:
            raise ConfigError(f"star.single_seed_methods: {stray} not in star.methods")
        if self.star.sample_chunk is not None and self.star.sample_chunk < 1:
            raise ConfigError("star.sample_chunk must be >= 1")
        if self.data.task not in BENCHMARKS:
            raise ConfigError(f"data.task: unknown {self.data.task!r}; known: {sorted(BENCHMARKS)}")
        if self.star.rounding not in ("round", "floor"):
            raise ConfigError(f"star.rounding: {self.star.rounding!r} (round or floor)")
        if self.star.tie_break not in TIE_BREAKS:
            raise ConfigError(f"star.tie_break: {self.star.tie_break!r}; known: {TIE_BREAKS}")
        if self.star.n_iters < 1 or self.star.start_steps < 1 or self.star.batch_size < 1:
            raise ConfigError("star.n_iters, star.start_steps and star.batch_size must be >= 1")
        if self.star.grow_steps <= 0:
            raise ConfigError("star.grow_steps must be > 0")
        if not 0 < self.sampling.top_p <= 1 or self.sampling.temperature < 0:
            raise ConfigError("sampling.top_p must be in (0, 1] and sampling.temperature >= 0")
        if not 0 <= self.pretrain.misread <= 1:
            raise ConfigError("pretrain.misread must be in [0, 1]")
        if set(self.pretrain.misread_ops) - {"-", "*"}:
            raise ConfigError(f"pretrain.misread_ops: {self.pretrain.misread_ops} (subset of '-', '*')")
        if self.data.task == "arithmetic" and not self.model.tiny and not self.model.name_or_path:
            raise ConfigError("model.name_or_path is empty")
