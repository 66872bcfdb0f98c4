"""Config schema of mlrepro_dreamad (recipes in ``recipes/{paper,mini,smoke}.yaml``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

from .agents import SCRIPTED_AGENTS
from .evaluate import INVALID_POLICIES
from .games import GAME_NAMES
from .method import METHODS, MethodParams
from .mock import PROFILES, MockProfile

BACKENDS = ("scripted", "openai", "hf", "vllm", "auto")


@dataclass
class ModelCfg:
    """One model under test (or the opponent's model)."""

    label: str = "mock-strong"  # name in tables and metric paths (no dots)
    backend: str = ""  # scripted | openai | hf | vllm | auto; "" = sampling.backend
    model: str = ""  # model id: API name (openai), hub id or path (hf/vllm)
    mock_profile: str = "strong"  # scripted backend: a mock.PROFILES entry
    mock_overrides: dict[str, Any] = field(default_factory=dict)  # scripted backend: MockProfile fields
    backend_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to get_sampler (base_url, api_key_env...)
    max_new_tokens: int = 1024
    top_p: float = 1.0
    top_k: int = -1


@dataclass
class SamplingCfg:
    backend: str = "scripted"  # default backend of models with backend ""; set by --sampler
    max_parse_retries: int = 3  # re-asks of an unparseable reply (official: unbounded)


@dataclass
class OpponentCfg:
    kind: str = "llm"  # llm | random | heuristic | optimal | eps_optimal
    method: str = "react"  # llm opponent's method (official: gpt-4o with `basic`)
    model: ModelCfg = field(default_factory=lambda: ModelCfg(label="opponent"))
    eps: float = 0.1


@dataclass
class ArenaCfg:
    enabled: bool = True
    games: list[str] = field(default_factory=lambda: list(GAME_NAMES))
    num_games: int = 50  # --num_games
    llm_num_games: int = 0  # games per cell for LLM methods (0 = num_games)
    passes: int = 1  # repetitions of num_games (mean and std of the win rate over passes)
    invalid_move_policy: str = "official"
    max_invalid_retries: int = 5
    scripted_agents: list[str] = field(default_factory=lambda: list(SCRIPTED_AGENTS))
    eps: float = 0.1  # eps of the eps_optimal arena agent


@dataclass
class AccuracyCfg:
    enabled: bool = True
    games: list[str] = field(default_factory=lambda: list(GAME_NAMES))
    passes: int = 5  # repetitions over the dataset (official notebooks: 5)
    eps: list[float] = field(default_factory=lambda: [0.1, 0.25])  # eps-noisy scripted agents
    ci_level: float = 0.95
    scripted_agents: list[str] = field(default_factory=lambda: list(SCRIPTED_AGENTS))


@dataclass
class DataCfg:
    seed: int = 0
    nim_range: list[int] = field(default_factory=lambda: [5, 31])
    fibonacci_items: int = 11
    fibonacci_max_n: int = 30
    kayles_full: list[int] = field(default_factory=lambda: [3, 12])
    kayles_midgame_items: int = 10
    kayles_midgame_len: list[int] = field(default_factory=lambda: [5, 12])
    chomp_sizes: list[int] = field(default_factory=lambda: [2, 8])
    chomp_tworow_items: int = 10
    corner_queen_items: int = 10


@dataclass
class BiasCfg:
    enabled: bool = True
    embed_dim: int = 256  # hashing embedding for the reasoning-dissimilarity measure


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    sampling: SamplingCfg = field(default_factory=SamplingCfg)
    models: list[ModelCfg] = field(default_factory=lambda: [ModelCfg()])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    method: MethodParams = field(default_factory=MethodParams)
    opponent: OpponentCfg = field(default_factory=OpponentCfg)
    arena: ArenaCfg = field(default_factory=ArenaCfg)
    accuracy: AccuracyCfg = field(default_factory=AccuracyCfg)
    data: DataCfg = field(default_factory=DataCfg)
    bias: BiasCfg = field(default_factory=BiasCfg)
    game_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-game overrides of the start
    keep_traces: bool = False  # keep every call's text in samples.jsonl (large)
    progress: bool = True
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        def bad(key: str, msg: str) -> None:
            raise ConfigError(f"config key {key!r}: {msg}")

        for k, names in (("methods", self.methods),):
            for m in names:
                if m not in METHODS:
                    bad(k, f"unknown method {m!r}; known: {', '.join(METHODS)}")
        for k, gs in (("arena.games", self.arena.games), ("accuracy.games", self.accuracy.games)):
            for g in gs:
                if g not in GAME_NAMES:
                    bad(k, f"unknown game {g!r}; known: {', '.join(GAME_NAMES)}")
        for g in self.game_params:
            if g not in GAME_NAMES:
                bad("game_params", f"unknown game {g!r}")
        if self.sampling.backend not in BACKENDS:
            bad("sampling.backend", f"unknown backend {self.sampling.backend!r}; known: {', '.join(BACKENDS)}")
        labels = [m.label for m in self.models]
        if len(set(labels)) != len(labels):
            bad("models", f"model labels must be unique, got {labels}")
        mock_fields = {f.name for f in dataclasses.fields(MockProfile)}
        for i, m in enumerate([*self.models, self.opponent.model]):
            key = f"models[{i}]" if i < len(self.models) else "opponent.model"
            if not m.label or "." in m.label or "/" in m.label:
                bad(f"{key}.label", f"label {m.label!r} must be non-empty without '.' or '/'")
            if m.backend and m.backend not in BACKENDS:
                bad(f"{key}.backend", f"unknown backend {m.backend!r}; known: {', '.join(BACKENDS)}")
            if m.mock_profile not in PROFILES:
                bad(f"{key}.mock_profile", f"unknown mock profile {m.mock_profile!r}; known: {', '.join(PROFILES)}")
            for f in m.mock_overrides:
                if f not in mock_fields:
                    bad(f"{key}.mock_overrides", f"unknown MockProfile field {f!r}")
            if (m.backend or self.sampling.backend) != "scripted" and not m.model:
                bad(f"{key}.model", "a model id is needed for non-scripted backends")
        if self.opponent.kind not in ("llm", *SCRIPTED_AGENTS):
            bad("opponent.kind", f"unknown opponent kind {self.opponent.kind!r}")
        if self.opponent.method not in METHODS:
            bad("opponent.method", f"unknown method {self.opponent.method!r}")
        if self.arena.invalid_move_policy not in INVALID_POLICIES:
            bad("arena.invalid_move_policy", f"must be one of {', '.join(INVALID_POLICIES)}")
        for a in (*self.arena.scripted_agents, *self.accuracy.scripted_agents):
            if a not in SCRIPTED_AGENTS:
                bad("scripted_agents", f"unknown scripted agent {a!r}; known: {', '.join(SCRIPTED_AGENTS)}")
        for e in [*self.accuracy.eps, self.arena.eps, self.opponent.eps]:
            if not 0.0 <= e <= 1.0:
                bad("eps", f"eps must be in [0, 1], got {e}")
        for k, v in (("arena.num_games", self.arena.num_games), ("arena.passes", self.arena.passes),
                     ("accuracy.passes", self.accuracy.passes), ("method.sc_samples", self.method.sc_samples),
                     ("method.debate_rounds", self.method.debate_rounds)):
            if v < 1:
                bad(k, f"must be >= 1, got {v}")
        if self.method.refine_iterations < 0 or self.arena.max_invalid_retries < 0 or self.sampling.max_parse_retries < 0:
            bad("method", "iteration / retry counts must be >= 0")
        if not 0 < self.accuracy.ci_level < 1:
            bad("accuracy.ci_level", "must be in (0, 1)")
