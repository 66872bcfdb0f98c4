"""Config schema of mlrepro_grpoagg (recipes in ``recipes/{paper,mini,smoke}.yaml``).

The paper is a theory note: nothing is trained on a language model. A recipe chooses the grids on which the
closed forms are checked against the general fixed-point solver, the simulated-GRPO setups (a softmax policy over
a few outputs stands in for the LLM), and the figure resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlrepro.config import ConfigError

NORMALIZATIONS = ("pop", "sample", "none")
PENALTIES = ("reverse", "direct")
REWARD_TYPES = ("deterministic", "bernoulli")


def _err(key: str, msg: str) -> ConfigError:
    return ConfigError(f"config key {key!r}: {msg}")


def _check_prob(key: str, xs: list[float], open_interval: bool = True) -> None:
    for x in xs:
        ok = (0 < x < 1) if open_interval else (0 <= x <= 1)
        if not ok:
            raise _err(key, f"{x} is not a probability in {'(0, 1)' if open_interval else '[0, 1]'}")


def _check_pos(key: str, xs: list[float]) -> None:
    for x in xs:
        if not (x > 0 and math.isfinite(x)):
            raise _err(key, f"{x} must be positive and finite")


@dataclass
class SolverConfig:
    tol: float = field(default=1e-13, metadata={"help": "tolerance on max |Phi(q) - q| of the fixed-point map"})
    max_iter: int = field(default=5000, metadata={"help": "iterations before the Newton fallback / error"})
    anderson: int = field(default=6, metadata={"help": "Anderson acceleration memory (0 = plain damped iteration)"})


@dataclass
class ClosedFormConfig:
    betas: list[float] = field(default_factory=lambda: [0.04, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0])
    margins: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0],
                                 metadata={"help": "gamma (Bernoulli rewards) for G=2; reward gaps elsewhere"})
    p_refs: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.3, 0.7, 0.95])
    shift_only_G: list[int] = field(default_factory=lambda: [2, 4, 16])
    tol: float = field(default=1e-8, metadata={"help": "claim threshold: closed form vs solver"})


@dataclass
class LargeGConfig:
    group_sizes: list[int] = field(default_factory=lambda: [2, 4, 16, 64, 256])
    p_ref: float = 0.3
    beta: float = 0.5
    grid_p_refs: list[float] = field(default_factory=lambda: [0.05, 0.3, 0.7])
    grid_betas: list[float] = field(default_factory=lambda: [0.1, 0.5, 2.0])
    final_tol: float = field(default=0.01, metadata={"help": "claim: |p_Gmax - p_inf| below this"})


@dataclass
class SimSetup:
    name: str = "binary_g2"
    pi_ref: list[float] = field(default_factory=lambda: [0.3, 0.7])
    rewards: list[float] = field(default_factory=lambda: [1.0, 0.0],
                                 metadata={"help": "deterministic rewards, or Bernoulli means"})
    reward_type: str = "deterministic"
    beta: float = 0.5
    G: int = 2
    normalization: str = "pop"
    penalty: str = "reverse"
    std_eps: float = 0.0
    inner_steps: int = 1
    batch_groups: int = 512


@dataclass
class SimulationConfig:
    setups: list[SimSetup] = field(default_factory=lambda: [SimSetup()])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    expected_lr: float = 1.0
    expected_max_steps: int = 20000
    expected_stop_tol: float = 1e-9
    expected_tol: float = field(default=1e-6, metadata={"help": "claim threshold (expected-gradient GRPO)"})
    sampled_steps: int = 4000
    sampled_lr: float = 0.05
    average_from: float = 0.5
    clip_eps: float = 0.2
    mc_tol: float = field(default=1e-2, metadata={"help": "claim threshold (Monte Carlo GRPO)"})
    backend: str = "numpy"
    record_every: int = 20


@dataclass
class LogPoolConfig:
    beta: float = 0.5
    p_refs: list[float] = field(default_factory=lambda: [1e-4, 0.01, 0.1, 0.5, 0.9])
    example_pi_ref: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4])
    example_rewards: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.0, 0.0])
    example_G: int = 4
    reward_scales: list[float] = field(default_factory=lambda: [0.5, 2.0, 4.0])
    reward_shift: float = 3.0
    practical_beta: float = 0.04


@dataclass
class NonUniqueConfig:
    p_refs: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7])
    example_p_ref: float = 0.3
    example_beta: float = 2.0
    below_beta: float = 0.5
    dynamics_lr: float = 1.0
    dynamics_steps: int = 4000
    high_start: float = 0.999


@dataclass
class FigureConfig:
    n_points: int = 1000
    dpi: int = 200
    curve_params: list[float] = field(default_factory=lambda: [0.04, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0])
    overlay_beta: float = 0.5
    finite_g: list[int] = field(default_factory=lambda: [2, 3, 4, 8, 16, 64, 256])
    finite_g_p_refs: list[float] = field(default_factory=lambda: [0.05, 0.3, 0.7])
    finite_g_beta: float = 0.5
    h_betas: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0, 5.0])


@dataclass
class Config:
    seed: int = 0
    report_to: str = "none"
    solver: SolverConfig = field(default_factory=SolverConfig)
    closed_forms: ClosedFormConfig = field(default_factory=ClosedFormConfig)
    large_g: LargeGConfig = field(default_factory=LargeGConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    logpool: LogPoolConfig = field(default_factory=LogPoolConfig)
    nonunique: NonUniqueConfig = field(default_factory=NonUniqueConfig)
    figures: FigureConfig = field(default_factory=FigureConfig)
    expected: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        s = self.solver
        if s.tol <= 0 or s.max_iter < 1 or s.anderson < 0:
            raise _err("solver", "tol > 0, max_iter >= 1, anderson >= 0 required")
        c = self.closed_forms
        _check_pos("closed_forms.betas", c.betas)
        _check_pos("closed_forms.margins", c.margins)
        if any(m > 1 for m in c.margins):
            raise _err("closed_forms.margins", "a confidence margin is at most 1")
        _check_prob("closed_forms.p_refs", c.p_refs)
        if any(g < 2 for g in c.shift_only_G):
            raise _err("closed_forms.shift_only_G", "group sizes must be >= 2")
        g = self.large_g
        if len(g.group_sizes) < 2 or any(x < 2 for x in g.group_sizes) or sorted(g.group_sizes) != g.group_sizes:
            raise _err("large_g.group_sizes", "need >= 2 increasing group sizes, each >= 2")
        _check_prob("large_g.p_ref", [g.p_ref])
        _check_prob("large_g.grid_p_refs", g.grid_p_refs)
        _check_pos("large_g.beta", [g.beta, *g.grid_betas])
        sim = self.simulation
        if not sim.seeds:
            raise _err("simulation.seeds", "at least one seed")
        if sim.backend not in ("numpy", "torch"):
            raise _err("simulation.backend", "must be numpy or torch")
        if not 0 <= sim.average_from < 1:
            raise _err("simulation.average_from", "must be in [0, 1)")
        _check_pos("simulation", [sim.expected_lr, sim.sampled_lr, sim.clip_eps])
        names = set()
        for i, st in enumerate(sim.setups):
            key = f"simulation.setups.{i}"
            if st.name in names:
                raise _err(f"{key}.name", f"duplicate setup name {st.name!r}")
            names.add(st.name)
            if len(st.pi_ref) != len(st.rewards) or len(st.pi_ref) < 2:
                raise _err(f"{key}.pi_ref", "pi_ref and rewards need the same length >= 2")
            _check_prob(f"{key}.pi_ref", st.pi_ref)
            if abs(sum(st.pi_ref) - 1) > 1e-9:
                raise _err(f"{key}.pi_ref", f"must sum to 1 (sums to {sum(st.pi_ref)})")
            if st.reward_type not in REWARD_TYPES:
                raise _err(f"{key}.reward_type", f"must be one of {REWARD_TYPES}")
            if st.reward_type == "bernoulli":
                _check_prob(f"{key}.rewards", st.rewards, open_interval=False)
            if st.normalization not in NORMALIZATIONS:
                raise _err(f"{key}.normalization", f"must be one of {NORMALIZATIONS}")
            if st.penalty not in PENALTIES:
                raise _err(f"{key}.penalty", f"must be one of {PENALTIES}")
            if st.G < 2:
                raise _err(f"{key}.G", "group size must be >= 2")
            if st.inner_steps < 1 or st.batch_groups < 1 or st.std_eps < 0:
                raise _err(key, "inner_steps >= 1, batch_groups >= 1, std_eps >= 0 required")
            _check_pos(f"{key}.beta", [st.beta])
        lp = self.logpool
        _check_pos("logpool.beta", [lp.beta, lp.practical_beta, *lp.reward_scales])
        _check_prob("logpool.p_refs", lp.p_refs)
        if len(lp.example_pi_ref) != len(lp.example_rewards) or abs(sum(lp.example_pi_ref) - 1) > 1e-9:
            raise _err("logpool.example_pi_ref", "must sum to 1 and match example_rewards in length")
        if lp.example_G < 2:
            raise _err("logpool.example_G", "group size must be >= 2")
        nu = self.nonunique
        _check_prob("nonunique.p_refs", [*nu.p_refs, nu.example_p_ref, nu.high_start])
        _check_pos("nonunique", [nu.example_beta, nu.below_beta, nu.dynamics_lr])
        f = self.figures
        if f.n_points < 3 or f.dpi < 20:
            raise _err("figures", "n_points >= 3 and dpi >= 20 required")
        _check_pos("figures.curve_params", [*f.curve_params, f.overlay_beta, f.finite_g_beta, *f.h_betas])
        _check_prob("figures.finite_g_p_refs", f.finite_g_p_refs)
        if any(x < 2 for x in f.finite_g):
            raise _err("figures.finite_g", "group sizes must be >= 2")
