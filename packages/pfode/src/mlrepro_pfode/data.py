"""Function-valued data sets made by the package (spec §2.8), all resolution-free.

Every family draws *functions* and evaluates them on the cell-centred N-point grid of its domain (the grid of
``method.noise.CosineBasis``), for any N, so that a model trained at one resolution can be evaluated against
data at another. Families:

* ``quadratic`` (hdm-official's canonical 1-D toy): ``y(x) = a x^2 + e`` on ``[-10, 10]``, ``a in {-1, +1}``
  equiprobable, one shared offset ``e ~ N(0, 1)`` per function; divided by ``scale`` (50 in hdm). Bimodal.
* ``gp``: a Gaussian process with Bessel/Matern-type or SE covariance diagonal in the cosine basis (the same
  parameterisation as the noise, ``method.noise``); exactly Gaussian, so its score is known in closed form.
* ``heat``: the final state ``u(., t_final)`` of ``u_t = nu u_xx`` on ``[0, 1]`` with Neumann boundaries and a
  Gaussian random initial condition; solved exactly in the cosine basis,
  ``a_k(t) = a_k(0) exp(-nu omega_k^2 t)`` (spec §2.8 "Heat").
* ``reacdiff``: Fisher-KPP reaction-diffusion ``u_t = nu u_xx + rho u (1 - u)`` on ``[0, 1]`` (PDEBench's 1-D
  "ReacDiff" equation) with Neumann boundaries, initial condition ``sigmoid(GRF)``, solved by Strang splitting
  on a fine cell-centred grid: exact logistic half steps ``u <- u e^{rho h} / (1 - u + u e^{rho h})`` around an
  exact diffusion step in the DCT basis. The solution is then evaluated on the requested grid through its
  cosine series (exact for the discrete solution). Non-Gaussian: the logistic term skews pointwise values.
* ``hub``: functions read from a Hugging Face dataset (e.g. ``erbacher/PDEBench-1D``) or a local
  ``save_to_disk`` folder; the last time slice of an array column, linearly resampled to the grid. Used only by
  ``paper``-scale runs with hub access; tests use a locally made dataset.

Draws are deterministic given the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = ["FAMILIES", "make_family", "cell_centred", "cosine_modes", "Normalizer", "Quadratic", "GaussianProcess",
           "HeatEquation", "ReactionDiffusion", "HubFunctions", "solve_heat_neumann", "solve_fisher_kpp"]


def cell_centred(n_points: int, domain: tuple[float, float]) -> np.ndarray:
    a, b = domain
    return a + (b - a) * (np.arange(n_points) + 0.5) / n_points


def cosine_modes(unit_points: np.ndarray, n_modes: int) -> np.ndarray:
    """``e_k(x)`` for k < n_modes at unit coordinates (same basis as ``method.noise.CosineBasis``)."""
    E = math.sqrt(2.0) * np.cos(math.pi * unit_points[:, None] * np.arange(n_modes)[None, :])
    E[:, 0] = 1.0
    return E


def _spectrum(kind: str, omega: np.ndarray, length: float, smoothness: float) -> np.ndarray:
    if kind == "bessel":
        if smoothness <= 0.5:
            raise ValueError(f"bessel covariance needs smoothness > 1/2 (trace class), got {smoothness}")
        return (1.0 + (omega * length) ** 2) ** (-smoothness)
    if kind == "se":
        return np.exp(-((omega * length) ** 2) / 4.0)
    raise ValueError(f"unknown covariance kind {kind!r} (bessel or se)")


def grf_eigenvalues(kind: str, length: float, smoothness: float, gain: float, n_modes: int,
                    domain_length: float = 1.0) -> np.ndarray:
    """Eigenvalues of a GRF covariance in the cosine basis, normalised to trace ``gain`` (as the noise)."""
    omega_all = math.pi * np.arange(2**16) / domain_length
    phi = _spectrum(kind, omega_all, length, smoothness)
    return gain * phi[:n_modes] / phi.sum()


class Family:
    """Base class: ``sample(n, n_points, rng) -> (n, n_points)`` float64 array on the cell-centred grid."""

    name = "base"
    domain: tuple[float, float] = (0.0, 1.0)

    def sample(self, n: int, n_points: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"family": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]


@dataclass
class Quadratic(Family):
    name = "quadratic"
    domain: tuple[float, float] = (-10.0, 10.0)
    offset_std: float = 1.0

    def sample(self, n, n_points, rng):
        x = cell_centred(n_points, self.domain)
        a = rng.choice([-1.0, 1.0], size=n)
        e = rng.normal(0.0, self.offset_std, size=n)
        return a[:, None] * x[None, :] ** 2 + e[:, None]


@dataclass
class GaussianProcess(Family):
    name = "gp"
    domain: tuple[float, float] = (0.0, 1.0)
    kind: str = "bessel"
    length: float = 0.1
    smoothness: float = 2.0
    gain: float = 1.0
    n_modes: int = 256  # modes of the draw (>= the finest grid used)

    def eigenvalues(self, n_modes: int | None = None) -> np.ndarray:
        return grf_eigenvalues(self.kind, self.length, self.smoothness, self.gain, n_modes or self.n_modes,
                               self.domain[1] - self.domain[0])

    def coefficients(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.n_modes)) * np.sqrt(self.eigenvalues())

    def sample(self, n, n_points, rng):
        u = (np.arange(n_points) + 0.5) / n_points
        return self.coefficients(n, rng) @ cosine_modes(u, self.n_modes).T


def solve_heat_neumann(coeffs0: np.ndarray, nu: float, t: float, domain_length: float = 1.0) -> np.ndarray:
    """Exact solution of ``u_t = nu u_xx`` (Neumann) in cosine coefficients: ``a_k e^{-nu omega_k^2 t}``."""
    omega = math.pi * np.arange(coeffs0.shape[-1]) / domain_length
    return coeffs0 * np.exp(-nu * omega**2 * t)


@dataclass
class HeatEquation(Family):
    name = "heat"
    domain: tuple[float, float] = (0.0, 1.0)
    nu: float = 0.01
    t_final: float = 0.1
    ic_kind: str = "bessel"
    ic_length: float = 0.05
    ic_smoothness: float = 1.5
    ic_gain: float = 4.0
    n_modes: int = 256

    def ic(self) -> GaussianProcess:
        return GaussianProcess(self.domain, self.ic_kind, self.ic_length, self.ic_smoothness, self.ic_gain, self.n_modes)

    def eigenvalues(self, n_modes: int | None = None) -> np.ndarray:
        """The final state is Gaussian: ``c_k = q0_k exp(-2 nu omega_k^2 t)`` (exact law, used in tests)."""
        q0 = self.ic().eigenvalues(n_modes or self.n_modes)
        omega = math.pi * np.arange(len(q0)) / (self.domain[1] - self.domain[0])
        return q0 * np.exp(-2 * self.nu * omega**2 * self.t_final)

    def sample(self, n, n_points, rng):
        a = solve_heat_neumann(self.ic().coefficients(n, rng), self.nu, self.t_final, self.domain[1] - self.domain[0])
        u = (np.arange(n_points) + 0.5) / n_points
        return a @ cosine_modes(u, self.n_modes).T


def _dct_ortho(v):
    from scipy.fft import dct

    return dct(v, type=2, norm="ortho", axis=-1)


def _idct_ortho(c):
    from scipy.fft import idct

    return idct(c, type=2, norm="ortho", axis=-1)


def solve_fisher_kpp(u0: np.ndarray, nu: float, rho: float, t_final: float, n_steps: int,
                     domain_length: float = 1.0) -> np.ndarray:
    """Strang-split solver for ``u_t = nu u_xx + rho u (1 - u)`` with Neumann boundaries.

    ``u0`` holds values on the cell-centred grid (last axis). Each step: logistic half step (exact), diffusion
    full step (exact in the DCT-II basis of the cell-centred grid), logistic half step. Second order in the
    step; with ``rho = 0`` it is the exact heat solution, with a constant ``u0`` the exact logistic curve.
    """
    if n_steps < 1:
        raise ValueError("n_steps must be >= 1")
    M = u0.shape[-1]
    h = t_final / n_steps
    decay = np.exp(-nu * (math.pi * np.arange(M) / domain_length) ** 2 * h)
    g = math.exp(rho * h / 2)

    def react(u):
        return u * g / (1.0 - u + u * g)

    u = np.array(u0, dtype=np.float64)
    for _ in range(n_steps):
        u = react(u)
        u = _idct_ortho(_dct_ortho(u) * decay)
        u = react(u)
    return u


@dataclass
class ReactionDiffusion(Family):
    name = "reacdiff"
    domain: tuple[float, float] = (0.0, 1.0)
    nu: float = 0.005
    rho: float = 2.0
    t_final: float = 1.0
    n_steps: int = 100
    solver_points: int = 256
    ic_kind: str = "bessel"
    ic_length: float = 0.1
    ic_smoothness: float = 2.0
    ic_gain: float = 2.0

    def sample(self, n, n_points, rng):
        if n_points > self.solver_points:
            raise ValueError(f"grid of {n_points} points is finer than the solver grid ({self.solver_points})")
        ic = GaussianProcess(self.domain, self.ic_kind, self.ic_length, self.ic_smoothness, self.ic_gain,
                             self.solver_points)
        g = ic.sample(n, self.solver_points, rng)
        u0 = 1.0 / (1.0 + np.exp(-g))
        uT = solve_fisher_kpp(u0, self.nu, self.rho, self.t_final, self.n_steps, self.domain[1] - self.domain[0])
        # evaluate the discrete solution's cosine series on the requested grid
        M = self.solver_points
        coeffs = uT @ cosine_modes((np.arange(M) + 0.5) / M, M) / M
        return coeffs @ cosine_modes((np.arange(n_points) + 0.5) / n_points, M).T


@dataclass
class HubFunctions(Family):
    """Functions from a Hugging Face dataset id or a local ``save_to_disk`` folder (paper-scale runs)."""

    name = "hub"
    path: str = "erbacher/PDEBench-1D"
    subset: str | None = "ReacDiff_Nu0.5_Rho1.0"
    split: str = "train"
    column: str = "tensor"
    domain: tuple[float, float] = (0.0, 1.0)
    _cache: Any = field(default=None, repr=False)

    def _load(self):
        if self._cache is None:
            import os

            import datasets

            if os.path.isdir(self.path):
                ds = datasets.load_from_disk(self.path)
                if isinstance(ds, datasets.DatasetDict):
                    ds = ds[self.split]
            else:  # pragma: no cover - needs the hub
                ds = datasets.load_dataset(self.path, self.subset, split=self.split)
            if self.column not in ds.column_names:
                raise ValueError(f"column {self.column!r} not in {self.path} (columns: {ds.column_names})")
            rows = [np.asarray(r, dtype=np.float64) for r in ds[self.column]]
            self._cache = np.stack([r.reshape(-1, r.shape[-1])[-1] for r in rows])  # last time slice
        return self._cache

    def sample(self, n, n_points, rng):
        arr = self._load()
        if n > len(arr):
            raise ValueError(f"asked for {n} functions, {self.path} has {len(arr)}")
        idx = rng.choice(len(arr), size=n, replace=False)
        src = arr[idx]
        xs = (np.arange(src.shape[-1]) + 0.5) / src.shape[-1]
        xt = (np.arange(n_points) + 0.5) / n_points
        return np.stack([np.interp(xt, xs, f) for f in src])

    def describe(self) -> dict:
        return {"family": self.name, "path": self.path, "subset": self.subset, "split": self.split,
                "column": self.column, "domain": self.domain}


FAMILIES: dict[str, type[Family]] = {c.name: c for c in (Quadratic, GaussianProcess, HeatEquation,
                                                          ReactionDiffusion, HubFunctions)}


def make_family(name: str, params: dict | None = None) -> Family:
    """Build a family from its name and a parameter dict; unknown parameters raise ``ValueError``."""
    if name not in FAMILIES:
        raise ValueError(f"unknown data family {name!r}; choose one of {sorted(FAMILIES)}")
    cls = FAMILIES[name]
    allowed = {f.name for f in fields(cls) if not f.name.startswith("_")}
    params = dict(params or {})
    bad = sorted(set(params) - allowed)
    if bad:
        raise ValueError(f"data family {name!r} has no parameter(s) {bad}; known: {sorted(allowed)}")
    if "domain" in params:
        params["domain"] = tuple(float(v) for v in params["domain"])
        if len(params["domain"]) != 2 or not params["domain"][1] > params["domain"][0]:
            raise ValueError(f"domain must be [a, b] with a < b, got {params['domain']}")
    return cls(**params)


@dataclass
class Normalizer:
    """Affine map ``(y - shift) / scale`` applied to function values (a scalar pair, resolution-free)."""

    shift: float = 0.0
    scale: float = 1.0

    @classmethod
    def fit(cls, mode: str, data: np.ndarray, scale: float | None = None) -> Normalizer:
        if mode == "none":
            return cls(0.0, 1.0)
        if mode == "scale":
            if not scale or scale <= 0:
                raise ValueError("normalize=scale needs a positive data scale")
            return cls(0.0, float(scale))
        if mode == "standard":
            return cls(float(data.mean()), float(data.std()) or 1.0)
        raise ValueError(f"unknown normalize mode {mode!r} (none, scale, standard)")

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return (y - self.shift) / self.scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.scale + self.shift
