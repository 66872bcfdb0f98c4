"""Game engines: rules, text rendering round trips, action parsing, the official engines' quirks."""

import pytest
from mlrepro_dreamad.games import (
    GAME_NAMES,
    Chomp,
    CornerQueen,
    FibonacciNim,
    IllegalMove,
    Kayles,
    Nim,
    identify_game,
    ints_in,
    make_game,
)


@pytest.mark.parametrize("name", GAME_NAMES)
def test_prompt_round_trip_and_identification(name):
    g = make_game(name)
    games = [make_game(n) for n in GAME_NAMES]
    s = g.start()
    text = g.prompt(s)
    assert identify_game(text, games) is g or identify_game(text, games).title == g.title
    assert g.parse_state(text) == s
    # after a few legal moves the rendering still round-trips
    for _ in range(3):
        if g.is_terminal(s):
            break
        s = g.apply(s, sorted(g.legal_moves(s))[0])
        assert g.parse_state(g.prompt(s)) == s


@pytest.mark.parametrize("name", GAME_NAMES)
def test_random_playouts_terminate_with_a_winner(name):
    import numpy as np

    g = make_game(name)
    rng = np.random.default_rng(0)
    for _ in range(20):
        s, player, plies = g.start(), 1, 0
        while not g.is_terminal(s):
            moves = g.legal_moves(s)
            assert moves
            s = g.apply(s, moves[int(rng.integers(len(moves)))])
            player = 3 - player
            plies += 1
        assert g.winner_of(s, 3 - player) in (1, 2)
        assert plies >= 1


def test_nim_rules_and_clamp():
    g = Nim(n=31, k=3)
    assert g.legal_moves((2,)) == [1, 2]
    with pytest.raises(IllegalMove):
        g.apply((31,), 4)
    assert g.clamp((31,), 7) == 3 and g.clamp((31,), 0) == 1 and g.clamp((2,), 3) == 2
    assert g.winner_of((0,), 1) == 1  # normal: last mover wins
    assert Nim(misere=True).winner_of((0,), 1) == 2  # misère: last mover loses


def test_fibonacci_first_move_cannot_take_all():
    g = FibonacciNim(n=20)
    assert g.start() == (20, 19)
    assert max(g.legal_moves(g.start())) == 19  # the official engine would accept 20
    assert g.apply((20, 19), 3) == (17, 6)  # next player may take up to twice 3
    assert g.legal_moves((5, 6)) == [1, 2, 3, 4, 5]


def test_kayles_moves():
    g = Kayles(n=5)
    s = (1, 1, 0, 1, 1)
    assert set(g.legal_moves(s)) == {(0,), (1,), (0, 1), (3,), (4,), (3, 4)}
    assert g.apply(s, (0, 1)) == (0, 0, 0, 1, 1)
    with pytest.raises(IllegalMove):
        g.apply(s, (1, 2))  # pin 2 is down
    assert g.parse_action("[4, 3]") == (3, 4) and g.parse_action(2) == (2,) and g.parse_action([1, 2, 3]) is None


def test_chomp_square_orientation():
    g = Chomp(5, 5, "square")
    assert g.poison == (4, 4)
    s = g.apply(g.start(), (1, 2))  # removes rows <= 1 and cols <= 2
    gone = set(g.cells(g.start())) - set(g.cells(s))
    assert gone == {(r, c) for r in range(2) for c in range(3)}
    t = g.apply(g.start(), (4, 4))
    assert g.is_terminal(t) and g.winner_of(t, 1) == 2  # eating the poison loses


def test_chomp_tworow_orientation():
    g = Chomp(2, 8, "tworow")
    assert g.poison == (0, 0)
    s = g.apply(g.start(), (1, 7))
    assert s == (8, 7)
    s = g.apply(s, (0, 3))  # removes rows >= 0, cols >= 3
    assert s == (3, 3)
    assert g.state_from_cells(g.cells(s)) == s


def test_corner_queen_moves():
    g = CornerQueen()
    assert g.start() == (4, 16) and g.target == (15, 0)
    moves = set(g.legal_moves((13, 2)))
    assert moves == {(14, 2), (15, 2), (13, 1), (13, 0), (14, 1), (15, 0)}
    assert g.winner_of((15, 0), 2) == 2


def test_ints_in_never_evaluates():
    assert ints_in("take 3 items") == [3]
    assert ints_in([9, "10"]) == [9, 10]
    assert ints_in({"row": 3, "col": 3}) == [3, 3]
    assert ints_in("__import__('os').system('x')") is None
    assert ints_in(True) is None and ints_in(2.5) is None and ints_in(3.0) == [3]


def test_make_game_unknown():
    with pytest.raises(ValueError, match="unknown game"):
        make_game("go")
