"""Config schema of mlrepro_flexjudge (recipes: ``recipes/{paper,mini,smoke}.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

from .method import AGGREGATIONS
from .prompts import BACKBONES

ARCHS = ("qwen2.5-vl", "qwen2.5-omni", "llama")
TEXT_SETS = ("text_pair", "text_score", "text_batch", "image_pair", "image_score")
BENCHMARKS = ("mllm_judge_score", "mllm_judge_pair", "mllm_judge_batch", "vlrb", "mjbench_alignment",
              "mjbench_safety", "mjbench_quality", "genai_image_generation", "genai_image_edition",
              "genai_video_generation", "nisqa", "bvcc", "somos", "voxsim", "judgelm", "pandalm")


@dataclass
class ModelConfig:
    """The judge backbone. ``tiny: true`` builds a tiny Qwen2.5-VL (text + vision tower) and a BPE tokenizer in code."""

    name_or_path: str = "Qwen/Qwen2.5-VL-7B-Instruct"
    arch: str = "qwen2.5-vl"  # qwen2.5-vl | qwen2.5-omni (thinker trained) | llama (molecule judge)
    backbone: str = "qwen2.5-vl"  # placeholder family of the prompts
    dtype: str = "bfloat16"
    attn_implementation: str | None = None
    tiny: bool = False
    tiny_hidden: int = 64
    tiny_layers: int = 2
    tiny_heads: int = 4
    tiny_kv_heads: int = 2
    tiny_vocab: int = 600
    tiny_image_size: int = 56


@dataclass
class SeedDataConfig:
    """Step 1: teacher traces over JudgeLM-100K prompts (paper) or the synthetic world (mini)."""

    source: str = "BAAI/JudgeLM-100K"  # hub id / local file, or "synthetic"
    split: str = "train"
    limit: int | None = None
    n_synthetic: int = 2000
    world_max_value: int = 15
    world_max_operand: int = 3
    teacher: str = "nuojohnchen/JudgeLRM-7B"  # hub id, or "rule" (the synthetic rule-based teacher)
    teacher_backend: str = "vllm"
    teacher_tensor_parallel: int = 2
    teacher_noise: float = 0.2
    teacher_malformed: float = 0.05
    seeds: list[int] = field(default_factory=lambda: [13, 79])
    temperature: float = 0.1
    top_p: float = 0.95
    max_new_tokens: int = 4096
    prompt_style: str = "paper"  # paper | compact (tiny models)
    train_file: str | None = None  # an existing curated train.jsonl (prompt, completion/text): skips steps 1-4


@dataclass
class CurateConfig:
    n_pair: int = 500
    n_single: int = 500
    min_pair_tokens: int = 750
    min_single_tokens: int = 375
    rescale_fraction: float = 0.5
    seed: int = 0
    token_counter: str = "tokenizer"  # tokenizer (the teacher's) | whitespace


@dataclass
class TrainConfig:
    max_length: int = 4096
    append_eos: bool = True  # [INFERRED] append <|im_end|> to the traces
    family: str = "qwen"  # response/instruction templates: qwen | llama
    launcher: str = "inprocess"  # inprocess | accelerate (the paper: accelerate launch with ZeRO-3 + CPU offload)
    accelerate_config: str = "paper"  # "paper" (derived from zero3_offload) or an mlrepro.training name / YAML path
    num_processes: int = 4
    answer_first_ablation: bool = False  # also train the Fig. 5 answer-first judge on the same traces
    cpu_threads: int | None = None


@dataclass
class TTSConfig:
    """Test-time scaling on the trained judge (paper §5)."""

    enabled: bool = False
    sets: list[str] = field(default_factory=lambda: ["text_pair"])
    majority_ks: list[int] = field(default_factory=lambda: [1, 3, 5, 7, 9])
    budget_forcings: list[int] = field(default_factory=lambda: [0, 1, 2])
    wait: str = "Wait"
    temperature: float = 0.6
    top_p: float = 0.95


@dataclass
class EvalConfig:
    aggregation: str = "paper"  # paper (mean of runs) | code (median / majority / max-of-accumulated)
    sets: list[str] = field(default_factory=lambda: ["mllm_judge_score", "mllm_judge_pair", "mllm_judge_batch"])
    include_base: bool = True  # also evaluate the untrained backbone
    judge_backend: str = "vllm"  # vllm | transformers (VL judge); text items use the sampling backend
    paths: dict[str, Any] = field(default_factory=dict)  # local data per benchmark (mllm_judge folder, audio lists..)
    limit: int | None = None
    runs: int = 3
    temperature: float = 0.4  # MLLM-as-a-Judge (code); other benchmarks use bench_temperature
    top_p: float = 0.8
    bench_temperature: float = 0.6
    bench_top_p: float = 0.95
    max_new_tokens: int = 4096
    image_size: int | None = 448
    batch_size: int = 8
    tensor_parallel: int = 2
    prompt_style: str = "paper"
    # synthetic (mini) held-out items
    n_pair: int = 120
    n_score: int = 120
    n_batch: int = 60
    n_image: int = 60
    seed: int = 1234


@dataclass
class SamplingConfig:
    backend: str = "auto"  # for text-only judging (hf | vllm | openai | scripted | auto)
    batch_size: int = 32


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    model: ModelConfig = field(default_factory=ModelConfig)
    seed_data: SeedDataConfig = field(default_factory=SeedDataConfig)
    curate: CurateConfig = field(default_factory=CurateConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    trainer: dict[str, Any] = field(default_factory=dict)  # passed to trl.SFTConfig
    eval: EvalConfig = field(default_factory=EvalConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        if self.model.arch not in ARCHS:
            raise ConfigError(f"model.arch: {self.model.arch!r} not in {ARCHS}")
        if self.model.backbone not in BACKBONES:
            raise ConfigError(f"model.backbone: {self.model.backbone!r} not in {BACKBONES}")
        if self.eval.aggregation not in AGGREGATIONS:
            raise ConfigError(f"eval.aggregation: {self.eval.aggregation!r} not in {AGGREGATIONS}")
        known = set(BENCHMARKS) | set(TEXT_SETS)
        bad = [s for s in self.eval.sets if s not in known]
        if bad:
            raise ConfigError(f"eval.sets: unknown {bad}; known: {sorted(known)}")
        need = {"mllm_judge_score": "mllm_judge", "mllm_judge_pair": "mllm_judge", "mllm_judge_batch": "mllm_judge",
                "nisqa": "nisqa", "bvcc": "bvcc", "somos": "somos", "voxsim": "voxsim"}
        missing = sorted({need[s] for s in self.eval.sets if s in need and need[s] not in self.eval.paths})
        if missing:
            raise ConfigError(f"eval.paths: sets {self.eval.sets} need local data paths for {missing}")
        bad = [s for s in self.tts.sets if s not in TEXT_SETS]
        if bad:
            raise ConfigError(f"tts.sets: unknown {bad}; known: {list(TEXT_SETS)}")
        if not 0.0 <= self.curate.rescale_fraction <= 1.0:
            raise ConfigError("curate.rescale_fraction must be in [0, 1]")
        if self.curate.token_counter not in ("tokenizer", "whitespace"):
            raise ConfigError("curate.token_counter must be tokenizer or whitespace")
        if self.train.launcher not in ("inprocess", "accelerate"):
            raise ConfigError("train.launcher must be inprocess or accelerate")
        if self.train.family not in ("qwen", "llama"):
            raise ConfigError("train.family must be qwen or llama")
        if self.eval.judge_backend not in ("vllm", "transformers"):
            raise ConfigError("eval.judge_backend must be vllm or transformers")
        if self.seed_data.prompt_style not in ("paper", "compact") or self.eval.prompt_style not in ("paper", "compact"):
            raise ConfigError("prompt_style must be paper or compact")
        if not self.seed_data.seeds:
            raise ConfigError("seed_data.seeds: at least one generation seed")
        if self.eval.runs < 1:
            raise ConfigError("eval.runs must be >= 1")
        if self.model.tiny and self.seed_data.source != "synthetic" and self.seed_data.train_file is None:
            raise ConfigError("model.tiny needs seed_data.source: synthetic (or a train_file)")
