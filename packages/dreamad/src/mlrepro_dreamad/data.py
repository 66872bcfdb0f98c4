"""Start positions and decision-accuracy state sets, generated from our solvers (never copied from the repo).

Start positions (the official engines' defaults; every one is a first-player win):

==================  ==================================  ===========================
game                start                               optimal first move(s)
==================  ==================================  ===========================
nim                 31 items, take 1..3                 take 3
nim_misere          31 items, take 1..3                 take 2
fibonacci           20 stones, first move 1..19         take 2
fibonacci_misere    20 stones, first move 1..19         take 1, 6 or 19
kayles              20 pins                             [9, 10]
chomp               5x5, poison (4, 4)                  [3, 3]
chomp_tworow        2x8, poison (0, 0)                  [1, 7]
corner_queen        16x20, queen at [4, 16]             [7, 13]
==================  ==================================  ===========================

Decision sets (the official ``dataset/*.json`` schema idea: the game prompt of one state plus its answer; here the
answer is the solver's *full* set of optimal moves). Only first-player-win states are used, and every state has at
least one non-optimal legal move:

- ``nim`` (spec: 21 states): n in 5..31 minus the P-positions (multiples of k+1); ``nim_misere``: the same range
  minus n = 1 (mod k+1) [ours: the repo has no misère set];
- ``fibonacci`` (spec: 11 states with ``max_take``) [INFERRED selection]: 11 N-positions drawn with the data seed,
  about half first moves (n, n-1) and half mid-game (n, 2t); ``fibonacci_misere`` likewise [ours];
- ``kayles``: full rows of 3..12 pins, then mid-game strings drawn with the data seed [INFERRED count];
- ``chomp``: full N x N boards for N = 2..8 (answer (N-2, N-2)); ``chomp_tworow`` and ``corner_queen``: N-positions
  drawn with the data seed [ours: not in the repo's datasets].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .games import Chomp, CornerQueen, FibonacciNim, Game, Kayles, Nim, make_game
from .solvers import winning_moves

__all__ = ["build_decision_set", "build_decision_sets", "game_key", "games_for_items", "item_from_state"]


def game_key(game: Game) -> str:
    """A key naming a game *with its parameters* (decision sets use boards of several sizes)."""
    return game.name + "".join(f"|{k}={v}" for k, v in sorted(game.params().items()))


def item_from_state(game: Game, s, idx: int) -> dict[str, Any]:
    win = sorted(winning_moves(game, s))
    if not win:
        raise ValueError(f"{game.name}: state {s!r} is not a first-player win")
    return {
        "id": f"{game.name}-{idx:03d}",
        "game": game.name,
        "game_key": game_key(game),
        "game_params": game.params(),
        "state": game.state_to_json(s),
        "input": game.prompt(s),
        "answers": [game.move_to_json(m) for m in win],
        "action": game.move_to_json(win[0]),
        "n_legal": len(game.legal_moves(s)),
    }


def _usable(game: Game, s) -> bool:
    w = winning_moves(game, s)
    return bool(w) and len(game.legal_moves(s)) > len(w)


def build_decision_set(name: str, dcfg: Any, params: dict | None = None) -> list[dict[str, Any]]:
    """The decision set of game ``name`` (``dcfg``: the ``data`` config section; ``params``: game overrides)."""
    params = dict(params or {})
    rng = np.random.default_rng([int(dcfg.seed), _stable(name)])
    items: list[dict[str, Any]] = []
    if name in ("nim", "nim_misere"):
        lo, hi = dcfg.nim_range
        for n in range(lo, hi + 1):
            g = make_game(name, **{**params, "n": n})
            if _usable(g, g.start()):
                items.append(item_from_state(g, g.start(), len(items)))
    elif name in ("fibonacci", "fibonacci_misere"):
        g = make_game(name, **params)
        assert isinstance(g, FibonacciNim)
        first = [(n, n - 1) for n in range(4, dcfg.fibonacci_max_n + 1)]
        mid = [(n, 2 * t) for n in range(4, dcfg.fibonacci_max_n + 1) for t in range(1, (n - 1) // 2 + 1)]
        first = [s for s in first if _usable(g, s)]
        mid = [s for s in mid if _usable(g, s)]
        k1 = dcfg.fibonacci_items // 2
        pick1 = [first[i] for i in sorted(rng.choice(len(first), size=min(k1, len(first)), replace=False))]
        pick2 = [mid[i] for i in sorted(rng.choice(len(mid), size=min(dcfg.fibonacci_items - len(pick1), len(mid)),
                                                     replace=False))]
        for s in pick1 + pick2:
            items.append(item_from_state(g, s, len(items)))
    elif name == "kayles":
        lo, hi = dcfg.kayles_full
        for n in range(lo, hi + 1):
            g = Kayles(n=n)
            items.append(item_from_state(g, g.start(), len(items)))
        lo, hi = dcfg.kayles_midgame_len
        tries = 0
        while len(items) < (dcfg.kayles_full[1] - dcfg.kayles_full[0] + 1) + dcfg.kayles_midgame_items:
            tries += 1
            if tries > 10_000:
                raise RuntimeError("could not draw enough Kayles mid-game states")
            n = int(rng.integers(lo, hi + 1))
            s = tuple(int(x) for x in (rng.random(n) < 0.7))
            g = Kayles(n=n)
            if sum(s) >= 2 and s != g.start() and _usable(g, s) and \
                    all(it["state"] != list(s) for it in items):
                items.append(item_from_state(g, s, len(items)))
    elif name == "chomp":
        lo, hi = dcfg.chomp_sizes
        for n in range(lo, hi + 1):
            g = make_game("chomp", rows=n, cols=n)
            items.append(item_from_state(g, g.start(), len(items)))
    elif name == "chomp_tworow":
        g = make_game("chomp_tworow", **params)
        assert isinstance(g, Chomp)
        cand = [(a, b) if b else (a,) for a in range(1, g.cols + 1) for b in range(0, a + 1)]
        cand = [s for s in cand if _usable(g, s)]
        for i in sorted(rng.choice(len(cand), size=min(dcfg.chomp_tworow_items, len(cand)), replace=False)):
            items.append(item_from_state(g, cand[i], len(items)))
    elif name == "corner_queen":
        g = make_game("corner_queen", **params)
        assert isinstance(g, CornerQueen)
        cand = [(r, c) for r in range(g.height) for c in range(g.width) if _usable(g, (r, c))]
        for i in sorted(rng.choice(len(cand), size=min(dcfg.corner_queen_items, len(cand)), replace=False)):
            items.append(item_from_state(g, cand[i], len(items)))
    else:
        raise ValueError(f"no decision set for game {name!r}")
    return items


def build_decision_sets(names: list[str], dcfg: Any, game_params: dict[str, dict] | None = None) -> dict[str, list]:
    return {n: build_decision_set(n, dcfg, (game_params or {}).get(n)) for n in names}


def games_for_items(items: list[dict]) -> dict[str, Game]:
    """The game object behind every ``game_key`` in ``items``."""
    out: dict[str, Game] = {}
    for it in items:
        if it["game_key"] not in out:
            p = dict(it["game_params"])
            name = it["game"]
            if name in ("nim", "nim_misere", "fibonacci", "fibonacci_misere"):
                p.pop("misere", None)
            if name in ("chomp", "chomp_tworow"):
                p.pop("orientation", None)
            out[it["game_key"]] = make_game(name, **p)
    return out


def _stable(name: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(name))


# the classes are imported for isinstance checks in callers and docs
_ = (Nim,)
