"""Run-length units, the duration predictor output mapping, and the exact-length regulator."""

import numpy as np
import pytest
import torch
from mlrepro_mavflow.method.durations import (
    DurationPredictor,
    dedup,
    duration_loss,
    durations_from_log,
    expand,
    regulate_to_length,
    scale_durations,
)


def test_dedup_expand_roundtrip_hand_value():
    u, d = dedup([5, 5, 2, 2, 2, 7])
    assert u.tolist() == [5, 2, 7] and d.tolist() == [2, 3, 1]
    assert expand(u, d).tolist() == [5, 5, 2, 2, 2, 7]
    u, d = dedup([])
    assert u.size == 0 and d.size == 0


@pytest.mark.parametrize("mode", ["nearest", "scale"])
def test_regulator_hits_the_target_length_exactly(mode):
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 15))
        units = rng.integers(0, 50, n)
        durs = rng.integers(1, 7, n)
        target = int(rng.integers(1, 90))
        out = regulate_to_length(units, durs, target, mode)
        assert len(out) == target
        assert set(out.tolist()) <= set(units.tolist())
        if target == durs.sum():
            assert out.tolist() == expand(units, durs).tolist()
        # monotone alignment: regulating the unit positions gives a non-decreasing sequence
        pos = regulate_to_length(np.arange(n), durs, target, mode)
        assert (np.diff(pos) >= 0).all()
        if mode == "scale" and target >= n:
            assert set(pos.tolist()) == set(range(n))


def test_scale_mode_keeps_every_unit_when_possible():
    d = scale_durations([1, 1, 10], 6)
    assert d.sum() == 6 and (d >= 1).all()
    out = regulate_to_length([1, 2, 3], [1, 1, 10], 6, "scale")
    assert dedup(out)[0].tolist() == [1, 2, 3]
    # nearest-neighbour can drop a short unit when shrinking
    assert len(regulate_to_length([1, 2, 3], [1, 1, 10], 6, "nearest")) == 6


def test_nearest_mode_hand_value():
    # frames [a a b b] stretched to 6: idx floor((j + .5) * 4 / 6) = 0 1 1 2 3 3
    assert regulate_to_length([7, 8], [2, 2], 6, "nearest").tolist() == [7, 7, 7, 8, 8, 8]


def test_durations_from_log_inverse_and_clamp():
    d = torch.tensor([1, 2, 5, 9])
    assert durations_from_log(torch.log1p(d.float())).tolist() == d.tolist()
    assert durations_from_log(torch.tensor([-3.0])).tolist() == [1]


def test_duration_predictor_shapes_and_loss():
    m = DurationPredictor(10, hidden=16)
    u = torch.randint(10, (2, 7))
    mask = torch.ones(2, 7)
    out = m(u, mask)
    assert out.shape == (2, 7)
    d = torch.randint(1, 5, (2, 7))
    assert duration_loss(torch.log1p(d.float()), d, mask).item() == 0.0
