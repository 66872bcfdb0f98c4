"""Agents that play MetaNIM Arena games: scripted reference agents and LLM agents running one method.

Every agent has ``act(game, state, rng, note=None) -> (move or None, Decision or None)``. Scripted agents:

- ``random``: a uniformly random legal move;
- ``heuristic``: one-ply look-ahead: a move that wins at once, else a move that does not let the opponent win at
  once, else random (a plausible non-solver player);
- ``optimal``: a uniformly random move from the solver's full optimal set;
- ``eps_optimal``: with probability ``eps`` a uniformly random *non-optimal* legal move (when one exists), else an
  optimal move; its expected decision accuracy on states with a non-optimal move is exactly ``1 - eps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .games import Game, Move, State
from .llm import LLM
from .method import Decision, MethodParams, decide
from .solvers import optimal_moves

__all__ = ["Agent", "RandomAgent", "HeuristicAgent", "OptimalAgent", "EpsOptimalAgent", "MethodAgent",
           "make_scripted_agent", "SCRIPTED_AGENTS", "pick"]

SCRIPTED_AGENTS = ("random", "heuristic", "optimal", "eps_optimal")


class Agent(Protocol):
    name: str

    def act(self, game: Game, state: State, rng: np.random.Generator,
            note: str | None = None) -> tuple[Move | None, Decision | None]: ...


def pick(moves: list | set | frozenset, rng: np.random.Generator) -> Any:
    """A uniformly random element, reproducible for a given generator (moves are ordered by repr first)."""
    ms = sorted(moves, key=repr)
    return ms[int(rng.integers(len(ms)))]


@dataclass
class RandomAgent:
    name: str = "random"

    def act(self, game, state, rng, note=None):
        return pick(game.legal_moves(state), rng), None


@dataclass
class HeuristicAgent:
    name: str = "heuristic"

    def act(self, game, state, rng, note=None):
        legal = game.legal_moves(state)
        wins_now = [m for m in legal if _ends_and_wins(game, game._apply(state, m))]
        if wins_now:
            return pick(wins_now, rng), None
        safe = [m for m in legal if not _ends_and_loses(game, game._apply(state, m))
                and not _opponent_wins_now(game, game._apply(state, m))]
        return pick(safe or legal, rng), None


def _ends_and_wins(game: Game, after: State) -> bool:
    return game.is_terminal(after) and game.last_mover_wins


def _ends_and_loses(game: Game, after: State) -> bool:
    return game.is_terminal(after) and not game.last_mover_wins


def _opponent_wins_now(game: Game, s: State) -> bool:
    if game.is_terminal(s):
        return False
    return any(_ends_and_wins(game, game._apply(s, m)) for m in game.legal_moves(s))


@dataclass
class OptimalAgent:
    name: str = "optimal"

    def act(self, game, state, rng, note=None):
        return pick(optimal_moves(game, state), rng), None


@dataclass
class EpsOptimalAgent:
    eps: float = 0.1
    name: str = "eps_optimal"

    def __post_init__(self):
        if not 0.0 <= self.eps <= 1.0:
            raise ValueError(f"eps must be in [0, 1], got {self.eps}")

    def act(self, game, state, rng, note=None):
        opt = optimal_moves(game, state)
        wrong = [m for m in game.legal_moves(state) if m not in opt]
        if wrong and rng.random() < self.eps:
            return pick(wrong, rng), None
        return pick(opt, rng), None


@dataclass
class MethodAgent:
    """An LLM agent: ``method`` (e.g. ``dreamad``) on model ``llm``."""

    method: str
    llm: LLM
    params: MethodParams
    keep_trace: bool = False

    @property
    def name(self) -> str:
        return f"{self.llm.name}/{self.method}"

    def act(self, game, state, rng, note=None):
        d = decide(self.method, game, state, self.llm, self.params, note=note, keep_trace=self.keep_trace)
        return d.action, d


def make_scripted_agent(kind: str, eps: float = 0.1) -> Agent:
    if kind == "random":
        return RandomAgent()
    if kind == "heuristic":
        return HeuristicAgent()
    if kind == "optimal":
        return OptimalAgent()
    if kind == "eps_optimal":
        return EpsOptimalAgent(eps=eps, name=f"eps_optimal({eps:g})")
    raise ValueError(f"unknown scripted agent {kind!r}; known: {', '.join(SCRIPTED_AGENTS)}")
