"""Config schema of mlrepro_bargainarena (conventions §4). Recipes: recipes/{paper,mini,smoke}.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

BACKENDS = ("", "scripted", "hf", "vllm", "openai", "auto")


@dataclass
class AgentConfig:
    """One agent. ``backend: ""`` means ``sampling.backend`` (what ``--sampler`` sets)."""

    backend: str = field(default="", metadata={"help": "scripted | openai | hf | vllm | auto | '' (= sampling.backend)"})
    model: str = field(default="", metadata={"help": "model id / path for LLM backends"})
    strategy: str = field(default="", metadata={"help": "scripted backend: buyer 'mock'; seller 'market', 'geometric', ..."})
    strategy_kwargs: dict[str, Any] = field(default_factory=dict)
    sampler_kwargs: dict[str, Any] = field(default_factory=dict, metadata={"help": "extra kwargs for get_sampler"})
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_new_tokens: int = 1024
    use_seed: bool = field(default=True, metadata={"help": "send a sampling seed (the authors set none)"})


@dataclass
class SamplingConfig:
    backend: str = "scripted"


@dataclass
class GridConfig:
    """The main experiment: every (market, product, method) cell plays ``sessions`` sessions."""

    enabled: bool = True
    markets: list[str] = field(default_factory=lambda: ["vanilla", "deceptive", "monopoly", "installment", "negative", "several"])
    products: list[str] = field(default_factory=list, metadata={"help": "empty = all 10"})
    methods: list[str] = field(default_factory=lambda: ["react", "react+oar", "ours", "ours+oar", "og"])
    sessions: int = 10
    rounds: int = 10
    end_rule: str = "action"
    batch_size: int = 64


@dataclass
class FeedbackConfig:
    """Across-session feedback (methods with ``+fb``)."""

    reveal: list[str] = field(default_factory=lambda: ["price", "cs", "np", "ar", "score"])
    max_history: int = 10


@dataclass
class ExtractorConfig:
    """Deal extraction: ``rule`` (offline), ``llm`` (the authors' path) or ``both`` (LLM, rule as fallback and check)."""

    mode: str = "rule"
    agent: AgentConfig = field(default_factory=lambda: AgentConfig(max_new_tokens=64, temperature=0.0))
    show_thoughts: bool = True
    batch_size: int = 32


@dataclass
class KnownStrategyConfig:
    """Claim: OG buyer vs a fixed-floor seller closes exactly where the closed form says."""

    enabled: bool = True
    floor_fracs: list[float] = field(default_factory=lambda: [0.3, 0.6, 0.9])
    rounds: int = 10
    markets: list[str] = field(default_factory=list, metadata={"help": "empty = all six"})
    products: list[str] = field(default_factory=list)


@dataclass
class FeedbackLoopConfig:
    """Claim: across-session feedback changes a feedback-aware scripted buyer's outcomes."""

    enabled: bool = True
    sessions: int = 10
    rounds: int = 10
    step: float = 0.05
    markets: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)


@dataclass
class TinyLMConfig:
    """A tiny random LM (mlrepro.testing.tiny_lm, hf backend) as buyer against scripted sellers: robustness only."""

    enabled: bool = False
    sessions_per_market: int = 1
    rounds: int = 3
    max_new_tokens: int = 32
    vocab: int = field(default=1000, metadata={"help": "BPE vocabulary, trained on the arena's own prompts"})
    markets: list[str] = field(default_factory=list)


@dataclass
class PrefsConfig:
    """Preference-weight fit: on ``path`` (a JSONL of pairwise judgements) if given, else on synthetic pairs."""

    enabled: bool = True
    path: str = ""
    label_first_preferred: bool = True
    n_pairs: int = 4000
    l2: float = 0.0
    intercept: bool = False


@dataclass
class ReportConfig:
    format: str = "md"  # md | html | both
    max_sessions: int = 60
    copy_to_results: bool = True


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    buyer: AgentConfig = field(default_factory=lambda: AgentConfig(strategy="mock"))
    seller: AgentConfig = field(default_factory=lambda: AgentConfig(strategy="market"))
    grid: GridConfig = field(default_factory=GridConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    extractor: ExtractorConfig = field(default_factory=ExtractorConfig)
    known_strategy: KnownStrategyConfig = field(default_factory=KnownStrategyConfig)
    feedback_loop: FeedbackLoopConfig = field(default_factory=FeedbackLoopConfig)
    tiny_lm: TinyLMConfig = field(default_factory=TinyLMConfig)
    prefs: PrefsConfig = field(default_factory=PrefsConfig)
    transcript_pairs: bool = True
    report: ReportConfig = field(default_factory=ReportConfig)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        from .prompts import parse_method
        from .scenarios import MARKETS, PRODUCTS

        def markets(key: str, vals: list[str]) -> None:
            bad = [m for m in vals if m not in MARKETS]
            if bad:
                raise ConfigError(f"config key {key!r}: unknown market(s) {bad}; known: {MARKETS}")

        def products(key: str, vals: list[str]) -> None:
            bad = [p for p in vals if p not in PRODUCTS]
            if bad:
                raise ConfigError(f"config key {key!r}: unknown product(s) {bad}; known: {PRODUCTS}")

        for key, vals in (("grid.markets", self.grid.markets), ("known_strategy.markets", self.known_strategy.markets),
                          ("feedback_loop.markets", self.feedback_loop.markets), ("tiny_lm.markets", self.tiny_lm.markets)):
            markets(key, vals)
        for key, vals in (("grid.products", self.grid.products), ("known_strategy.products", self.known_strategy.products),
                          ("feedback_loop.products", self.feedback_loop.products)):
            products(key, vals)
        for m in self.grid.methods:
            try:
                parse_method(m)
            except ValueError as e:
                raise ConfigError(f"config key 'grid.methods': {e}") from e
        for key, n in (("grid.sessions", self.grid.sessions), ("grid.rounds", self.grid.rounds),
                       ("known_strategy.rounds", self.known_strategy.rounds), ("feedback_loop.sessions", self.feedback_loop.sessions),
                       ("feedback_loop.rounds", self.feedback_loop.rounds), ("grid.batch_size", self.grid.batch_size),
                       ("tiny_lm.rounds", self.tiny_lm.rounds), ("tiny_lm.sessions_per_market", self.tiny_lm.sessions_per_market)):
            if n < 1:
                raise ConfigError(f"config key {key!r} must be >= 1, got {n}")
        if self.grid.end_rule not in ("action", "substring"):
            raise ConfigError(f"config key 'grid.end_rule' must be 'action' or 'substring', got {self.grid.end_rule!r}")
        if self.extractor.mode not in ("rule", "llm", "both"):
            raise ConfigError(f"config key 'extractor.mode' must be rule, llm or both, got {self.extractor.mode!r}")
        if self.report.format not in ("md", "html", "both"):
            raise ConfigError(f"config key 'report.format' must be md, html or both, got {self.report.format!r}")
        if self.sampling.backend not in BACKENDS[1:]:
            raise ConfigError(f"config key 'sampling.backend' must be one of {BACKENDS[1:]}, got {self.sampling.backend!r}")
        for key, a in (("buyer", self.buyer), ("seller", self.seller), ("extractor.agent", self.extractor.agent)):
            if a.backend not in BACKENDS:
                raise ConfigError(f"config key '{key}.backend' must be one of {BACKENDS}, got {a.backend!r}")
        agents = [("buyer", self.buyer), ("seller", self.seller)] if self.grid.enabled else []
        if self.extractor.mode != "rule":
            agents.append(("extractor.agent", self.extractor.agent))
        for key, a in agents:
            if (a.backend or self.sampling.backend) != "scripted" and not a.model:
                raise ConfigError(f"config key '{key}.model' is required with backend "
                                  f"{a.backend or self.sampling.backend!r} (scripted agents need none)")
        bad = [r for r in self.feedback.reveal if r not in ("price", "cs", "np", "ar", "score")]
        if bad:
            raise ConfigError(f"config key 'feedback.reveal': unknown field(s) {bad}")
        if not 0 < self.feedback_loop.step < 1:
            raise ConfigError(f"config key 'feedback_loop.step' must be in (0, 1), got {self.feedback_loop.step}")
        for f in self.known_strategy.floor_fracs:
            if not 0 <= f <= 1:
                raise ConfigError(f"config key 'known_strategy.floor_fracs' values must be in [0, 1], got {f}")
