"""Trace-class Gaussian noise on a 1-D function space (spec §2.1).

Functions live on an interval ``D = [a, b]`` and are stored as their values on a *cell-centred* grid
``x_j = a + (j + 1/2) L / N`` (``L = b - a``). The spectral basis is the eigenbasis of the Neumann Laplacian,

    e_0(x) = 1,   e_k(x) = sqrt(2) cos(pi k (x - a) / L)     (k >= 1),

which is orthonormal for the normalised measure dx / L and, sampled on the cell-centred grid, is exactly the
orthonormal DCT-II: ``(1/N) E^T E = I`` for the N x N matrix ``E[j, k] = e_k(x_j)``. Mode coefficients
``a_k = <u, e_k>`` therefore do not depend on the grid: a function resolved on 64 points and the same function
on 128 points share their first 64 coefficients. That is what makes every object below
*discretisation-independent*.

The covariance operator ``Q`` of the noise is diagonal in this basis, ``Q e_k = q_k e_k``, with eigenvalues
given by a spectral density evaluated at the Laplacian frequencies ``omega_k = pi k / L``:

* ``bessel`` (Bessel-potential / Matern type, spec §2.1 choice 2): ``q_k ∝ (1 + (omega_k l)^2)^(-s)``; trace
  class iff ``s > 1/2`` in 1-D, which is checked.
* ``se`` (squared exponential, the spectral form of hdm-official's SE-kernel prior, spec §2.1 choice 1):
  ``q_k ∝ exp(-(omega_k l)^2 / 4)``, the Fourier transform of ``exp(-r^2 / l^2)``.

Both are normalised so that ``Tr Q = sum_k q_k = gain`` (sum taken over ``2**16`` modes, independent of the
grid), so the mean pointwise variance of the noise is ``gain`` at every resolution. A draw on an N-point grid is
the exact Galerkin projection of the infinite-dimensional draw onto the first N modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["CosineBasis", "TraceClassNoise", "spectrum", "SPECTRA"]

_TRACE_MODES = 2**16
SPECTRA = ("bessel", "se")


def spectrum(kind: str, omega: torch.Tensor, length: float, smoothness: float = 2.0) -> torch.Tensor:
    """Un-normalised spectral density ``phi(omega)`` of the noise covariance (see module docstring)."""
    if length <= 0:
        raise ValueError(f"noise length scale must be > 0, got {length}")
    if kind == "bessel":
        if smoothness <= 0.5:
            raise ValueError(
                f"bessel noise with smoothness s={smoothness} is not trace class in 1-D (needs s > 1/2)")
        return (1.0 + (omega * length) ** 2) ** (-smoothness)
    if kind == "se":
        return torch.exp(-((omega * length) ** 2) / 4.0)
    raise ValueError(f"unknown noise spectrum {kind!r}; choose one of {SPECTRA}")


class CosineBasis:
    """Neumann-Laplacian (DCT-II) eigenbasis sampled on the cell-centred ``n_points`` grid of ``domain``."""

    def __init__(self, n_points: int, domain: tuple[float, float] = (0.0, 1.0), dtype=torch.float32):
        if n_points < 2:
            raise ValueError(f"a grid needs at least 2 points, got {n_points}")
        a, b = float(domain[0]), float(domain[1])
        if not b > a:
            raise ValueError(f"domain must satisfy a < b, got {domain}")
        self.n_points, self.domain, self.length, self.dtype = n_points, (a, b), b - a, dtype
        u = (torch.arange(n_points, dtype=torch.float64) + 0.5) / n_points
        self.unit_points = u.to(dtype)
        self.points = (a + (b - a) * u).to(dtype)
        self.matrix = self.eval_modes(u, n_points).to(dtype)  # E[j, k] = e_k(x_j)

    @staticmethod
    def eval_modes(unit_points: torch.Tensor, n_modes: int) -> torch.Tensor:
        """``e_k`` (k < n_modes) evaluated at points given in unit coordinates ``(x - a) / L``."""
        k = torch.arange(n_modes, dtype=torch.float64)
        out = math.sqrt(2.0) * torch.cos(math.pi * unit_points.double()[:, None] * k[None, :])
        out[:, 0] = 1.0
        return out

    def frequencies(self, n_modes: int | None = None) -> torch.Tensor:
        k = torch.arange(self.n_points if n_modes is None else n_modes, dtype=torch.float64)
        return math.pi * k / self.length

    def analysis(self, values: torch.Tensor) -> torch.Tensor:
        """Grid values ``(..., N)`` -> mode coefficients ``(..., N)`` (exact inverse of :meth:`synthesis`)."""
        E = self.matrix.to(values.dtype)
        return values @ E / self.n_points

    def synthesis(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Mode coefficients ``(..., K)`` with ``K <= N`` -> grid values ``(..., N)``."""
        K = coeffs.shape[-1]
        if K > self.n_points:
            raise ValueError(f"{K} coefficients do not fit a {self.n_points}-point grid")
        return coeffs @ self.matrix[:, :K].to(coeffs.dtype).T

    def l2_norm(self, values: torch.Tensor) -> torch.Tensor:
        """L2(D, dx/L) norm per function (the RMS over the grid): discretisation-independent."""
        return values.pow(2).mean(-1).sqrt()


@dataclass
class TraceClassNoise:
    """Centred Gaussian measure N(0, Q) with Q diagonal in the cosine basis (module docstring)."""

    kind: str = "se"
    length: float = 0.04
    smoothness: float = 2.0
    gain: float = 1.0
    domain: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self):
        self.domain = (float(self.domain[0]), float(self.domain[1]))
        if self.gain <= 0:
            raise ValueError(f"noise gain must be > 0, got {self.gain}")
        L = self.domain[1] - self.domain[0]
        omega = math.pi * torch.arange(_TRACE_MODES, dtype=torch.float64) / L
        phi = spectrum(self.kind, omega, self.length, self.smoothness)
        self._norm = float(phi.sum())

    def eigenvalues(self, n_modes: int) -> torch.Tensor:
        """``q_k`` for ``k < n_modes`` (float64); they do not depend on the grid."""
        L = self.domain[1] - self.domain[0]
        omega = math.pi * torch.arange(n_modes, dtype=torch.float64) / L
        return self.gain * spectrum(self.kind, omega, self.length, self.smoothness) / self._norm

    def trace(self, n_modes: int | None = None) -> float:
        """``Tr Q`` (= ``gain`` up to the 2**16-mode tail) or the partial trace over ``n_modes`` modes."""
        return float(self.eigenvalues(n_modes or _TRACE_MODES).sum())

    def basis(self, n_points: int, dtype=torch.float32) -> CosineBasis:
        return CosineBasis(n_points, self.domain, dtype)

    def sample(self, n: int, n_points: int, generator: torch.Generator | None = None,
               dtype=torch.float32, basis: CosineBasis | None = None) -> torch.Tensor:
        """``n`` draws of N(0, Q) on the ``n_points`` grid, shape ``(n, n_points)``."""
        basis = basis or self.basis(n_points, dtype)
        q = self.eigenvalues(basis.n_points).to(dtype)
        z = torch.randn(n, basis.n_points, generator=generator, dtype=dtype)
        return basis.synthesis(z * q.sqrt())

    def covariance_matrix(self, n_points: int, dtype=torch.float64) -> torch.Tensor:
        """Kernel ``Q(x_i, x_j) = sum_k q_k e_k(x_i) e_k(x_j)`` on the grid (first ``n_points`` modes)."""
        basis = self.basis(n_points, dtype)
        q = self.eigenvalues(n_points).to(dtype)
        E = basis.matrix
        return (E * q) @ E.T

    def sampler(self, n_points: int, dtype=torch.float32):
        """A callable ``(n, generator) -> (n, n_points)`` drawing N(0, Q) (used by the SDE samplers)."""
        basis = self.basis(n_points, dtype)
        scaled = (basis.matrix * self.eigenvalues(n_points).to(dtype).sqrt()).T  # (K, N): rows sqrt(q_k) e_k

        def draw(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
            return torch.randn(n, n_points, generator=generator, dtype=dtype) @ scaled

        return draw
