"""Scoring: the win-rate arena, decision accuracy on static states, and the bias / diversity measures (ours).

Arena (spec §2.3a): the evaluated agent always moves first from the start position (a first-player win) against a
fixed opponent; ``num_games`` games per pass; win rate = wins / games x 100; mean and population std over passes.

Invalid-move policies (spec §2.2 caveats):
- ``official``: NIM (normal and misère) clamps an out-of-range take into [1, min(k, n)]; every other game (and an
  unparseable NIM answer) re-asks up to ``max_retries`` times, then plays a random legal move;
- ``retry_random``: re-ask up to ``max_retries`` times in every game, then a random legal move;
- ``forfeit``: re-ask up to ``max_retries`` times, then the player loses the game.
A re-ask appends a note naming the illegal answer to the prompt.

Decision accuracy (spec §2.3b): one decision per state and pass; correct iff the move is in the solver's full
optimal set (an unparseable or illegal answer is wrong); mean and population std of the per-pass accuracy.

Bias and diversity measures are **our definitions** (the paper's are not in the available sources; spec §2.3c):
- *modal bias*: the share of states whose modal action over the passes is not optimal;
- *bias reinforcement* (spec's suggestion): among debates whose two initial answers were identical and wrong, the
  share that end on that same wrong move. With the early stop on agreement of MAD and DReaMAD this is 1 by
  construction (the debate stops before any round), so we also report the *shared-wrong start rate* (how often
  the debaters begin with the same wrong move) and the *wrong-consensus rate* (debates that end with both
  debaters agreeing on a wrong move: a wrong belief entrenched), plus the accuracy change from the initial
  answers to the final one;
- *perspective diversity*: the debaters' initial-disagreement rate, and 1 - the mean cosine similarity of their
  initial reasonings under a hashing bag-of-words embedding (a stand-in for ``text-embedding-3-small``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import prompts as P
from .agents import Agent, pick
from .games import Game, Move, Nim, State
from .method import Decision

__all__ = ["GameRecord", "play_game", "run_arena", "run_decision_accuracy", "mean_std", "wilson_ci",
           "modal_bias", "bias_reinforcement", "perspective_diversity", "hash_embed", "INVALID_POLICIES"]

INVALID_POLICIES = ("official", "retry_random", "forfeit")


def mean_std(xs: list[float]) -> tuple[float, float]:
    """Mean and population std (numpy's default, as in the official notebooks)."""
    if not xs:
        return float("nan"), float("nan")
    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(a.std())


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k / n."""
    if n == 0:
        return 0.0, 1.0
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


# ------------------------------------------------------------------------------------------------------
# arena
# ------------------------------------------------------------------------------------------------------
@dataclass
class GameRecord:
    winner: int
    plies: int
    moves: list[Any] = field(default_factory=list)
    invalid: list[int] = field(default_factory=lambda: [0, 0])  # per player (index 0 = agent)
    fallback: list[int] = field(default_factory=lambda: [0, 0])  # random legal moves played after retries
    clamped: list[int] = field(default_factory=lambda: [0, 0])
    forfeit: int = 0  # player who forfeited (0 = none)
    agent_decisions: int = 0
    agent_calls: int = 0
    agent_max_calls: int = 0
    agent_unparseable: int = 0
    opponent_calls: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _get_move(game: Game, s: State, agent: Agent, rng: np.random.Generator, policy: str, max_retries: int,
              rec: GameRecord, who: int) -> Move | None:
    note = None
    for _attempt in range(max_retries + 1):
        m, d = agent.act(game, s, rng, note)
        if d is not None:
            calls = int(d.calls.get("total_calls", 0))
            if who == 0:
                rec.agent_decisions += 1
                rec.agent_calls += calls
                rec.agent_max_calls = max(rec.agent_max_calls, int(d.calls.get("calls", 0)))
                rec.agent_unparseable += int(d.calls.get("unparseable", 0))
            else:
                rec.opponent_calls += calls
        if m is not None and game.is_legal(s, m):
            return m
        rec.invalid[who] += 1
        if policy == "official" and isinstance(game, Nim) and isinstance(m, int):
            rec.clamped[who] += 1
            return game.clamp(s, m)
        note = f"{P.INVALID_NOTE} {P.move_str(game, m)}. Legal moves are described above."
    if policy == "forfeit":
        return None
    rec.fallback[who] += 1
    return pick(game.legal_moves(s), rng)


def play_game(game: Game, agent: Agent, opponent: Agent, rng: np.random.Generator, policy: str = "official",
              max_retries: int = 5, max_plies: int = 10_000) -> GameRecord:
    """One game from ``game.start()``; ``agent`` is player 1 and moves first."""
    if policy not in INVALID_POLICIES:
        raise ValueError(f"unknown invalid-move policy {policy!r}; known: {', '.join(INVALID_POLICIES)}")
    s = game.start()
    rec = GameRecord(winner=0, plies=0)
    player = 1
    while not game.is_terminal(s):
        if rec.plies >= max_plies:
            raise RuntimeError(f"{game.name}: game exceeded {max_plies} plies")
        who = player - 1
        m = _get_move(game, s, agent if player == 1 else opponent, rng, policy, max_retries, rec, who)
        if m is None:  # forfeit
            rec.forfeit = player
            rec.winner = 3 - player
            return rec
        s = game.apply(s, m)
        rec.moves.append(game.move_to_json(m))
        rec.plies += 1
        player = 3 - player
    rec.winner = game.winner_of(s, 3 - player)
    return rec


def run_arena(game: Game, agent: Agent, opponent: Agent, num_games: int, passes: int, seed: int,
              policy: str = "official", max_retries: int = 5, progress: Any = None) -> dict:
    """``passes`` x ``num_games`` games; win rate (%) mean and population std over passes, plus per-game records."""
    rates, records = [], []
    for p in range(passes):
        rng = np.random.default_rng([seed, p])
        wins = 0
        for _ in range(num_games):
            rec = play_game(game, agent, opponent, rng, policy, max_retries)
            wins += rec.winner == 1
            records.append(rec.as_dict())
            if progress is not None:
                progress.update(1)
        rates.append(100.0 * wins / num_games)
    mu, sd = mean_std(rates)
    dec = sum(r["agent_decisions"] for r in records)
    return {
        "win_rate_mean": mu, "win_rate_std": sd, "win_rates": rates, "games": num_games * passes,
        "agent_invalid": sum(r["invalid"][0] for r in records), "agent_fallback": sum(r["fallback"][0] for r in records),
        "agent_clamped": sum(r["clamped"][0] for r in records), "forfeits": sum(r["forfeit"] == 1 for r in records),
        "opponent_invalid": sum(r["invalid"][1] for r in records),
        "agent_decisions": dec, "agent_calls": sum(r["agent_calls"] for r in records),
        "calls_per_decision": (sum(r["agent_calls"] for r in records) / dec) if dec else 0.0,
        "max_calls_per_decision": max((r["agent_max_calls"] for r in records), default=0),
        "agent_unparseable": sum(r["agent_unparseable"] for r in records),
        "opponent_calls": sum(r["opponent_calls"] for r in records),
        "mean_plies": float(np.mean([r["plies"] for r in records])) if records else 0.0,
        "records": records,
    }


# ------------------------------------------------------------------------------------------------------
# decision accuracy
# ------------------------------------------------------------------------------------------------------
def run_decision_accuracy(items: list[dict], games: dict[str, Game], agent: Agent, passes: int, seed: int,
                          progress: Any = None) -> dict:
    """``items``: decision-set entries (``game_key``, ``state``, ``answers``); ``games`` maps ``game_key`` to a game."""
    per_pass, records = [], []
    for p in range(passes):
        rng = np.random.default_rng([seed, p])
        correct = 0
        for it in items:
            g = games[it["game_key"]]
            s = g.state_from_json(it["state"])
            answers = {g.move_from_json(a) for a in it["answers"]}
            m, d = agent.act(g, s, rng)
            ok = m in answers
            correct += ok
            rec = {"id": it["id"], "pass": p, "move": None if m is None else g.move_to_json(m), "correct": bool(ok),
                   "legal": bool(m is not None and g.is_legal(s, m))}
            if d is not None:
                rec.update(_decision_summary(g, d, answers))
            records.append(rec)
            if progress is not None:
                progress.update(1)
        per_pass.append(correct / len(items) if items else float("nan"))
    mu, sd = mean_std(per_pass)
    k = sum(r["correct"] for r in records)
    return {"accuracy_mean": mu, "accuracy_std": sd, "per_pass": per_pass, "n_items": len(items), "passes": passes,
            "correct": k, "decisions": len(records), "illegal": sum(not r["legal"] for r in records),
            "unparseable": sum(r.get("unparseable", 0) for r in records),
            "gave_up": sum(r.get("gave_up", 0) for r in records),
            "calls": sum(r.get("calls", 0) for r in records),
            "max_calls": max((r.get("calls", 0) for r in records), default=0),
            "records": records}


def _decision_summary(g: Game, d: Decision, answers: set) -> dict:
    js = [None if m is None else g.move_to_json(m) for m in d.initial]
    return {"calls": int(d.calls.get("calls", 0)), "total_calls": int(d.calls.get("total_calls", 0)),
            "unparseable": int(d.calls.get("unparseable", 0)), "gave_up": int(d.calls.get("gave_up", 0)),
            "initial": js, "initial_correct": [m in answers for m in d.initial],
            "final": [None if m is None else g.move_to_json(m) for m in d.final],
            "rounds": d.rounds, "consensus": d.consensus, "reasonings": d.reasonings[:2]}


# ------------------------------------------------------------------------------------------------------
# bias and diversity (our definitions)
# ------------------------------------------------------------------------------------------------------
def _key(x: Any) -> str:
    return repr(x)


def modal_bias(records: list[dict]) -> dict:
    """Share of states whose modal action (over passes; ties -> first seen) is wrong; + the action histogram."""
    by_item: dict[str, list[dict]] = {}
    for r in records:
        by_item.setdefault(r["id"], []).append(r)
    wrong = 0
    hist: Counter = Counter()
    for rs in by_item.values():
        c = Counter(_key(r["move"]) for r in rs)
        modal = c.most_common(1)[0][0]
        wrong += not next(r["correct"] for r in rs if _key(r["move"]) == modal)
        hist.update(_key(r["move"]) for r in rs)
    n = len(by_item)
    return {"modal_bias": wrong / n if n else float("nan"), "states": n, "action_histogram": dict(hist)}


def bias_reinforcement(records: list[dict]) -> dict:
    """Over debate decisions with two initial answers (records from :func:`run_decision_accuracy`)."""
    deb = [r for r in records if len(r.get("initial", [])) == 2]
    shared_wrong = [r for r in deb if r["initial"][0] is not None and r["initial"][0] == r["initial"][1]
                    and not r["initial_correct"][0]]
    reinforced = [r for r in shared_wrong if _key(r["move"]) == _key(r["initial"][0])]
    init_acc = [np.mean(r["initial_correct"]) for r in deb]
    final_acc = [float(r["correct"]) for r in deb]
    any_right = [r for r in deb if any(r["initial_correct"])]
    wrong_consensus = [r for r in deb if r.get("consensus") and not r["correct"]]
    return {
        "debates": len(deb),
        "shared_wrong_start": len(shared_wrong),
        "shared_wrong_rate": len(shared_wrong) / len(deb) if deb else float("nan"),
        "bias_reinforcement": len(reinforced) / len(shared_wrong) if shared_wrong else float("nan"),
        "wrong_consensus_rate": len(wrong_consensus) / len(deb) if deb else float("nan"),
        "initial_accuracy": float(np.mean(init_acc)) if deb else float("nan"),
        "final_accuracy": float(np.mean(final_acc)) if deb else float("nan"),
        "delta_accuracy": float(np.mean(final_acc) - np.mean(init_acc)) if deb else float("nan"),
        "recovered_when_one_right": (sum(r["correct"] for r in any_right) / len(any_right)) if any_right else float("nan"),
    }


_WORD = re.compile(r"[a-z0-9]+")


def hash_embed(text: str, dim: int = 256) -> np.ndarray:
    """Signed feature hashing of unigrams and bigrams, L2-normalised (deterministic, no model needed)."""
    toks = _WORD.findall(text.lower())
    feats = toks + [f"{a}_{b}" for a, b in zip(toks, toks[1:])]
    v = np.zeros(dim)
    for f in feats:
        h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "big")
        v[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def perspective_diversity(records: list[dict], dim: int = 256) -> dict:
    deb = [r for r in records if len(r.get("initial", [])) == 2]
    dis = [r["initial"][0] is None or r["initial"][0] != r["initial"][1] for r in deb]
    sims = []
    for r in deb:
        a, b = (r.get("reasonings") or ["", ""])[:2] if len(r.get("reasonings") or []) >= 2 else ("", "")
        if a and b:
            sims.append(float(hash_embed(a, dim) @ hash_embed(b, dim)))
    return {"debates": len(deb),
            "initial_disagreement": float(np.mean(dis)) if deb else float("nan"),
            "reasoning_dissimilarity": float(1 - np.mean(sims)) if sims else float("nan")}
