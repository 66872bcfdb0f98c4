"""Arena, decision accuracy, invalid-move policies, and the bias / diversity measures (ours) on hand-made records."""

from dataclasses import dataclass

import numpy as np
import pytest
from mlrepro_dreamad.agents import (
    EpsOptimalAgent,
    HeuristicAgent,
    OptimalAgent,
    RandomAgent,
    make_scripted_agent,
)
from mlrepro_dreamad.data import build_decision_sets, games_for_items
from mlrepro_dreamad.evaluate import (
    bias_reinforcement,
    hash_embed,
    mean_std,
    modal_bias,
    perspective_diversity,
    play_game,
    run_arena,
    run_decision_accuracy,
    wilson_ci,
)
from mlrepro_dreamad.games import GAME_NAMES, make_game


@pytest.mark.parametrize("name", GAME_NAMES)
@pytest.mark.parametrize("opponent", [OptimalAgent(), RandomAgent(), HeuristicAgent()])
def test_optimal_agent_wins_every_game_moving_first(name, opponent):
    res = run_arena(make_game(name), OptimalAgent(), opponent, num_games=10, passes=2, seed=0)
    assert res["win_rate_mean"] == 100.0 and res["win_rate_std"] == 0.0 and res["games"] == 20


def test_optimal_second_player_loses():
    g = make_game("nim")
    res = run_arena(g, RandomAgent(), OptimalAgent(), num_games=20, passes=1, seed=0)
    assert res["win_rate_mean"] == 0.0


@dataclass
class Fixed:
    """Always answers ``move`` (possibly illegal), then optionally ``then`` after a note."""

    move: object
    then: object = None
    name: str = "fixed"

    def act(self, game, state, rng, note=None):
        return (self.then if (note and self.then is not None) else self.move), None


def test_official_policy_clamps_nim():
    rng = np.random.default_rng(0)
    rec = play_game(make_game("nim"), Fixed(7), OptimalAgent(), rng, policy="official")
    assert rec.clamped[0] > 0 and rec.invalid[0] == rec.clamped[0] and rec.fallback[0] == 0
    assert rec.moves[0] == 3  # 7 clamped to k = 3


def test_retry_then_random_fallback():
    rng = np.random.default_rng(0)
    rec = play_game(make_game("kayles"), Fixed((25,)), RandomAgent(), rng, policy="official", max_retries=5)
    first_turn_invalid = 6  # first try + 5 retries
    assert rec.invalid[0] >= first_turn_invalid and rec.fallback[0] >= 1
    assert rec.invalid[0] == 6 * rec.fallback[0]


def test_retry_succeeds_after_note():
    rng = np.random.default_rng(0)
    rec = play_game(make_game("chomp"), Fixed((9, 9), then=(3, 3)), OptimalAgent(), rng, policy="retry_random")
    assert rec.moves[0] == [3, 3]  # the re-ask after the note gave a legal move (later turns may fall back)


def test_forfeit_policy():
    rng = np.random.default_rng(0)
    rec = play_game(make_game("corner_queen"), Fixed((0, 0)), OptimalAgent(), rng, policy="forfeit", max_retries=1)
    assert rec.forfeit == 1 and rec.winner == 2 and rec.plies == 0


def test_unknown_policy():
    with pytest.raises(ValueError):
        play_game(make_game("nim"), OptimalAgent(), OptimalAgent(), np.random.default_rng(0), policy="eval")


def test_eps_agent_accuracy_is_one_minus_eps(mini_sets):
    sets, games = mini_sets
    items = [it for v in sets.values() for it in v]
    res = run_decision_accuracy(items, games, EpsOptimalAgent(eps=0.3), passes=20, seed=0)
    lo, hi = wilson_ci(res["correct"], res["decisions"])
    assert lo <= 0.7 <= hi
    assert run_decision_accuracy(items, games, OptimalAgent(), 2, 0)["accuracy_mean"] == 1.0


def test_accuracy_mean_std_over_passes(mini_sets):
    sets, games = mini_sets
    res = run_decision_accuracy(sets["nim"], games, RandomAgent(), passes=5, seed=1)
    mu, sd = mean_std(res["per_pass"])
    assert res["accuracy_mean"] == pytest.approx(mu) and res["accuracy_std"] == pytest.approx(sd)
    assert len(res["records"]) == 5 * len(sets["nim"])


def test_wilson_and_mean_std():
    lo, hi = wilson_ci(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert mean_std([1.0, 0.952, 1.0, 1.0, 1.0])[1] == pytest.approx(0.0192, abs=1e-3)  # population std


def test_make_scripted_agent():
    assert make_scripted_agent("eps_optimal", 0.2).eps == 0.2
    with pytest.raises(ValueError):
        make_scripted_agent("oracle")
    with pytest.raises(ValueError):
        EpsOptimalAgent(eps=1.5)


def _rec(i, move, correct, initial=None, initial_correct=None, consensus=None, reasonings=None):
    r = {"id": i, "move": move, "correct": correct}
    if initial is not None:
        r.update(initial=initial, initial_correct=initial_correct, consensus=consensus, reasonings=reasonings or [])
    return r


def test_modal_bias():
    recs = [_rec("a", 3, False), _rec("a", 3, False), _rec("a", 1, True), _rec("b", 2, True), _rec("b", 2, True)]
    out = modal_bias(recs)
    assert out["modal_bias"] == 0.5 and out["action_histogram"] == {"3": 2, "1": 1, "2": 2}


def test_bias_reinforcement_and_diversity():
    recs = [
        _rec("a", 3, False, [3, 3], [False, False], True, ["take three now", "take three now"]),  # shared wrong, kept
        _rec("b", 1, True, [3, 3], [False, False], False, ["x", "y"]),  # shared wrong, escaped
        _rec("c", 1, True, [1, 3], [True, False], True, ["count to four", "grab the most"]),  # disagreement, fixed
        _rec("d", 2, False, [1, 2], [True, False], True, ["a b", "c d"]),  # disagreement, wrong consensus
    ]
    br = bias_reinforcement(recs)
    assert br["shared_wrong_start"] == 2 and br["bias_reinforcement"] == 0.5
    assert br["wrong_consensus_rate"] == 0.5
    assert br["initial_accuracy"] == 0.25 and br["final_accuracy"] == 0.5 and br["delta_accuracy"] == 0.25
    assert br["recovered_when_one_right"] == 0.5
    div = perspective_diversity(recs)
    assert div["initial_disagreement"] == 0.5
    assert 0 < div["reasoning_dissimilarity"] <= 2


def test_hash_embed():
    a, b = hash_embed("take three items now"), hash_embed("take three items now")
    assert a @ b == pytest.approx(1.0)
    assert abs(hash_embed("alpha beta gamma") @ hash_embed("delta epsilon zeta")) < 0.5
    assert np.linalg.norm(hash_embed("")) == 0


@pytest.fixture(scope="module")
def mini_sets():
    from types import SimpleNamespace as NS

    d = NS(seed=0, nim_range=[5, 31], fibonacci_items=11, fibonacci_max_n=30, kayles_full=[3, 12],
           kayles_midgame_items=10, kayles_midgame_len=[5, 12], chomp_sizes=[2, 6], chomp_tworow_items=10,
           corner_queen_items=10)
    sets = build_decision_sets(list(GAME_NAMES), d)
    return sets, games_for_items([it for v in sets.values() for it in v])
