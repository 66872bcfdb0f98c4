"""The paper's contribution as pure functions and small modules (MAVFlow, arXiv 2503.11026).

- :mod:`.cfm`: OT-CFM path, target and masked loss (spec §2.2), fixed-step Euler / midpoint / Heun solvers with
  an NFE counter, an adaptive torchdiffeq reference solver.
- :mod:`.guidance`: classifier-free condition dropout and the two dual-guidance combiners (spec §2.3).
- :mod:`.decoder`: the Matcha-style 1-D U-Net velocity network nu_theta(phi_t, t; a_spk, v_t, mu, X~1) and the
  unit encoder that produces mu.
- :mod:`.durations`: dedup / run-length durations, the AV2AV-style duration predictor, and the length regulator
  that stretches to the source length exactly (the isometric constraint, spec §2.1 step 3).
- :mod:`.units`: the unit-extractor interface, the k-means CPU stand-in and unit translators.
- :mod:`.speaker`: x-vector TDNN, speaker averaging, SECS, resemblyzer / GE2E back-ends.
"""

from .cfm import cfm_loss, ot_path, ot_target, sample_ode, solve_adaptive, solve_fixed
from .durations import dedup, expand, regulate_to_length
from .guidance import combine_independent, combine_nested, condition_dropout

__all__ = [
    "ot_path", "ot_target", "cfm_loss", "solve_fixed", "solve_adaptive", "sample_ode",
    "condition_dropout", "combine_nested", "combine_independent",
    "dedup", "expand", "regulate_to_length",
]
