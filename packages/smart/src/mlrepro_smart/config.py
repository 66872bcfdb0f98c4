"""Config schema of mlrepro_smart (recipes in ``recipes/{paper,mini,smoke}.yaml``).

A recipe names the three models (SLM, LLM, PRM: HF ids, or empty to let the mini train tiny ones), the evaluation
data, the search settings (Best-of-N / beam, N, M), the scorers (PRM, token-level confidence), the thresholds tau
to run, the answer selection rules and the claim thresholds. ``validate()`` rejects impossible values and names the
key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

from .data import SOURCES
from .method import AGG_STRATEGIES, CONF_STRATEGIES, SELECTIONS

SCORERS = ("prm", "conf")
PROMPT_STYLES = ("chat", "plain")
PRM_STYLES = ("rlhflow", "math_shepherd")
BACKENDS = ("auto", "hf", "vllm", "openai", "scripted")


def _err(key: str, msg: str) -> ConfigError:
    return ConfigError(f"config key {key!r}: {msg}")


@dataclass
class ModelConfig:
    name_or_path: str = field(default="", metadata={"help": "HF id or local path; empty: the tiny model the mini trains"})
    backend: str = field(default="", metadata={"help": "sampling backend for this model; empty: sampling.backend"})
    dtype: str = "auto"
    device: str = ""
    batch_size: int = field(default=16, metadata={"help": "rows per generate call (hf) / solutions per PRM forward"})
    sampler_kwargs: dict[str, Any] = field(default_factory=dict,
                                           metadata={"help": "extra keyword arguments of get_sampler (e.g. vLLM's)"})


@dataclass
class ModelsConfig:
    slm: ModelConfig = field(default_factory=ModelConfig)
    llm: ModelConfig = field(default_factory=ModelConfig)
    prm: ModelConfig = field(default_factory=lambda: ModelConfig(batch_size=4))
    prm_style: str = "rlhflow"
    prm_good_token: str = "+"
    prm_bad_token: str = "-"


@dataclass
class PromptConfig:
    style: str = field(default="chat", metadata={"help": "chat: system + user + partial assistant; plain: template"})
    system_prompt: str | None = None  # None: models.DEFAULT_SYSTEM_PROMPT
    template: str = "{question}\n"


@dataclass
class WorldConfig:
    """The mini's synthetic world (mlrepro.tasks arithmetic, terse steps)."""

    difficulties: list[int] = field(default_factory=lambda: [2, 3])
    max_value: int = 15
    max_operand: int = 3
    kinds: list[str] = field(default_factory=lambda: ["add", "sub"])


@dataclass
class DataConfig:
    source: str = field(default="synthetic", metadata={"help": "synthetic | math500 | gsm8k"})
    path: str = field(default="", metadata={"help": "HF id or local file; empty: the source's default hub id"})
    split: str = "test"
    limit: int = field(default=0, metadata={"help": "first N problems (0 = all)"})
    n_eval: int = field(default=100, metadata={"help": "synthetic: number of evaluation problems"})
    eval_seed: int = 1
    world: WorldConfig = field(default_factory=WorldConfig)


@dataclass
class TinyModelConfig:
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    steps: int = 400
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 30
    seed: int = 0
    target_accuracy: float = field(default=0.0, metadata={
        "help": "stop training once the sampled validation accuracy reaches this (0: train all steps)"})
    eval_every: int = 50
    stop_closest: bool = field(default=False, metadata={
        "help": "stop at whichever of the last two evaluations is closer to target_accuracy (else the first above)"})


@dataclass
class PretrainConfig:
    """Mini only: train the tiny SLM, LLM and PRM on the synthetic world (skipped when models have ids)."""

    n_train: int = 20000
    n_val: int = field(default=100, metadata={"help": "validation problems for early stopping (disjoint)"})
    train_seed: int = 0
    vocab_size: int = 400
    tokenizer_docs: int = 3000
    llm: TinyModelConfig = field(default_factory=TinyModelConfig)
    slm: TinyModelConfig = field(default_factory=lambda: TinyModelConfig(hidden=32, layers=1, steps=650))
    prm: TinyModelConfig = field(default_factory=lambda: TinyModelConfig(steps=600, lr=1e-3))
    prm_init_from_llm: bool = True
    prm_examples: int = 8000
    prm_corrupt_prob: float = 0.6
    ckpt_every: int = 200


@dataclass
class SettingConfig:
    """One search setting: Best-of-N is beam_width 1 (step-wise BoN of the official launch scripts)."""

    name: str = "bon"
    n: int = 16
    beam_width: int = 1
    sort_completed: bool = True
    tau_sweep: bool = field(default=True, metadata={"help": "run every search.taus; else only search.tau"})


@dataclass
class SearchConfig:
    settings: list[SettingConfig] = field(default_factory=lambda: [SettingConfig()])
    scorers: list[str] = field(default_factory=lambda: ["prm", "conf"])
    tau: float = field(default=0.9, metadata={"help": "default threshold (official Config.threshold)"})
    taus: list[float] = field(default_factory=lambda: [0.9])
    num_iterations: int = 40
    temperature: float = 0.8
    top_p: float = 1.0
    max_step_tokens: int = 2048
    max_final_tokens: int = 2048
    max_history_tokens: int = 2048
    filter_duplicates: bool = True
    agg_strategy: str = "last"
    conf_strategy: str = "probs_mean"


@dataclass
class EvalConfig:
    n_values: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    selections: list[str] = field(default_factory=lambda: ["naive", "weighted", "maj"])
    headline_selection: str = "weighted"
    answer_format: str = "boxed"
    bootstrap: int = 1000


@dataclass
class ClaimsConfig:
    min_accuracy_ratio: float = field(default=0.9, metadata={"help": "SMART acc >= this x LLM-only acc"})
    max_llm_token_ratio: float = field(default=0.5, metadata={"help": "SMART LLM tokens <= this x LLM-only's"})


@dataclass
class SamplingConfig:
    backend: str = "auto"


@dataclass
class FiguresConfig:
    dpi: int = 120


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    models: ModelsConfig = field(default_factory=ModelsConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    data: DataConfig = field(default_factory=DataConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    claims: ClaimsConfig = field(default_factory=ClaimsConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    figures: FiguresConfig = field(default_factory=FiguresConfig)
    expected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def trains_models(self) -> bool:
        """The mini trains its own tiny models when no model id is given."""
        return not (self.models.slm.name_or_path and self.models.llm.name_or_path and self.models.prm.name_or_path)

    def validate(self) -> None:
        m = self.models
        names = [m.slm.name_or_path, m.llm.name_or_path, m.prm.name_or_path]
        if any(names) and not all(names):
            raise _err("models", "give all three of slm, llm, prm name_or_path, or none (the mini trains them)")
        for role in ("slm", "llm", "prm"):
            mc = getattr(m, role)
            if mc.backend and mc.backend not in BACKENDS:
                raise _err(f"models.{role}.backend", f"{mc.backend!r} not in {BACKENDS}")
            if mc.batch_size < 1:
                raise _err(f"models.{role}.batch_size", "must be >= 1")
        if m.prm_style not in PRM_STYLES:
            raise _err("models.prm_style", f"{m.prm_style!r} not in {PRM_STYLES}")
        if self.sampling.backend not in BACKENDS:
            raise _err("sampling.backend", f"{self.sampling.backend!r} not in {BACKENDS}")
        if self.prompt.style not in PROMPT_STYLES:
            raise _err("prompt.style", f"{self.prompt.style!r} not in {PROMPT_STYLES}")
        if "{question}" not in self.prompt.template:
            raise _err("prompt.template", "must contain {question}")
        d = self.data
        if d.source not in SOURCES:
            raise _err("data.source", f"{d.source!r} not in {SOURCES}")
        if d.source == "synthetic" and d.n_eval < 1:
            raise _err("data.n_eval", "must be >= 1")
        if d.limit < 0:
            raise _err("data.limit", "must be >= 0")
        w = d.world
        if not w.difficulties or min(w.difficulties) < 1:
            raise _err("data.world.difficulties", "need difficulties >= 1")
        if not w.kinds or set(w.kinds) - {"add", "sub", "mul"}:
            raise _err("data.world.kinds", "a non-empty subset of add, sub, mul")
        if w.max_value < 2 or w.max_operand < 1:
            raise _err("data.world", "max_value >= 2 and max_operand >= 1")
        for role in ("llm", "slm", "prm"):
            t = getattr(self.pretrain, role)
            if t.hidden % t.heads or t.heads % t.kv_heads:
                raise _err(f"pretrain.{role}.hidden", "hidden must be divisible by heads and heads by kv_heads")
            if t.steps < 1 or t.batch_size < 1 or t.lr <= 0 or t.eval_every < 1:
                raise _err(f"pretrain.{role}", "steps, batch_size, eval_every >= 1 and lr > 0")
            if not 0 <= t.target_accuracy <= 1:
                raise _err(f"pretrain.{role}.target_accuracy", "must be in [0, 1]")
        if not 0 <= self.pretrain.prm_corrupt_prob <= 1:
            raise _err("pretrain.prm_corrupt_prob", "must be in [0, 1]")
        s = self.search
        if not s.settings:
            raise _err("search.settings", "need at least one setting")
        seen = set()
        for i, st in enumerate(s.settings):
            if st.name in seen:
                raise _err(f"search.settings.{i}.name", f"duplicate setting name {st.name!r}")
            seen.add(st.name)
            if st.n < 1 or st.beam_width < 1 or st.n // st.beam_width < 1:
                raise _err(f"search.settings.{i}", f"need n >= beam_width >= 1 (n={st.n}, beam_width={st.beam_width})")
        if not s.scorers or set(s.scorers) - set(SCORERS):
            raise _err("search.scorers", f"a non-empty subset of {SCORERS}")
        if not s.taus:
            raise _err("search.taus", "need at least one threshold")
        if s.num_iterations < 1:
            raise _err("search.num_iterations", "must be >= 1")
        if s.temperature < 0 or not 0 < s.top_p <= 1:
            raise _err("search.temperature", "temperature >= 0 and 0 < top_p <= 1")
        if min(s.max_step_tokens, s.max_final_tokens, s.max_history_tokens) < 1:
            raise _err("search.max_step_tokens", "token limits must be >= 1")
        if s.agg_strategy not in AGG_STRATEGIES:
            raise _err("search.agg_strategy", f"{s.agg_strategy!r} not in {AGG_STRATEGIES}")
        if s.conf_strategy not in CONF_STRATEGIES:
            raise _err("search.conf_strategy", f"{s.conf_strategy!r} not in {CONF_STRATEGIES}")
        e = self.eval
        if not e.n_values or min(e.n_values) < 1:
            raise _err("eval.n_values", "positive integers")
        if not e.selections or set(e.selections) - set(SELECTIONS):
            raise _err("eval.selections", f"a non-empty subset of {SELECTIONS}")
        if e.headline_selection not in e.selections:
            raise _err("eval.headline_selection", "must be one of eval.selections")
        if not 0 < self.claims.min_accuracy_ratio <= 1.5 or not 0 < self.claims.max_llm_token_ratio <= 1:
            raise _err("claims", "min_accuracy_ratio in (0, 1.5], max_llm_token_ratio in (0, 1]")
