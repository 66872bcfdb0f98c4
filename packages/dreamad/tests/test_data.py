"""Decision-accuracy sets: sizes, answers from the solvers, determinism."""

from types import SimpleNamespace as NS

from mlrepro_dreamad.data import build_decision_set, games_for_items
from mlrepro_dreamad.solvers import brute_force_winning_moves, winning_moves

D = NS(seed=0, nim_range=[5, 31], fibonacci_items=11, fibonacci_max_n=30, kayles_full=[3, 12], kayles_midgame_items=10,
       kayles_midgame_len=[5, 12], chomp_sizes=[2, 6], chomp_tworow_items=10, corner_queen_items=10)


def test_nim_set_is_the_spec_set():
    items = build_decision_set("nim", D)
    assert len(items) == 21  # n in 5..31 minus multiples of 4
    assert [it["state"][0] for it in items] == [n for n in range(5, 32) if n % 4]
    assert all(it["answers"] == [it["state"][0] % 4] for it in items)


def test_sizes_and_answers_match_brute_force():
    for name, n in [("nim_misere", 20), ("fibonacci", 11), ("fibonacci_misere", 11), ("kayles", 20), ("chomp", 5),
                    ("chomp_tworow", 10), ("corner_queen", 10)]:
        items = build_decision_set(name, D)
        assert len(items) == n, name
        games = games_for_items(items)
        for it in items:
            g = games[it["game_key"]]
            s = g.state_from_json(it["state"])
            ans = {g.move_from_json(a) for a in it["answers"]}
            assert ans == set(winning_moves(g, s)) == set(brute_force_winning_moves(g, s)) if name != "corner_queen" \
                else ans == set(winning_moves(g, s))
            assert it["n_legal"] > len(ans)  # there is a wrong move to make
            assert g.parse_state(it["input"]) == s


def test_square_chomp_items_answer_n_minus_two():
    items = build_decision_set("chomp", D)
    assert [it["answers"] for it in items] == [[[n - 2, n - 2]] for n in range(2, 7)]


def test_kayles_full_rows_include_centre_move():
    items = build_decision_set("kayles", D)
    for it in items[:10]:
        n = len(it["state"])
        centre = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
        assert centre in it["answers"]


def test_deterministic_given_seed():
    assert build_decision_set("kayles", D) == build_decision_set("kayles", D)
    other = NS(**{**D.__dict__, "seed": 1})
    assert build_decision_set("corner_queen", D) != build_decision_set("corner_queen", other)
