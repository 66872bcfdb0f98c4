"""dreamad: exact-solver times on the largest boards, and the time to generate every decision-accuracy set.

Each entry is the wall time from cold caches (``solvers.clear_caches()``) of the solver's full optimal-move set for
the start position (or of the quantity named), best of ``repeat`` runs, plus the number of memoised states.
"""

from __future__ import annotations

import time
from typing import Any

REPEAT = 3


def _best(fn, repeat: int = REPEAT) -> tuple[float, Any]:
    from mlrepro_dreamad.solvers import clear_caches

    best, out = float("inf"), None
    for _ in range(repeat):
        clear_caches()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(quick: bool = False) -> dict:
    from types import SimpleNamespace

    from mlrepro_dreamad.data import build_decision_sets
    from mlrepro_dreamad.games import GAME_NAMES, Chomp, CornerQueen, FibonacciNim, Kayles, make_game
    from mlrepro_dreamad.solvers import (
        brute_force_winning_moves,
        chomp_cache_size,
        fibonacci_win_table,
        kayles_grundy,
        winning_moves,
    )

    res: dict[str, Any] = {}

    def record(name: str, fn, extra=None):
        t, out = _best(fn)
        row = {"seconds": round(t, 5)}
        if extra is not None:
            row.update(extra())
        if isinstance(out, frozenset):
            row["optimal_moves"] = sorted(out)
        res[name] = row

    # paper start positions
    for name in GAME_NAMES:
        g = make_game(name)
        record(f"start.{name}", lambda g=g: winning_moves(g, g.start()))

    # Chomp (square), memoised over Young diagrams
    for n in ([6, 7] if quick else [5, 6, 7, 8, 9, 10]):
        g = Chomp(n, n, "square")
        record(f"chomp.square.{n}x{n}", lambda g=g: winning_moves(g, g.start()), lambda: {"states": chomp_cache_size()})
    for n in ([8, 50] if quick else [8, 50, 100, 150]):
        g = Chomp(2, n, "tworow")
        record(f"chomp.tworow.2x{n}", lambda g=g: winning_moves(g, g.start()), lambda: {"states": chomp_cache_size()})

    # Corner Queen: Wythoff closed form vs brute force
    for h, w in ([(16, 20), (200, 200)] if quick else [(16, 20), (200, 200), (2000, 2000)]):
        g = CornerQueen(height=h, width=w, start_row=0, start_col=w - 1)
        record(f"corner_queen.closed_form.{h}x{w}", lambda g=g: winning_moves(g, g.start()))
    g = CornerQueen()
    record("corner_queen.brute_force.16x20", lambda g=g: brute_force_winning_moves(g, g.start()))

    # Kayles: Sprague-Grundy vs brute force
    for n in ([20, 30] if quick else [20, 30, 50, 100]):
        g = Kayles(n=n)
        record(f"kayles.grundy.row{n}", lambda g=g: winning_moves(g, g.start()))
    for n in ([200] if quick else [200, 1000]):
        record(f"kayles.grundy_table.{n}", lambda n=n: kayles_grundy(n) and None)
    for n in ([12] if quick else [12, 16]):
        g = Kayles(n=n)
        record(f"kayles.brute_force.row{n}", lambda g=g: brute_force_winning_moves(g, g.start()))

    # Fibonacci NIM: O(n^2) table
    for n in ([200] if quick else [200, 1000, 2000]):
        g = FibonacciNim(n=n)
        record(f"fibonacci.dp.{n}", lambda g=g: winning_moves(g, g.start()))
    record("fibonacci.table_only.1000", lambda: fibonacci_win_table(1000, True) and None)

    # every decision-accuracy set (the mini / paper data config)
    d = SimpleNamespace(seed=0, nim_range=[5, 31], fibonacci_items=11, fibonacci_max_n=30, kayles_full=[3, 12],
                        kayles_midgame_items=10, kayles_midgame_len=[5, 12], chomp_sizes=[2, 8], chomp_tworow_items=10,
                        corner_queen_items=10)
    t, sets = _best(lambda: build_decision_sets(list(GAME_NAMES), d))
    res["decision_sets.all_games"] = {"seconds": round(t, 5), "items": {k: len(v) for k, v in sets.items()}}
    if not quick:
        d2 = SimpleNamespace(**{**d.__dict__, "chomp_sizes": [2, 10], "fibonacci_max_n": 200, "kayles_midgame_items": 100,
                                "kayles_midgame_len": [12, 30], "corner_queen_items": 100, "chomp_tworow_items": 30})
        t, sets = _best(lambda: build_decision_sets(list(GAME_NAMES), d2), repeat=1)
        res["decision_sets.large"] = {"seconds": round(t, 5), "items": {k: len(v) for k, v in sets.items()},
                                      "config": "chomp 2..10, fibonacci n<=200, 100 Kayles rows of 12-30 pins, "
                                                "100 Corner Queen, 30 two-row Chomp"}
    return res
