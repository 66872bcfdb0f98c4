"""Config schema of mlrepro_pfode (OmegaConf structured config; recipes in ``recipes/``).

Field comments give the source: [CODE] hdm-official (KU-LIM-Lab/hdm-official), [SPEC] the team digest
``shared/papers/pfode.md``, [INFERRED]/[UNKNOWN] choices recorded in the package README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Config", "TaskConfig", "NoiseConfig", "SDEConfig", "ModelConfig", "TrainConfig", "EvalConfig"]


@dataclass
class NoiseConfig:
    kind: str = "se"  # bessel | se: spectrum of the trace-class noise covariance Q in the cosine basis
    length: float = 0.8  # length scale, in units of the task's domain ([CODE] SE len 0.8 on [-10, 10])
    smoothness: float = 2.0  # bessel exponent s (trace class iff s > 1/2)
    gain: float = 1.0  # Tr Q = mean pointwise noise variance ([CODE] gain 1.0)


@dataclass
class TaskConfig:
    name: str = "quadratic"
    family: str = "quadratic"  # quadratic | gp | heat | reacdiff | hub  (see data.py)
    params: dict[str, Any] = field(default_factory=dict)  # family parameters (validated by data.make_family)
    n_points: int = 64  # training resolution (cell-centred grid)
    n_train: int = 1000  # [CODE] 1000 quadratic functions
    n_test: int = 2000  # reference sample the metrics compare against
    normalize: str = "scale"  # none | scale | standard
    scale: float = 50.0  # [CODE] quadratic values divided by 50
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass
class SDEConfig:
    kind: str = "vp"  # vp | subvp | ve
    schedule: str = "cosine"  # linear | cosine ([CODE] cosine for all 1-D configs)
    T: float = 0.9946  # [CODE]
    eps: float = 1e-5  # [CODE]
    beta_min: float = 0.1  # linear schedule (Song et al.)
    beta_max: float = 20.0
    cosine_s: float = 0.008  # [CODE]
    sigma_min: float = 0.01  # VE
    sigma_max: float = 20.0


@dataclass
class ModelConfig:
    n_modes: int = 16
    width: int = 32
    n_layers: int = 3
    time_dim: int = 64
    domain_padding: float = 0.0
    channel_mlp_expansion: float = 0.5


@dataclass
class TrainConfig:
    steps: int = 4000
    batch_size: int = 100  # [CODE]
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup: int = 100
    grad_clip: float = 1.0  # [CODE]
    ema_decay: float = 0.0
    ckpt_every: int = 500
    log_every: int = 50


@dataclass
class EvalConfig:
    samplers: list[str] = field(default_factory=lambda: ["sde_em", "sde_pc", "ode_euler", "ode_heun"])
    nfe: list[int] = field(default_factory=lambda: [5, 10, 20, 50, 100, 1000])
    n_samples: int = 200  # generated functions per (sampler, NFE) cell
    time_grid: str = "power"  # uniform | power | logsnr: grid of the main table (all samplers)
    grid_rho: float = 2.0
    snr: float = 0.16  # PC corrector signal-to-noise ratio (Song et al.)
    clamp_norm: float | None = None  # hdm clamps ||x|| > 10; off here (reported)
    resolutions: list[int] = field(default_factory=lambda: [128])  # zero-shot sampling resolutions
    resolution_runs: list[str] = field(default_factory=lambda: ["ode_heun:20", "sde_em:100"])
    grid_ablation: list[str] = field(default_factory=lambda: ["uniform", "logsnr"])
    grid_ablation_samplers: list[str] = field(default_factory=lambda: ["ode_euler", "ode_heun"])
    grid_ablation_nfe: list[int] = field(default_factory=lambda: [10, 20])
    floor_repeats: int = 5  # independent true-vs-true comparisons (metric noise floor)
    n_perm: int = 200  # permutations per MMD test ([CODE] 1000)
    power_group: int = 10  # [CODE] 10 vs 10
    power_repeats: int = 10  # [CODE] 30
    spectrum_modes: int = 16
    claim_max_nfe: int = 20  # the PF-ODE budget of the headline claim
    claim_baseline: str = "sde_em:1000"  # the SDE reference of the headline claim
    exact_score: bool = True  # run the analytic Gaussian sweep stage
    exact_nfe: list[int] = field(default_factory=lambda: [5, 10, 20, 50, 100, 1000])
    plot_functions: int = 12


@dataclass
class Config:
    seed: int = 0
    num_threads: int = 0  # torch threads; 0 = torch default. 1 avoids oversubscription on shared CPUs
    report_to: str = "none"
    tasks: list[TaskConfig] = field(default_factory=lambda: [TaskConfig()])
    sde: SDEConfig = field(default_factory=SDEConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        from mlrepro.config import ConfigError

        from .method.samplers import SAMPLERS, TIME_GRIDS
        from .method.sde import make_sde

        def bad(msg):
            raise ConfigError(f"invalid config: {msg}")

        if not self.tasks:
            bad("tasks: at least one task is needed")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            bad(f"tasks: names must be unique, got {names}")
        for i, t in enumerate(self.tasks):
            if t.n_points < self.model.n_modes:
                bad(f"tasks.{i}.n_points={t.n_points} is below the model's n_modes={self.model.n_modes}")
            if t.normalize not in ("none", "scale", "standard"):
                bad(f"tasks.{i}.normalize must be none|scale|standard, got {t.normalize!r}")
            if t.n_train < 1 or t.n_test < 2:
                bad(f"tasks.{i}: n_train and n_test must be positive")
        try:
            make_sde(**{"kind": self.sde.kind, **{k: getattr(self.sde, k) for k in (
                "schedule", "T", "eps", "beta_min", "beta_max", "cosine_s", "sigma_min", "sigma_max")}})
        except ValueError as e:
            bad(f"sde: {e}")
        for s in self.eval.samplers + self.eval.grid_ablation_samplers:
            if s not in SAMPLERS:
                bad(f"eval: unknown sampler {s!r}; choose from {SAMPLERS}")
        for g in [self.eval.time_grid, *self.eval.grid_ablation]:
            if g not in TIME_GRIDS:
                bad(f"eval: unknown time grid {g!r}; choose from {TIME_GRIDS}")
        if any(n < 1 for n in self.eval.nfe + self.eval.grid_ablation_nfe + self.eval.exact_nfe):
            bad("eval: NFE budgets must be >= 1")
        for spec in [*self.eval.resolution_runs, self.eval.claim_baseline]:
            try:
                parse_run(spec)
            except ValueError as e:
                bad(str(e))
        for i, t in enumerate(self.tasks):
            try:
                from .data import make_family

                fam = make_family(t.family, t.params)
                from .method.noise import TraceClassNoise

                TraceClassNoise(t.noise.kind, t.noise.length, t.noise.smoothness, t.noise.gain, fam.domain)
            except (ValueError, TypeError) as e:
                bad(f"tasks.{i} ({t.name}): {e}")
        if self.eval.n_samples < max(2, self.eval.power_group):
            bad(f"eval.n_samples={self.eval.n_samples} is below the power-test group size {self.eval.power_group}")
        if self.train.steps < 1 or self.train.batch_size < 1 or self.train.lr <= 0:
            bad("train: steps, batch_size and lr must be positive")
        if not 0 <= self.train.ema_decay < 1:
            bad("train.ema_decay must be in [0, 1)")


def parse_run(spec: str) -> tuple[str, int]:
    """``"sampler:nfe"`` -> ``(sampler, nfe)`` with checks."""
    from .method.samplers import SAMPLERS

    parts = str(spec).split(":")
    if len(parts) != 2 or parts[0] not in SAMPLERS or not parts[1].isdigit() or int(parts[1]) < 1:
        raise ValueError(f"run spec {spec!r} must be 'sampler:nfe' with sampler in {SAMPLERS}")
    return parts[0], int(parts[1])
