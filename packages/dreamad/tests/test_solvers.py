"""Exact solvers against the spec's ground truths and against brute-force minimax."""

import itertools

import pytest
from mlrepro_dreamad.games import Chomp, CornerQueen, FibonacciNim, Kayles, Nim, make_game
from mlrepro_dreamad.solvers import (
    brute_force_is_winning,
    brute_force_winning_moves,
    is_winning,
    kayles_grundy,
    optimal_moves,
    winning_moves,
    wythoff_is_p,
    zeckendorf,
)

SPEC_FIRST_MOVES = {  # spec §2.2 "optimal first move from the start"
    "nim": {3}, "nim_misere": {2}, "fibonacci": {2}, "fibonacci_misere": {1, 6, 19}, "kayles": {(9, 10)},
    "chomp": {(3, 3)}, "chomp_tworow": {(1, 7)}, "corner_queen": {(7, 13)},
}


@pytest.mark.parametrize("name", sorted(SPEC_FIRST_MOVES))
def test_start_positions_are_first_player_wins_with_spec_moves(name):
    g = make_game(name)
    assert is_winning(g, g.start())
    assert set(winning_moves(g, g.start())) == SPEC_FIRST_MOVES[name]


def test_kayles_grundy_values():
    assert [kayles_grundy(n) for n in range(21)] == [0, 1, 2, 3, 1, 4, 3, 2, 1, 4, 2, 6, 4, 1, 2, 7, 1, 4, 3, 2, 1]


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("misere", [False, True])
def test_nim_closed_form_vs_brute_force(k, misere):
    for n in range(1, 41):
        g = Nim(n=n, k=k, misere=misere)
        assert winning_moves(g, (n,)) == brute_force_winning_moves(g, (n,)), (n, k, misere)


@pytest.mark.parametrize("misere", [False, True])
def test_fibonacci_dp_vs_brute_force(misere):
    g = FibonacciNim(n=30, misere=misere)
    for n in range(1, 26):
        for m in range(1, n + 1):
            assert winning_moves(g, (n, m)) == brute_force_winning_moves(g, (n, m)), (n, m)


def test_fibonacci_zeckendorf_rule():
    g = FibonacciNim(n=60)
    fibs = {1, 2, 3, 5, 8, 13, 21, 34, 55}
    for n in range(2, 60):
        first = (n, n - 1)
        assert is_winning(g, first) == (n not in fibs)  # P-starts are the Fibonacci numbers
        if n not in fibs:
            assert min(zeckendorf(n)) in winning_moves(g, first)
    assert zeckendorf(20) == [13, 5, 2]


def test_kayles_grundy_vs_brute_force_all_rows():
    for n in range(1, 11):
        g = Kayles(n=n)
        for bits in itertools.product((0, 1), repeat=n):
            assert winning_moves(g, bits) == brute_force_winning_moves(g, bits), bits


@pytest.mark.parametrize("rows,cols,orientation", [(4, 4, "square"), (3, 5, "square"), (2, 8, "tworow"), (3, 4, "tworow")])
def test_chomp_memo_vs_brute_force(rows, cols, orientation):
    g = Chomp(rows, cols, orientation)
    states = set()
    frontier = [g.start()]
    while frontier:  # every reachable position
        s = frontier.pop()
        if s in states or g.is_terminal(s):
            continue
        states.add(s)
        frontier += [g._apply(s, m) for m in g.legal_moves(s)]
    memo: dict = {}
    for s in states:
        assert is_winning(g, s) == brute_force_is_winning(g, s, memo), s
        assert winning_moves(g, s) == brute_force_winning_moves(g, s), s


def test_square_chomp_answer_is_the_square():
    for n in range(2, 8):
        g = Chomp(n, n, "square")
        assert winning_moves(g, g.start()) == {(n - 2, n - 2)}


def test_two_row_chomp_p_positions():
    g = Chomp(2, 8, "tworow")
    for a in range(1, 9):
        for b in range(0, a + 1):
            s = (a, b) if b else (a,)
            assert is_winning(g, s) == (a != b + 1), s


def test_wythoff_closed_form_vs_brute_force():
    g = CornerQueen(height=12, width=14, start_row=0, start_col=13)
    memo: dict = {}
    for r in range(12):
        for c in range(14):
            s = (r, c)
            if g.is_terminal(s):
                continue
            assert brute_force_is_winning(g, s, memo) == (not wythoff_is_p(*g.distances(s))), s
            assert winning_moves(g, s) == brute_force_winning_moves(g, s)
    assert [k for k in range(30) if wythoff_is_p(k, k + 0)][:1] == [0]
    assert wythoff_is_p(8, 13) and wythoff_is_p(13, 8) and not wythoff_is_p(11, 16)


def test_optimal_moves_from_a_losing_position_is_every_move():
    g = Nim(n=8, k=3)
    assert not is_winning(g, (8,))
    assert optimal_moves(g, (8,)) == frozenset({1, 2, 3})
    assert optimal_moves(g, (7,)) == frozenset({3})
