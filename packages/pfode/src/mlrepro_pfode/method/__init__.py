"""The paper's method (arXiv 2503.10219) as pure functions and small classes.

* :mod:`.noise`    trace-class Gaussian noise N(0, Q) diagonal in the cosine (Neumann) basis (spec §2.1)
* :mod:`.sde`      forward VP / sub-VP / VE SDEs in Hilbert space (spec §2.2)
* :mod:`.score`    the Q-preconditioned score, DSM loss, exact Gaussian score, NFE counter (spec §2.3, §2.5)
* :mod:`.samplers` PF-ODE (Euler, Heun, DDIM) and reverse-SDE (EM, PC) samplers, time grids (spec §2.4, §2.7)
"""

from .noise import SPECTRA, CosineBasis, TraceClassNoise, spectrum
from .samplers import SAMPLERS, TIME_GRIDS, n_steps_for, sample, time_grid
from .score import (
                    GaussianScore,
                    NFECounter,
                    conditional_score,
                    dsm_loss,
                    sample_times,
                    score_from_noise_model,
)
from .sde import SCHEDULES, SDE_KINDS, VESDE, VPSDE, LinearSDE, SubVPSDE, make_sde

__all__ = [
    "CosineBasis", "TraceClassNoise", "spectrum", "SPECTRA",
    "LinearSDE", "VPSDE", "SubVPSDE", "VESDE", "make_sde", "SDE_KINDS", "SCHEDULES",
    "GaussianScore", "NFECounter", "conditional_score", "dsm_loss", "sample_times", "score_from_noise_model",
    "sample", "time_grid", "n_steps_for", "SAMPLERS", "TIME_GRIDS",
]
