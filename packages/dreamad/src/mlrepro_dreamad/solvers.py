"""Exact solvers for every MetaNIM Arena game: the full set of optimal moves for any state.

- NIM (normal / misère): closed form, P-positions n = 0 (mod k+1) resp. n = 1 (mod k+1).
- Fibonacci NIM: dynamic programme over (n, max_take), O(n^2) with the recurrence
  win(n, m) = win(n, m-1) or not win(n-m, min(2m, n-m)); plus the Zeckendorf rule (normal play) as a cross-check.
- Kayles: Sprague-Grundy values G(n) = mex{G(a) xor G(b) : a+b = n-1 or n-2}; a position is the xor over runs.
- Chomp: memoised search over Young diagrams (row-length vectors).
- Corner Queen: Wythoff's closed form, P-positions (floor(k phi), floor(k phi^2)) computed in exact integers.
- ``brute_force_winning_moves``: game-independent memoised minimax, used by the tests to check all the above.

Convention: ``optimal_moves(game, s)`` is the set of winning moves when the player to move can force a win;
from a losing position (no winning move exists) every legal move is equally optimal and all are returned.
"""

from __future__ import annotations

from functools import cache
from math import isqrt

from .games import Chomp, CornerQueen, FibonacciNim, Game, Kayles, Move, Nim, State, chomp_internal

__all__ = [
    "is_winning", "winning_moves", "optimal_moves", "brute_force_is_winning", "brute_force_winning_moves",
    "kayles_grundy", "kayles_position_grundy", "fibonacci_win_table", "zeckendorf", "wythoff_is_p",
    "chomp_is_winning", "chomp_cache_size", "clear_caches",
]


# ------------------------------------------------------------------------------------------------------
# generic brute force (tests only: exponential for big boards, but memoised)
# ------------------------------------------------------------------------------------------------------
def brute_force_is_winning(game: Game, s: State, _memo: dict | None = None) -> bool:
    """True iff the player to move wins with perfect play (plain memoised minimax over ``game``'s engine)."""
    memo = {} if _memo is None else _memo
    return _bf(game, s, memo)


def _bf(game: Game, s: State, memo: dict) -> bool:
    if s in memo:
        return memo[s]
    if game.is_terminal(s):
        # game over: the "player to move" is the winner iff the last mover lost
        v = not game.last_mover_wins
    else:
        v = any(not _bf(game, game._apply(s, m), memo) for m in game.legal_moves(s))
    memo[s] = v
    return v


def brute_force_winning_moves(game: Game, s: State) -> frozenset:
    memo: dict = {}
    return frozenset(m for m in game.legal_moves(s) if not _bf(game, game._apply(s, m), memo))


# ------------------------------------------------------------------------------------------------------
# NIM
# ------------------------------------------------------------------------------------------------------
def _nim_winning(g: Nim, s) -> frozenset:
    n = s[0]
    if n == 0:
        return frozenset()
    t = (n - 1) % (g.k + 1) if g.misere else n % (g.k + 1)
    return frozenset({t}) if t != 0 else frozenset()


# ------------------------------------------------------------------------------------------------------
# Fibonacci NIM
# ------------------------------------------------------------------------------------------------------
_FIB_TABLES: dict[bool, list[list[bool]]] = {}


def fibonacci_win_table(nmax: int, misere: bool) -> list[list[bool]]:
    """``T[n][m]`` (0 <= m <= n <= nmax): the player to move wins with n stones left and at most m to take.

    ``T[0][0]`` is the terminal position: the player to move there won iff the game is misère."""
    tab = _FIB_TABLES.get(misere)
    if tab is not None and len(tab) > nmax:
        return tab
    tab = [[misere]]  # n = 0
    for n in range(1, nmax + 1):
        row = [False] * (n + 1)
        for m in range(1, n + 1):
            r = n - m
            row[m] = row[m - 1] or not tab[r][min(2 * m, r)]
        tab.append(row)
    _FIB_TABLES[misere] = tab
    return tab


def _fib_winning(g: FibonacciNim, s) -> frozenset:
    n, mx = s
    mx = min(mx, n)
    if n == 0:
        return frozenset()
    tab = fibonacci_win_table(n, g.misere)
    return frozenset(t for t in range(1, mx + 1) if not tab[n - t][min(2 * t, n - t)])


def zeckendorf(n: int) -> list[int]:
    """Zeckendorf decomposition of n >= 1 (non-consecutive Fibonacci numbers 1, 2, 3, 5, ...), largest first."""
    if n < 1:
        raise ValueError("n must be >= 1")
    fibs = [1, 2]
    while fibs[-1] <= n:
        fibs.append(fibs[-1] + fibs[-2])
    out = []
    for f in reversed(fibs):
        if f <= n:
            out.append(f)
            n -= f
    return out


# ------------------------------------------------------------------------------------------------------
# Kayles
# ------------------------------------------------------------------------------------------------------
_KAYLES_G: list[int] = [0]


def kayles_grundy(n: int) -> int:
    """Grundy value of a run of n standing pins (0, 1, 2, 3, 1, 4, 3, 2, 1, 4, 2, 6, ...)."""
    while len(_KAYLES_G) <= n:
        m = len(_KAYLES_G)
        opts = {_KAYLES_G[a] ^ _KAYLES_G[m - 1 - a] for a in range(m)}
        opts |= {_KAYLES_G[a] ^ _KAYLES_G[m - 2 - a] for a in range(m - 1)}
        g = 0
        while g in opts:
            g += 1
        _KAYLES_G.append(g)
    return _KAYLES_G[n]


def _runs(s) -> list[int]:
    out, cur = [], 0
    for v in s:
        if v:
            cur += 1
        elif cur:
            out.append(cur)
            cur = 0
    if cur:
        out.append(cur)
    return out


def kayles_position_grundy(s) -> int:
    x = 0
    for r in _runs(s):
        x ^= kayles_grundy(r)
    return x


def _kayles_winning(g: Kayles, s) -> frozenset:
    total = kayles_position_grundy(s)
    if total == 0:
        return frozenset()
    # a move changes one run only: XOR it out and the new pieces in (cheap: no full recount)
    out = []
    i, n = 0, len(s)
    while i < n:
        if not s[i]:
            i += 1
            continue
        j = i
        while j < n and s[j]:
            j += 1
        L = j - i
        rest = total ^ kayles_grundy(L)
        for a in range(L):  # knock pin i+a: runs a and L-1-a
            if rest ^ kayles_grundy(a) ^ kayles_grundy(L - 1 - a) == 0:
                out.append((i + a,))
        for a in range(L - 1):  # knock pins i+a, i+a+1: runs a and L-2-a
            if rest ^ kayles_grundy(a) ^ kayles_grundy(L - 2 - a) == 0:
                out.append((i + a, i + a + 1))
        i = j
    return frozenset(out)


# ------------------------------------------------------------------------------------------------------
# Chomp
# ------------------------------------------------------------------------------------------------------
@cache
def chomp_is_winning(s: tuple[int, ...]) -> bool:
    """Player to move wins on Young diagram ``s`` (poison at the origin; eating it loses).

    The empty board is only reached by eating the poison, so there the player to move has already won."""
    if not s:
        return True
    if s == (1,):
        return False  # only the poison is left
    for R in range(len(s)):
        for C in range(s[R]):
            if R == 0 and C == 0:
                continue  # eating the poison never wins
            if not chomp_is_winning(chomp_internal(s, R, C)):
                return True
    return False


def chomp_cache_size() -> int:
    return chomp_is_winning.cache_info().currsize


def _chomp_winning(g: Chomp, s) -> frozenset:
    out = []
    for R in range(len(s)):
        for C in range(s[R]):
            if (R, C) == (0, 0):
                continue
            if not chomp_is_winning(chomp_internal(s, R, C)):
                out.append(g.to_engine((R, C)))
    return frozenset(out)


# ------------------------------------------------------------------------------------------------------
# Corner Queen (Wythoff)
# ------------------------------------------------------------------------------------------------------
def wythoff_is_p(a: int, b: int) -> bool:
    """(a, b) is a P-position of Wythoff's game: {a, b} = {floor(k phi), floor(k phi) + k} for some k >= 0.

    floor(k phi) = (k + isqrt(5 k^2)) // 2 exactly (no floating point)."""
    a, b = min(a, b), max(a, b)
    k = b - a
    return a == (k + isqrt(5 * k * k)) // 2


def _queen_winning(g: CornerQueen, s) -> frozenset:
    return frozenset(m for m in g.legal_moves(s) if wythoff_is_p(*g.distances(m)))


# ------------------------------------------------------------------------------------------------------
# dispatch
# ------------------------------------------------------------------------------------------------------
def winning_moves(game: Game, s: State) -> frozenset:
    """Every move after which the opponent (to move) loses with perfect play; empty from a losing position."""
    if game.is_terminal(s):
        return frozenset()
    if isinstance(game, Nim):
        return _nim_winning(game, s)
    if isinstance(game, FibonacciNim):
        return _fib_winning(game, s)
    if isinstance(game, Kayles):
        return _kayles_winning(game, s)
    if isinstance(game, Chomp):
        return _chomp_winning(game, s)
    if isinstance(game, CornerQueen):
        return _queen_winning(game, s)
    return brute_force_winning_moves(game, s)


def is_winning(game: Game, s: State) -> bool:
    """True iff the player to move can force a win (for a terminal state: iff that player is the winner)."""
    if game.is_terminal(s):
        return not game.last_mover_wins
    return bool(winning_moves(game, s))


def optimal_moves(game: Game, s: State) -> frozenset[Move]:
    """The full set of optimal moves: the winning moves, or every legal move from a losing position."""
    w = winning_moves(game, s)
    return w if w else frozenset(game.legal_moves(s))


def clear_caches() -> None:
    """Forget memoised tables (for benchmarks)."""
    chomp_is_winning.cache_clear()
    _FIB_TABLES.clear()
    del _KAYLES_G[1:]
