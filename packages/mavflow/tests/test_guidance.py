"""Dual classifier-free guidance: identities of both combiners and the dropout mask."""

import torch
from mlrepro_mavflow.method.guidance import (
    combine_independent,
    combine_nested,
    condition_dropout,
    guided_velocity,
    needed_conditions,
)


def _vs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, 4, generator=g) for _ in range(4)]  # v00, va0, v0v, vav


def test_zero_weights_give_fully_conditional_velocity():
    v00, va0, v0v, vav = _vs()
    assert torch.allclose(combine_nested(v00, va0, vav, 0.0, 0.0), vav)
    assert torch.allclose(combine_independent(vav, v0v, va0, 0.0, 0.0), vav)


def test_hand_values():
    v00, va0, v0v, vav = (torch.tensor(x) for x in (1.0, 2.0, 3.0, 5.0))
    # nested: 1 + 2*(2-1) + 1.5*(5-2) = 7.5
    assert combine_nested(v00, va0, vav, 1.0, 0.5).item() == 7.5
    # independent: 5 + 1*(5-3) + 0.5*(5-2) = 8.5
    assert combine_independent(vav, v0v, va0, 1.0, 0.5).item() == 8.5


def test_combiners_are_linear_in_their_inputs():
    a, b = _vs(0), _vs(1)
    for w in ((0.5, 2.0), (1.0, 0.0)):
        lhs = combine_nested(*(x + 2 * y for x, y in zip((a[0], a[1], a[3]), (b[0], b[1], b[3]))), *w)
        rhs = combine_nested(a[0], a[1], a[3], *w) + 2 * combine_nested(b[0], b[1], b[3], *w)
        assert torch.allclose(lhs, rhs, atol=1e-5)
        lhs = combine_independent(*(x + 2 * y for x, y in zip((a[3], a[2], a[1]), (b[3], b[2], b[1]))), *w)
        rhs = combine_independent(a[3], a[2], a[1], *w) + 2 * combine_independent(b[3], b[2], b[1], *w)
        assert torch.allclose(lhs, rhs, atol=1e-5)


def test_null_conditions_reduce_to_unconditional_velocity():
    v = _vs()[0]
    # with a = null and v = null every evaluation equals v(0,0)
    assert torch.allclose(combine_nested(v, v, v, 3.0, 2.0), v)
    assert torch.allclose(combine_independent(v, v, v, 3.0, 2.0), v)


def test_guided_velocity_calls_each_condition_once_per_step():
    calls = []

    def net(x, t, ks, ke):
        calls.append((ks, ke))
        return x * 0 + (2.0 if ks else 0.0) + (1.0 if ke else 0.0)

    x, t = torch.zeros(1, 1), torch.zeros(1)
    for comb in ("nested", "independent"):
        calls.clear()
        f = guided_velocity(net, comb, 1.0, 1.0)
        out = f(x, t)
        assert sorted(calls) == sorted(needed_conditions(comb, 1.0, 1.0)) and f.n_conditions == 3
        # v(0,0)=0, v(a,0)=2, v(0,v)=1, v(a,v)=3
        assert out.item() == (0 + 2 * 2 + 2 * 1 if comb == "nested" else 3 + 1 * 2 + 1 * 1)
    calls.clear()
    assert guided_velocity(net, "nested", 0.0, 0.0)(x, t).item() == 3.0 and calls == [(True, True)]


def test_condition_dropout_rate():
    g = torch.Generator().manual_seed(0)
    keep = condition_dropout(20000, 0.2, g)
    assert set(keep.unique().tolist()) <= {0.0, 1.0}
    assert abs(1 - keep.mean().item() - 0.2) < 0.01
    assert condition_dropout(5, 0.0).sum().item() == 5
