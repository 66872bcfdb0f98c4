"""method.py against hand values, brute force and scripted models (no torch)."""

from __future__ import annotations

import math
import random

import pytest
from mlrepro_smart.method import (
    Beam,
    ConfidenceScorer,
    SearchParams,
    Step,
    StepRequest,
    aggregate_scores,
    call_seed,
    confidence_score,
    confidence_scores,
    dedup_indices,
    finalize_completed,
    intervention_indices,
    replicate,
    search,
    select_answer,
    split_steps,
    top_indices,
)

# ---------------------------------------------------------------------------------------------------------------
# scoring utilities
# ---------------------------------------------------------------------------------------------------------------


def test_confidence_scores_closed_form():
    lp = [math.log(0.5), math.log(0.25)]
    c = confidence_scores(lp)
    assert c["likelihood"] == pytest.approx(0.125)
    assert c["likelihood_mean"] == pytest.approx(math.sqrt(0.125))
    assert c["probs_mean"] == pytest.approx(0.375)
    assert confidence_score(lp, "probs_mean") == pytest.approx(0.375)
    assert confidence_scores([]) == {"likelihood": 1.0, "likelihood_mean": 1.0, "probs_mean": 1.0}
    # AM >= GM >= product for probabilities
    rng = random.Random(0)
    for _ in range(50):
        lp = [math.log(rng.uniform(0.01, 1)) for _ in range(rng.randint(1, 8))]
        c = confidence_scores(lp)
        assert c["probs_mean"] >= c["likelihood_mean"] - 1e-12 >= c["likelihood"] - 2e-12
    with pytest.raises(ValueError):
        confidence_score([0.5])  # a log-probability above 0
    with pytest.raises(ValueError):
        confidence_score([-1.0], "entropy")


def test_aggregate_scores():
    s = [0.9, 0.2, 0.5]
    assert aggregate_scores(s, "last") == 0.5
    assert aggregate_scores(s, "min") == 0.2
    assert aggregate_scores(s, "prod") == pytest.approx(0.09)
    assert aggregate_scores([], "last") == 0.0
    with pytest.raises(ValueError):
        aggregate_scores(s, "mean")


def test_split_steps():
    assert split_steps("a = 1\n\nb = 2\n\n\n\n\\boxed{2}") == ["a = 1", "b = 2", "\\boxed{2}"]


def test_dedup_top_intervention_replicate():
    assert dedup_indices(["a", "b", "a", "c", "b"]) == [0, 1, 3]
    assert top_indices([0.1, 0.9, 0.5, 0.9], 2) == [1, 3]  # ties: the later index ranks higher (stable argsort)
    assert sorted(top_indices([0.3, 0.1, 0.2], 2)) == [0, 2]
    assert top_indices([0.3], 0) == []
    assert intervention_indices([0.1, 0.9, 0.5, 0.95], [1, 2, 3], tau=0.92) == [1, 2]
    assert intervention_indices([0.1, 0.9], [0, 1], tau=0.0) == []  # tau = 0: never
    assert intervention_indices([0.0, 1.0], [0, 1], tau=1.01) == [0, 1]  # tau > 1: always
    a, b = Beam(0, 0), Beam(0, 1)
    rep = replicate([a, b], 5)
    assert [x.index for x in rep] == [0, 1, 0, 1, 0] and all(x is not a and x is not b for x in rep)
    same = [a, b]
    assert replicate(same, 2) is same
    with pytest.raises(ValueError):
        replicate([], 3)


def test_finalize_completed_sort_and_pad():
    bs = [Beam(0, i, scores=[s]) for i, s in enumerate([0.2, 0.8, 0.5])]
    out = finalize_completed(bs, 2, sort_completed=True, agg="last")
    assert [b.index for b in out] == [1, 2]
    out = finalize_completed(bs, 2, sort_completed=False, agg="last")
    assert [b.index for b in out] == [0, 1]
    out = finalize_completed(bs[:1], 3, sort_completed=True, agg="last")
    assert len(out) == 3 and {b.index for b in out} == {0}
    assert finalize_completed([], 3, True, "last") == []


def test_select_answer_rules():
    answers = ["1", "2", "2", "3", None]
    scores = [0.7, 0.4, 0.4, 0.1, 0.99]
    assert select_answer(answers, scores, "naive") == 0  # highest-scoring parseable answer
    assert select_answer(answers, scores, "weighted") in (1, 2)  # "2": 0.8 > 0.7
    assert select_answer(answers, scores, "maj") in (1, 2)
    assert select_answer(answers, scores, "weighted", n=1) == 0
    assert select_answer(answers, scores, "maj", n=2) == 0  # tie 1-1: the group seen first
    assert select_answer([None, None], [0.1, 0.5], "weighted") == 1
    assert select_answer([], [], "naive") == -1
    # equivalence through a custom predicate
    eq = lambda a, b: float(a) == float(b)  # noqa: E731
    assert select_answer(["2", "2.0", "3"], [0.3, 0.3, 0.5], "weighted", equiv=eq) in (0, 1)
    with pytest.raises(ValueError):
        select_answer(["1"], [0.1], "best")


def test_call_seed_stable_and_distinct():
    assert call_seed(0, 3, "slm") == call_seed(0, 3, "slm")
    assert len({call_seed(0, i, r) for i in range(5) for r in ("slm", "llm")}) == 10


def test_search_params_validation():
    with pytest.raises(ValueError):
        SearchParams(n=2, beam_width=3)
    with pytest.raises(ValueError):
        SearchParams(agg_strategy="mean")
    assert SearchParams(n=16, beam_width=4).keep == 4


# ---------------------------------------------------------------------------------------------------------------
# the search with scripted models: a world of K steps; a correct step is "okK", the SLM sometimes writes "badK"
# ---------------------------------------------------------------------------------------------------------------

K = 3


class FakeGen:
    """Scripted step model: step k of a prefix with k steps; the last step (k == K) is "ans" and ends the solution.
    Each step costs ``cost`` tokens. The SLM writes a bad step with probability ``p_bad`` (seeded per row)."""

    def __init__(self, role: str, p_bad: float, cost: int, conf_ok: float = 0.99, conf_bad: float = 0.4):
        self.role, self.p_bad, self.cost = role, p_bad, cost
        self.conf_ok, self.conf_bad = conf_ok, conf_bad
        self.calls: list[tuple[int, bool, int]] = []  # (n requests, final, seed)
        self.requests: list[StepRequest] = []

    def generate_steps(self, requests, final, seed):
        self.calls.append((len(requests), final, seed))
        self.requests += requests
        out = []
        for i, r in enumerate(requests):
            k = r.prefix.count("\n\n")
            rng = random.Random(seed * 1000 + i)
            bad = rng.random() < self.p_bad
            if k >= K or final:
                lp = [math.log(self.conf_ok)] * self.cost
                out.append(Step("ans", self.cost, lp, True, "eos"))
            else:
                c = self.conf_bad if bad else self.conf_ok
                out.append(Step(f"{'bad' if bad else 'ok'}{k}-{rng.randint(0, 9)}\n\n", self.cost,
                                [math.log(c)] * self.cost))
        return out


class OracleScorer:
    """PRM stand-in: a step scores 1 if good ("ok"/"ans"), 0.2 if bad."""

    name = "oracle"
    keep_scores_on_intervention = False

    def __init__(self, value_bad: float = 0.2, value_ok: float = 1.0):
        self.value_bad, self.value_ok = value_bad, value_ok

    def score(self, questions, steps):
        return [[self.value_bad if s.text.startswith("bad") else self.value_ok for s in sol] for sol in steps]


def _run(tau=0.9, n=4, m=1, p_bad=0.5, helper=True, scorer=None, questions=("q0", "q1", "q2"), seed=0, iters=10):
    slm, llm = FakeGen("slm", p_bad, cost=2), FakeGen("llm", 0.0, cost=5)
    params = SearchParams(n=n, beam_width=m, tau=tau, num_iterations=iters, sort_completed=m == 1)
    res = search(list(questions), slm, scorer or OracleScorer(), params, helper=llm if helper else None, seed=seed)
    return res, slm, llm


def test_tau_zero_is_slm_only_exactly():
    r0, _, llm0 = _run(tau=0.0)
    rs, _, _ = _run(helper=False)
    assert [x.texts for x in r0] == [x.texts for x in rs]
    assert [x.scores for x in r0] == [x.scores for x in rs]
    assert llm0.calls == [] and all(x.generated_tokens.get("llm", 0) == 0 for x in r0)


def test_tau_above_every_score_replaces_every_surviving_step():
    res, slm, llm = _run(tau=1.01, p_bad=0.3)
    for r in res:
        for b in r.completions:
            roles = [s.role for s in b.steps]
            assert roles[:-1] == ["llm"] * (len(roles) - 1)  # every non-final step is the LLM's
            assert roles[-1] == "slm" and b.steps[-1].text == "ans"  # the SLM's EOS step is never corrected
            assert "bad" not in b.text
    # each LLM call answers exactly the surviving, unfinished beams of that iteration
    assert sum(c[0] for c in llm.calls) == sum(r.n_interventions for r in res)


def test_oracle_smart_fixes_every_bad_step_and_counts_tokens():
    res, slm, llm = _run(tau=0.5, p_bad=0.5)
    n_bad_rejected = 0
    for r in res:
        for b in r.completions:
            assert "bad" not in b.text
            for iv in b.interventions:
                assert iv.old_text.startswith("bad") and iv.old_score < 0.5 and iv.new_score == 1.0
        n_bad_rejected += r.n_interventions
        # accounting: all SLM tokens (kept or rejected) and all LLM tokens
        assert r.generated_tokens["slm"] == 2 * r.calls["slm"]
        assert r.generated_tokens.get("llm", 0) == 5 * r.calls.get("llm", 0) == 5 * r.n_interventions
    assert len(slm.requests) >= n_bad_rejected > 0
    assert sum(c[0] for c in llm.calls) == n_bad_rejected


def test_llm_step_always_accepted_even_if_scored_low():
    res, slm, llm = _run(tau=0.5, p_bad=0.0, scorer=OracleScorer(value_bad=0.0, value_ok=0.0))
    # every score is 0 < tau: every surviving unfinished SLM step is replaced once, and the LLM step is kept
    for r in res:
        for b in r.completions:
            assert [s.role for s in b.steps][:-1] == ["llm"] * (len(b.steps) - 1)
            assert all(iv.new_score == 0.0 for iv in b.interventions)


def test_beam_search_prunes_and_only_survivors_are_corrected():
    res, slm, llm = _run(tau=0.5, n=4, m=2, p_bad=0.5, questions=("q0",), iters=10)
    # per iteration at most N // M = 2 interventions for one problem
    assert all(c[0] <= 2 for c in llm.calls)
    # N requests per SLM call while the problem is live
    assert all(c[0] == 4 for c in slm.calls)
    assert len(res[0].completions) == 4


def test_final_iteration_writes_to_the_end():
    res, slm, llm = _run(tau=0.0, iters=2, p_bad=0.0)
    assert [c[1] for c in slm.calls] == [False, True]
    for r in res:
        for b in r.completions:
            assert b.steps[-1].text == "ans" and b.completed


def test_duplicates_filtered_and_replicated():
    class Det(FakeGen):
        def generate_steps(self, requests, final, seed):
            self.calls.append((len(requests), final, seed))
            out = []
            for r in requests:
                k = r.prefix.count("\n\n")
                out.append(Step("ans", 1, [0.0], True, "eos") if k >= K else Step(f"ok{k}\n\n", 1, [0.0]))
            return out

    slm = Det("slm", 0.0, 1)
    res = search(["q"], slm, OracleScorer(), SearchParams(n=4, beam_width=1, tau=0.0, num_iterations=10))
    assert len(res[0].completions) == 4 and len(set(res[0].texts)) == 1
    assert all(c[0] == 4 for c in slm.calls)  # dedup leaves 1, replication restores N


def test_confidence_scorer_keeps_slm_scores_on_intervention():
    res, slm, llm = _run(tau=0.6, p_bad=0.5, scorer=ConfidenceScorer("probs_mean"))
    seen = 0
    for r in res:
        for b in r.completions:
            assert len(b.scores) == len(b.steps)
            for iv in b.interventions:
                seen += 1
                assert iv.old_score == pytest.approx(0.4)  # the SLM's confidence of the rejected bad step
            for st, sc in zip(b.steps, b.scores):
                if st.role == "llm":
                    assert sc == pytest.approx(0.4)  # kept from the SLM step it replaced, not re-scored
    assert seen > 0


def test_llm_completed_beam_leaves_active_set():
    class EndingLLM(FakeGen):
        def generate_steps(self, requests, final, seed):
            self.calls.append((len(requests), final, seed))
            return [Step("ans", 3, [0.0], True, "eos") for _ in requests]

    slm, llm = FakeGen("slm", 1.0, 2), EndingLLM("llm", 0.0, 3)
    res = search(["q"], slm, OracleScorer(), SearchParams(n=2, tau=0.5, num_iterations=6), helper=llm)
    # iteration 0: both SLM steps are bad -> both replaced by a finishing LLM step -> the problem is done
    assert len(slm.calls) == 1 and len(llm.calls) == 1
    assert all(b.text == "ans" and b.steps[0].role == "llm" for b in res[0].completions)


def test_generator_roles_must_differ():
    g = FakeGen("slm", 0.0, 1)
    with pytest.raises(ValueError):
        search(["q"], g, OracleScorer(), SearchParams(n=1), helper=FakeGen("slm", 0.0, 1))
