"""method.py against the spec's tables, hand-computed values and brute force."""

import math
import random

import numpy as np
import pytest
from mlrepro_adastar.method import (
    METHODS,
    Attempt,
    HieMinHeap,
    adastar_sample,
    adastar_update,
    beta_schedule,
    cap_per_observation,
    count_sd,
    flops_to_reach,
    method_spec,
    num_updated,
    pflops_reduction,
    sft_pflops,
    star_sample_full,
    star_subsample,
    steps_schedule,
    training_counts,
    training_sequence,
)

# spec §3: beta_t per iteration (code int(40 * 1.2**(t-1)) steps x 8)
SPEC_STEPS = {1: 40, 2: 48, 3: 57, 4: 69, 5: 82, 6: 99, 7: 119, 8: 143, 9: 171, 10: 206, 12: 297, 15: 513, 20: 1277,
              25: 3179}


@pytest.mark.parametrize("t,steps", sorted(SPEC_STEPS.items()))
def test_budget_schedule_matches_spec_table(t, steps):
    assert steps_schedule(t) == steps
    assert beta_schedule(t) == 8 * steps


def test_budget_schedule_linear_and_errors():
    assert steps_schedule(3, 40, 5, exponential=False) == 50
    with pytest.raises(ValueError):
        steps_schedule(0)


# ---- FLOPs: Table 1 SFT entries (spec §2.10) -------------------------------------------------------------------
@pytest.mark.parametrize("n_params,n,seq,epochs,pflops", [
    (3.09e9, 7473, 512, 1.0, 70.9),   # SFT+8-CoT GSM8K, Qwen2.5-3B
    (3.21e9, 1418, 256, 1.0, 7.0),    # SFT ARC-C, Llama-3.2-3B
    (3.21e9, 800, 256, 5.5, 21.7),    # SFT SVAMP 5.5 epochs
    (3.21e9, 9741, 128, 1.0, 24.0),   # SFT CQA
])
def test_sft_pflops_reproduces_table1(n_params, n, seq, epochs, pflops):
    assert round(sft_pflops(n_params, n, seq, epochs), 1) == pflops


def test_flops_to_reach_and_reduction():
    accs, fl = [0.1, 0.3, 0.5, 0.5], [1, 2, 3, 4]
    assert flops_to_reach(accs, fl, 0.5) == 3
    assert flops_to_reach(accs, fl, 0.6) is None
    assert pflops_reduction(174.4, 639.8) == pytest.approx(0.727, abs=1e-3)  # ARC-C -72.7% (Table 1)
    with pytest.raises(ValueError):
        pflops_reduction(1, 0)


# ---- HieMinHeap ------------------------------------------------------------------------------------------------
def test_initial_order_string_tie_break_is_lexicographic_id():
    h = HieMinHeap(12, tie_break="string")
    assert h.order() == [0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9]  # "id_10" < "id_2", as the code
    assert HieMinHeap(12, tie_break="index").order() == list(range(12))
    r = HieMinHeap(12, tie_break="random", seed=3).order()
    assert sorted(r) == list(range(12)) and r != list(range(12))


def test_order_is_non_destructive_and_matches_pops():
    h = HieMinHeap(20, tie_break="index")
    rng = random.Random(0)
    for _ in range(20):
        h.pop()
    for i in range(20):
        h.push(i, rng.randint(0, 3), rng.choice([0.0, 0.5, 1.0]))
    o = h.order()
    assert h.order() == o and len(h) == 20
    assert [h.pop() for _ in range(20)] == o


@pytest.mark.parametrize("priority", ["t_w", "t", "w_t"])
def test_order_equals_brute_force_sort(priority):
    rng = random.Random(1)
    n = 50
    h = HieMinHeap(n, priority=priority, tie_break="index")
    for _ in range(n):
        h.pop()
    t = [rng.randint(0, 4) for _ in range(n)]
    w = [rng.choice([0.0, 0.5, 1.0]) for _ in range(n)]
    for i in range(n):
        h.push(i, t[i], w[i])
    key = {"t_w": lambda i: (t[i], w[i], i), "t": lambda i: (t[i], i), "w_t": lambda i: (w[i], t[i], i)}[priority]
    assert h.order() == sorted(range(n), key=key)


def test_stalest_first_then_hardest():
    h = HieMinHeap(4, tie_break="index")
    for _ in range(4):
        h.pop()
    h.push(0, 2, 0.0)  # recent, hard
    h.push(1, 1, 1.0)  # stale, easy
    h.push(2, 1, 0.0)  # stale, hard
    h.push(3, 1, 0.5)
    assert h.order() == [2, 3, 1, 0]
    pf = HieMinHeap(4, priority="w_t", tie_break="index")
    for _ in range(4):
        pf.pop()
    for i, (tt, ww) in enumerate([(2, 0.0), (1, 1.0), (1, 0.0), (1, 0.5)]):
        pf.push(i, tt, ww)
    assert pf.order() == [2, 0, 3, 1]  # win rate first (hardest), then staleness


def test_heap_state_roundtrip():
    h = HieMinHeap(10, tie_break="string")
    for _ in range(3):
        i = h.pop()
        h.push(i, 1, 0.5)
    h2 = HieMinHeap.from_state(h.state(), tie_break="string")
    assert h2.order() == h.order()
    hr = HieMinHeap(10, tie_break="random", seed=5)
    assert HieMinHeap.from_state(hr.state(), tie_break="random").order() == hr.order()


# ---- curriculum size -----------------------------------------------------------------------------------------
def test_num_updated_round_vs_floor():
    assert num_updated(7, 0.6, 2, "round") == 3  # 7 * 0.36 = 2.52
    assert num_updated(7, 0.6, 2, "floor") == 2
    assert num_updated(10, 0.5, 2, "round") == 2  # 2.5 -> 2 (Python's round half to even, as the code)
    assert num_updated(14, 0.5, 2, "round") == 4  # 3.5 -> 4
    assert num_updated(9, 1.0) == 9 and num_updated(9, 0.0) == 0
    assert num_updated(9, 0.3, power=0.0) == 9  # w/o AdaC updates all sampled
    assert num_updated(10, 0.7, power=1.0, rounding="floor") == 7
    with pytest.raises(ValueError):
        num_updated(5, 1.5)
    with pytest.raises(ValueError):
        num_updated(5, 0.5, rounding="ceil")


# ---- sampling with a scripted "model" --------------------------------------------------------------------------
def make_attempt(outcomes):
    """Attempt 1 reads outcomes[i][0]; the retry (hint or not) reads outcomes[i][1]."""
    seen = set()
    calls = []

    def fn(indices, hint):
        calls.append((list(indices), hint))
        out = []
        for i in indices:
            k = 1 if i in seen else 0
            seen.add(i)
            out.append(Attempt(i, f"r{i}-{k}", bool(outcomes[i][k]), hint))
        return out

    return fn, calls


def test_adastar_sample_early_stop_and_win_values():
    outcomes = {0: (1, 0), 1: (0, 1), 2: (0, 0), 3: (1, 0), 4: (1, 1), 5: (1, 1)}
    fn, calls = make_attempt(outcomes)
    res = adastar_sample([0, 1, 2, 3, 4, 5], beta=3, attempt_fn=fn, rationalize=True, batch_size=1)
    assert res.sampled == [0, 1, 2, 3]  # stops once 3 correct samples exist
    assert res.win == {0: 1.0, 1: 0.5, 2: 0.0, 3: 1.0}
    assert [a.idx for a in res.correct] == [0, 1, 3]
    assert res.alpha == pytest.approx(3 / 4)
    assert calls[2] == ([1], True) and calls[4] == ([2], True)  # rationalization only after a failure
    assert res.attempts == 6


def test_adastar_sample_batched_budget_check_and_exhaustion():
    outcomes = {i: (1, 1) for i in range(10)}
    fn, _ = make_attempt(outcomes)
    res = adastar_sample(list(range(10)), beta=3, attempt_fn=fn, batch_size=4)
    assert res.m == 4 and len(res.correct) == 4  # budget checked per generation batch (code)
    fn, _ = make_attempt({i: (0, 0) for i in range(5)})
    res = adastar_sample(list(range(5)), beta=3, attempt_fn=fn, batch_size=2)
    assert res.m == 5 and res.correct == [] and res.alpha == 0.0  # every observation visited once, then stop


def test_adastar_update_pops_top_and_leaves_rest_at_front():
    n = 8
    h = HieMinHeap(n, tie_break="index")
    outcomes = {i: (1 if i % 2 == 0 else 0, 0) for i in range(n)}
    fn, _ = make_attempt(outcomes)
    order = h.order()
    res = adastar_sample(order, beta=2, attempt_fn=fn, batch_size=1)
    assert res.sampled == [0, 1, 2] and res.alpha == pytest.approx(2 / 3)
    popped = adastar_update(h, res, t=1, power=2, rounding="round")  # round(3 * 4/9) = round(1.33) = 1
    assert popped == [0]
    assert h.t_last[0] == 1 and h.win[0] == 1.0 and h.t_last[1] == 0
    # the un-updated sampled observations (1, 2) keep (0, 0) and are sampled first next iteration
    assert h.order()[:2] == [1, 2] and h.order()[-1] == 0


def test_alpha_one_updates_all_alpha_zero_none():
    h = HieMinHeap(6, tie_break="index")
    fn, _ = make_attempt({i: (1, 1) for i in range(6)})
    res = adastar_sample(h.order(), beta=4, attempt_fn=fn)
    assert adastar_update(h, res, 1) == [0, 1, 2, 3]
    assert h.order() == [4, 5, 0, 1, 2, 3]
    h = HieMinHeap(6, tie_break="index")
    fn, _ = make_attempt({i: (0, 0) for i in range(6)})
    res = adastar_sample(h.order(), beta=4, attempt_fn=fn)
    assert res.m == 6 and adastar_update(h, res, 1) == []
    assert h.t_last == [0] * 6


def test_two_iteration_simulation_visits_everything():
    """A seeded solve-probability learner: stale observations come back; training counts even out."""
    rng = random.Random(0)
    n = 40
    p = [0.2 + 0.6 * i / n for i in range(n)]
    h = HieMinHeap(n, tie_break="index")
    counts = [0] * n

    def fn(indices, hint):
        return [Attempt(i, "", rng.random() < p[i], hint) for i in indices]

    for t in range(1, 8):
        res = adastar_sample(h.order(), beta=8, attempt_fn=fn, batch_size=1)
        data = res.correct[:8]
        counts = training_counts(n, [a.idx for a in data], counts)
        adastar_update(h, res, t)
    assert min(h.t_last) >= 0 and max(h.t_last) <= 7
    assert sum(x > 0 for x in h.t_last) > n // 2  # most observations got stamped
    assert sum(counts) == 7 * 8


def test_star_sample_full_k2_and_k5():
    fn, _ = make_attempt({i: (i % 3 == 0, i % 3 == 1) for i in range(9)})
    res = star_sample_full(9, fn, rationalize=False, batch_size=4)
    assert res.m == 9 and sorted(a.idx for a in res.correct) == [0, 1, 3, 4, 6, 7]
    assert res.win[0] == 1.0 and res.win[1] == 0.5 and res.win[2] == 0.0

    def many(indices, k):
        return [[Attempt(i, f"{j}", j < i, False) for j in range(k)] for i in indices]

    res = star_sample_full(4, k=5, attempts_fn=many, batch_size=3)
    assert res.attempts == 20 and len(res.correct) == 0 + 1 + 2 + 3
    assert res.win[3] == pytest.approx(3 / 5)
    capped = cap_per_observation(res.correct, 2)
    assert [a.idx for a in capped] == [1, 2, 2, 3, 3]


def test_star_subsample():
    rng = random.Random(0)
    xs = list(range(20))
    s = star_subsample(xs, 5, rng)
    assert len(s) == 5 and set(s) <= set(xs) and len(set(s)) == 5
    assert star_subsample(xs[:3], 5, rng) == [0, 1, 2]


def test_training_sequence_cycles_and_sd():
    assert training_sequence(3, 2, 4) == [0, 1, 2, 0, 1, 2, 0, 1]
    assert training_sequence(0, 2, 4) == []
    c = training_counts(4, [0, 0, 1, 3])
    assert c == [2, 1, 0, 1]
    assert count_sd(c) == pytest.approx(np.std(c))
    assert count_sd([1, 1, 1]) == 0.0 and count_sd([]) == 0.0
    assert math.isclose(count_sd([0, 2]), 1.0)


def test_method_table():
    assert method_spec("adastar").accumulate and method_spec("adastar").sampler == "adastar"
    assert not method_spec("star").accumulate and method_spec("star_acc").accumulate
    assert method_spec("star_full").budget == "full"
    assert method_spec("rest_em").k == 11 and method_spec("rest_em").cap == 3
    assert method_spec("star_acc_full_k").k == 5 and method_spec("star_acc_full_k").rationalize is False
    assert method_spec("adastar_no_adac").accuracy_power == 0.0
    assert set(METHODS) >= {"star", "star_acc", "star_full", "adastar"}
    with pytest.raises(ValueError):
        method_spec("nope")
