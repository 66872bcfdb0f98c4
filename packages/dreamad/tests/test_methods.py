"""Methods: LLM-call budgets (worst and best case), early stop, majority fallback, judge path, temperatures."""

import pytest
from mlrepro_dreamad.games import make_game
from mlrepro_dreamad.llm import BudgetExceeded
from mlrepro_dreamad.method import METHODS, MethodParams, call_budget, decide, majority_vote

G = make_game("nim")
S = G.start()
P = MethodParams()

EXPECTED_BUDGET = {"standard": 1, "react": 1, "cot": 1, "self_consistency": 10, "self_refine": 7, "mad": 8,
                   "mad2": 8, "dreamad": 12, "dreamad_same_prompt": 11, "dreamad_no_prior": 10,
                   "dreamad_no_debate": 4, "dreamad_minus_sc": 22, "dreamad_minus_sr": 10}
# calls when every answer is the same move (debates agree at once, refinement keeps its move)
AGREEING_CALLS = {"standard": 1, "react": 1, "cot": 1, "self_consistency": 10, "self_refine": 3, "mad": 2,
                  "mad2": 2, "dreamad": 6, "dreamad_same_prompt": 5, "dreamad_no_prior": 4, "dreamad_no_debate": 4,
                  "dreamad_minus_sc": 22, "dreamad_minus_sr": 6}


def test_budget_table():
    assert {m: call_budget(m, P) for m in METHODS} == EXPECTED_BUDGET
    assert call_budget("dreamad", MethodParams(debate_rounds=1)) == 8
    with pytest.raises(ValueError):
        call_budget("tot", P)


@pytest.mark.parametrize("method", list(METHODS))
def test_worst_case_uses_the_whole_budget(method, make_bot):
    bot, llm = make_bot(moves=(1, 2), feedback_bad=True)  # debaters never agree, refinement always changes
    d = decide(method, G, S, llm, P)
    assert d.calls["calls"] == EXPECTED_BUDGET[method]
    assert d.calls["retries"] == 0 and d.action in (1, 2)


@pytest.mark.parametrize("method", list(METHODS))
def test_agreement_stops_early(method, make_bot):
    bot, llm = make_bot(moves=(3,))
    d = decide(method, G, S, llm, P)
    assert d.calls["calls"] == AGREEING_CALLS[method]
    assert d.action == 3
    if method in ("mad", "dreamad", "mad2"):
        assert d.consensus is True and d.rounds == (1 if method == "mad2" else 0)


def test_mad_fallback_is_agent_one_on_a_tie(make_bot):
    bot, llm = make_bot(moves=(1, 2))
    d = decide("mad", G, S, llm, P)
    assert d.consensus is False and d.rounds == 3 and d.final == [1, 2] and d.action == 1
    assert majority_vote([2, 1, 1]) == 1 and majority_vote([2, 1]) == 2 and majority_vote([None, None]) is None


def test_mad2_judge_decides_without_consensus(make_bot):
    bot, llm = make_bot(moves=(1, 2, 1, 2, 1, 2, 1, 3))  # aff 1, neg 2, ... judge answers 3
    d = decide("mad2", G, S, llm, P)
    kinds = [k for k, _, _ in bot.log]
    assert kinds.count("judge") == 1 and d.action == 3 and d.consensus is False


def test_self_refine_stops_when_unchanged(make_bot):
    bot, llm = make_bot(moves=(1, 2, 2), feedback_bad=True)
    d = decide("self_refine", G, S, llm, P)
    assert d.action == 2 and d.rounds == 2 and d.calls["calls"] == 5


def test_dreamad_temperatures_and_diverse_prompts(make_bot):
    bot, llm = make_bot(moves=(1, 2))
    d = decide("dreamad", G, S, llm, MethodParams(refine_temperature=0.4), keep_trace=True)
    by_kind = {}
    for k, t, n in bot.log:
        by_kind.setdefault(k, set()).add((t, n))
    assert by_kind["abstract"] == {(0.1, 1)} and by_kind["strategy"] == {(0.1, 1)}
    assert by_kind["refine"] == {(0.4, 2)}  # two independent rewrites: one per debater
    assert by_kind["move"] == {(0.7, 1)}
    assert bot.refines == 2
    assert [t["step"] for t in d.trace][:4] == ["abstraction", "strategy", "refine_prompt", "refine_prompt"]


def test_same_prompt_ablation_asks_for_one_rewrite(make_bot):
    bot, llm = make_bot(moves=(3,))
    decide("dreamad_same_prompt", G, S, llm, P)
    assert bot.refines == 1


def test_self_consistency_samples_at_its_temperature(make_bot):
    bot, llm = make_bot(moves=(1, 1, 2, 3, 1, 2, 2, 2, 1, 1))
    d = decide("self_consistency", G, S, llm, P)
    assert [(t, n) for k, t, n in bot.log if k == "move"] == [(1.0, 10)] * 10
    assert d.action == 1 and len(d.initial) == 10


def test_unparseable_replies_are_retried_and_counted(make_bot):
    bot, llm = make_bot(moves=(3,), garbage_first=2)
    d = decide("react", G, S, llm, P)
    assert d.action == 3 and d.calls["unparseable"] == 2 and d.calls["retries"] == 2 and d.calls["calls"] == 1


def test_unparseable_to_the_end_gives_no_action(make_bot):
    bot, llm = make_bot(moves=(3,), garbage_first=100)
    d = decide("mad", G, S, llm, P)
    assert d.action is None and d.calls["gave_up"] >= 2


def test_budget_enforced_at_run_time(make_bot, monkeypatch):
    import mlrepro_dreamad.method as M

    bot, llm = make_bot(moves=(1, 2))
    monkeypatch.setattr(M, "call_budget", lambda m, p: 5)
    with pytest.raises(BudgetExceeded):
        M.decide("mad", G, S, llm, P)


def test_illegal_note_reaches_the_prompt(make_bot):
    seen = []
    bot, llm = make_bot(moves=(3,))
    orig = bot.__call__

    def spy(prompt, params, j):
        seen.append(prompt[-1]["content"])
        return orig(prompt, params, j)

    llm.sampler.fn = spy
    decide("react", G, S, llm, P, note="Note: your previous answer was not a legal move in this position: 9")
    assert "not a legal move" in seen[0]


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_plays_every_game_with_the_mock(method):
    from mlrepro_dreamad.games import GAME_NAMES
    from mlrepro_dreamad.llm import LLM
    from mlrepro_dreamad.mock import MockLLM

    from mlrepro.sampling import get_sampler

    games = [make_game(n) for n in GAME_NAMES]
    llm = LLM(get_sampler("scripted", fn=MockLLM(games, seed=1)), max_parse_retries=3)
    for g in games:
        d = decide(method, g, g.start(), llm, P)
        assert d.calls["calls"] <= EXPECTED_BUDGET[method]
        assert d.action is None or isinstance(d.action, (int, tuple))
