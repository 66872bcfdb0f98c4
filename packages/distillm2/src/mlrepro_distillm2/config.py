"""Config schema of mlrepro_distillm2 (recipes in ``recipes/{paper,mini,smoke}.yaml``).

Two experiments share the schema:

* ``experiment: llm`` (the paper recipe): real teacher/student ids, prompts by hub id, teacher and student responses
  through :mod:`mlrepro.sampling` (vLLM), Algorithm 1 with :class:`~mlrepro_distillm2.trainer.DistiLLM2Trainer` under
  accelerate/DeepSpeed ZeRO-3, pairwise GPT-4o judging through the ``openai`` backend;
* ``experiment: synthetic`` (mini, smoke): tiny teacher and student trained from scratch on a synthetic language
  (:mod:`mlrepro_distillm2.synthetic`), every loss of the comparison run by Algorithm 1 with the same trainer, exact
  token-level KL(teacher || student) on held-out data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

from . import method as M
from .synthetic import WorldConfig

EXPERIMENTS = ("llm", "synthetic")
SAMPLING_BACKENDS = ("auto", "hf", "vllm", "openai", "scripted")


KL_CLAIM_SETS = ("student_samples", "teacher_responses")


def _err(key: str, msg: str) -> ConfigError:
    return ConfigError(f"config key {key!r}: {msg}")


@dataclass
class ModelSection:
    student: str = field(default="Qwen/Qwen2-1.5B", metadata={"help": "student (SFT'd) hub id or path"})
    teacher: str = field(default="Qwen/Qwen2-7B-Instruct", metadata={"help": "teacher hub id or path"})
    tokenizer: str | None = field(default=None, metadata={"help": "shared tokenizer (default: the teacher's)"})
    dtype: str = "bfloat16"
    attn_implementation: str | None = None
    align_vocab: bool = field(default=True, metadata={"help": "resize both models to len(tokenizer)"})


@dataclass
class PeftSection:
    enabled: bool = True
    r: int = 16
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                               "up_proj", "down_proj"])
    use_dora: bool = True


@dataclass
class MethodSection:
    loss: str = field(default="distillm_v2", metadata={"help": f"one of {M.LOSSES}"})
    reduction: str = field(default="seq_mean", metadata={"help": "seq_mean (code) or sum (paper eq. 1-2)"})
    skew_alpha: float = 0.1
    alpha_min: float = 0.01
    adaptive_alpha: str = "off"
    alpha_pairing: str = "code"
    beta_schedule: str = "off"
    srkl_beta0: float = 0.5
    srkl_detach_mixture: bool = True
    gkd_beta: float = 0.9
    dpkd_beta: float = 0.1
    divergence_on: str = "chosen"
    kernel: str = "auto"
    chunk_size: int | None = None


@dataclass
class DataSection:
    prompts: str = field(default="UCLA-AGI/SPIN_iter1", metadata={"help": "prompt set: hub id or local file"})
    split: str = "train"
    prompt_field: str | None = None
    num_prompts: int | None = 50000
    max_length: int = 1024
    max_prompt_length: int = 512
    chat: bool = True
    system: str | None = None
    resample_teacher: bool = True
    test_prompts: list[str] = field(default_factory=lambda: [
        "Explain why the sky looks blue.", "Write a haiku about autumn rain.", "What is 17 times 23?",
        "Give three tips for learning a new language.", "Summarise the plot of a heist movie in two sentences.",
        "How do I reverse a list in Python?", "Name two uses of a paperclip.", "Why do cats purr?"],
        metadata={"help": "prompts the dry run uses instead of the real prompt set"})


@dataclass
class SamplingSection:
    backend: str = "vllm"
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 1024
    seed: int = 42
    batch_size: int = 64
    engine: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainSection:
    num_epochs: int = 3
    epoch: int = 1
    launcher: str = field(default="accelerate", metadata={"help": "accelerate (subprocess per epoch) or none"})
    accelerate_config: str = "zero3"
    num_processes: int | None = None
    trainer: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalSetSection:
    kind: str = "alpaca_eval"
    source: str | None = None
    judge_model: str = "gpt-4o"
    limit: int | None = None
    reference_model: str | None = None


@dataclass
class EvalSection:
    enabled: bool = True
    judge_backend: str = "openai"
    judge_temperature: float = 0.7
    judge_max_new_tokens: int = 1024
    student_temperature: float = 0.8
    student_top_p: float = 0.95
    student_max_new_tokens: int = 512
    sets: list[EvalSetSection] = field(default_factory=lambda: [EvalSetSection()])


@dataclass
class WorldSection(WorldConfig):
    """The synthetic language (:class:`~mlrepro_distillm2.synthetic.WorldConfig`'s fields) and how the mini uses it."""

    vocab_size: int = 300
    tokenizer_texts: int = 3000
    student_mistake_rate: float = field(default=0.0, metadata={
        "help": "share of transitions in the student's SFT corpus replaced by the systematic mistake successor "
                "(the teacher is pre-trained on clean data); 0 = student SFT'd on the teacher's language"})
    student_derail_rate: float = field(default=0.0, metadata={
        "help": "share of the student's SFT responses that derail: from a random position in the first min_len words "
                "on, every transition is the mistake successor (a compounding error mode)"})


@dataclass
class TinyModelSection:
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    steps: int = 200
    lr: float = 3e-3
    batch_size: int = 64


@dataclass
class RunSpec:
    name: str = "distillm_v2"
    loss: str = "distillm_v2"
    adaptive_alpha: str = "off"
    beta_schedule: str = "off"


@dataclass
class SyntheticSection:
    n_pretrain: int = 4000
    teacher: TinyModelSection = field(default_factory=TinyModelSection)
    student: TinyModelSection = field(default_factory=lambda: TinyModelSection(hidden=16, layers=1, heads=2,
                                                                               kv_heads=1, steps=120))
    train_prompts: int = 256
    eval_prompts: int = 64
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    runs: list[RunSpec] = field(default_factory=lambda: [RunSpec(name=n, loss=n) for n in
                                                         ("distillm_v2", "kd", "seqkd", "gkd", "distillm_v1", "dpkd")])
    eval_every: int = 4
    compare_against: list[str] = field(default_factory=lambda: ["kd", "seqkd", "gkd", "distillm_v1"])
    kl_claim_on: str = field(default="student_samples", metadata={
        "help": "which held-out KL(teacher||student) the kl claim compares, fixed before running: student_samples "
                "(on responses the final student generates, on-policy) or teacher_responses (fixed teacher samples)"})
    dpkd_blowup_ratio: float = field(default=5.0, metadata={
        "help": "claim threshold fixed before running: DPKD's own-response NLL >= this x DistiLLM-2's"})


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    experiment: str = "llm"
    model: ModelSection = field(default_factory=ModelSection)
    peft: PeftSection = field(default_factory=PeftSection)
    method: MethodSection = field(default_factory=MethodSection)
    data: DataSection = field(default_factory=DataSection)
    sampling: SamplingSection = field(default_factory=SamplingSection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    world: WorldSection = field(default_factory=WorldSection)
    synthetic: SyntheticSection = field(default_factory=SyntheticSection)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        if self.experiment not in EXPERIMENTS:
            raise _err("experiment", f"{self.experiment!r} is not one of {EXPERIMENTS}")
        m = self.method
        for key, val, allowed in (("method.loss", m.loss, M.LOSSES), ("method.reduction", m.reduction, M.REDUCTIONS),
                                  ("method.adaptive_alpha", m.adaptive_alpha, M.ALPHA_SCHEDULES),
                                  ("method.alpha_pairing", m.alpha_pairing, M.ALPHA_PAIRINGS),
                                  ("method.beta_schedule", m.beta_schedule, M.BETA_SCHEDULES),
                                  ("method.divergence_on", m.divergence_on, M.DATA_SIDES),
                                  ("method.kernel", m.kernel, ("auto", "fused", "logits", "naive")),
                                  ("sampling.backend", self.sampling.backend, SAMPLING_BACKENDS),
                                  ("train.launcher", self.train.launcher, ("accelerate", "none"))):
            if val not in allowed:
                raise _err(key, f"{val!r} is not one of {allowed}")
        if not 0 <= m.alpha_min <= m.skew_alpha <= 1:
            raise _err("method.skew_alpha", "need 0 <= alpha_min <= skew_alpha <= 1")
        for key, v in (("method.srkl_beta0", m.srkl_beta0), ("method.gkd_beta", m.gkd_beta)):
            if not 0 <= v <= 1:
                raise _err(key, f"{v} must lie in [0, 1]")
        if m.dpkd_beta <= 0:
            raise _err("method.dpkd_beta", "must be > 0")
        if self.train.num_epochs < 1 or not 1 <= self.train.epoch <= self.train.num_epochs:
            raise _err("train.epoch", "need num_epochs >= 1 and 1 <= epoch <= num_epochs")
        if self.data.max_prompt_length >= self.data.max_length:
            raise _err("data.max_prompt_length", "must be smaller than data.max_length")
        if not 0 < self.sampling.top_p <= 1 or self.sampling.temperature < 0:
            raise _err("sampling", "need 0 < top_p <= 1 and temperature >= 0")
        s = self.synthetic
        for i, r in enumerate(s.runs):
            if r.loss not in M.LOSSES:
                raise _err(f"synthetic.runs.{i}.loss", f"{r.loss!r} is not one of {M.LOSSES}")
            if r.adaptive_alpha not in M.ALPHA_SCHEDULES:
                raise _err(f"synthetic.runs.{i}.adaptive_alpha", f"not one of {M.ALPHA_SCHEDULES}")
            if r.beta_schedule not in M.BETA_SCHEDULES:
                raise _err(f"synthetic.runs.{i}.beta_schedule", f"not one of {M.BETA_SCHEDULES}")
        names = [r.name for r in s.runs]
        if len(set(names)) != len(names):
            raise _err("synthetic.runs", f"duplicate run names {names}")
        if not s.seeds:
            raise _err("synthetic.seeds", "at least one seed")
        if s.train_prompts < 2 or s.eval_prompts < 2 or s.eval_every < 1:
            raise _err("synthetic", "need train_prompts >= 2, eval_prompts >= 2, eval_every >= 1")
        if s.kl_claim_on not in KL_CLAIM_SETS:
            raise _err("synthetic.kl_claim_on", f"{s.kl_claim_on!r} is not one of {KL_CLAIM_SETS}")
        if not 0 <= self.world.student_mistake_rate < 1:
            raise _err("world.student_mistake_rate", "must lie in [0, 1)")
        if not 0 <= self.world.student_derail_rate < 1:
            raise _err("world.student_derail_rate", "must lie in [0, 1)")
        if self.world.n_words > 26 or self.world.n_words < 2:
            raise _err("world.n_words", "must be in [2, 26]")
        for key in ("learning_rate", "per_device_train_batch_size"):
            v = self.train.trainer.get(key)
            if v is not None and not isinstance(v, int | float):
                raise _err(f"train.trainer.{key}", f"must be a number, got {v!r}")
