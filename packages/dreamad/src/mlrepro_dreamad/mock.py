"""A scripted mock LLM for the CPU miniature: reads our prompts, answers in JSON, through ``get_sampler("scripted")``.

This is a *model of the paper's hypothesis*, not evidence for it (README, "What the miniature can show"). Its
behaviour is set by a :class:`MockProfile`:

- **prior bias**: when it errs from a raw game prompt it plays one fixed, game-specific wrong move (NIM: take as many
  as allowed, Kayles: the leftmost pin, Chomp: the bite farthest from the poison, ...), so two copies of it err
  *identically*;
- **strategic prior**: a prompt that carries a correct elicited strategy raises its move accuracy
  (``p_base`` -> ``p_strategy``); stage 1 derives a correct strategy with probability ``p_strategy_correct``;
- **perspectives**: a rewritten prompt carries one of ``n_perspectives`` viewpoints, each with its *own* wrong move,
  so debaters given different rewrites err differently; the viewpoint is drawn at the refinement temperature;
- **debate**: when a proposal on the table is optimal, it adopts it with probability ``p_verify`` (raised by a
  correct strategy) and otherwise keeps its move or conforms (``p_conform``);
- **noise**: a share ``p_garbage`` of replies is not JSON and ``p_illegal`` name an illegal move, to exercise the
  parse-retry and invalid-move paths.

Temperature: draws at temperature < 0.3 are a hash of (model identity, prompt), so the same prompt gives the same
answer in every run and every method (like greedy decoding of one fixed model); above it they come from the
mock's generator, which each stage re-seeds. The mock knows the exact solver, which is how it "plays optimally".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import prompts as P
from .games import Chomp, CornerQueen, FibonacciNim, Game, Kayles, Nim, identify_game
from .solvers import winning_moves

__all__ = ["MockProfile", "MockLLM", "VIEWPOINTS", "CORRECT_STRATEGY", "WRONG_STRATEGY", "bias_move", "PROFILES"]

CORRECT_STRATEGY = ("Classify every position as winning or losing for the player to move by exact backward "
                    "analysis; always move to a position that is losing for the opponent.")
WRONG_STRATEGY = "Grab as much as the rules allow and keep the initiative; react to the opponent's last move."
VIEWPOINTS = (
    "Think like an endgame specialist who counts backwards from the final position.",
    "Think like a mathematician who looks for an invariant the opponent cannot escape.",
    "Think like a cautious defender who first rules out every move that hands the opponent a win.",
    "Think like a tournament player who compares each candidate move with the opponent's best reply.",
    "Think like a puzzle solver who tries small versions of the position first.",
    "Think like a teacher who must justify the move with a short proof.",
)
_REASON_STYLE = (
    "I compare the candidate moves and their replies.",
    "Counting back from the end, the position after my move should leave no escape.",
    "An invariant argument decides this position.",
    "Ruling out moves that give the opponent an immediate win narrows the choice.",
    "Checking the opponent's best reply to each candidate settles it.",
    "Smaller versions of this position show the pattern.",
    "A short proof supports this move.",
)


@dataclass
class MockProfile:
    """Behaviour knobs of the mock model (all probabilities)."""

    p_base: float = 0.35  # optimal move from a raw game prompt with reasoning (react)
    standard_penalty: float = 0.10  # no reasoning requested (standard prompting)
    cot_bonus: float = 0.05  # "think step by step"
    p_strategy: float = 0.75  # optimal move when the prompt carries a correct strategy
    p_strategy_correct: float = 0.8  # stage 1 derives a correct strategy
    p_verify: float = 0.35  # debate: adopt an optimal proposal on the table (no strategy in prompt)
    p_verify_strategy: float = 0.8  # ... with a correct strategy in the prompt
    p_conform: float = 0.2  # debate: adopt the other's (non-optimal) move
    p_feedback_catch: float = 0.15  # self-refinement feedback flags a wrong move
    p_false_alarm: float = 0.10  # ... flags a correct move
    p_judge: float = 0.5  # MAD2 moderator picks an optimal proposal when one was made
    bias_strength: float = 0.9  # share of errors that go to the viewpoint's fixed wrong move
    n_perspectives: int = 4  # distinct viewpoints a prompt rewrite can take (<= len(VIEWPOINTS))
    p_garbage: float = 0.02  # reply is not JSON
    p_illegal: float = 0.02  # reply names an illegal move


PROFILES = {
    "strong": MockProfile(),
    "weak": MockProfile(p_base=0.2, p_strategy=0.55, p_strategy_correct=0.6, p_verify=0.25, p_verify_strategy=0.6,
                        p_judge=0.35, p_garbage=0.05, p_illegal=0.04),
}


def _h(*parts: Any) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def bias_move(game: Game, s, viewpoint: int, wrong: list) -> Any:
    """The fixed wrong move of ``viewpoint`` (0 = the raw prompt's prior bias) among the ``wrong`` moves."""
    if not wrong:
        return None
    if viewpoint == 0:
        if isinstance(game, (Nim, FibonacciNim)):
            return max(wrong)  # "always take as many as allowed"
        if isinstance(game, Kayles):
            return min(wrong)  # the leftmost pin
        if isinstance(game, Chomp):  # the smallest bite: the remaining cell farthest from the poison
            return max(wrong, key=lambda c: (sum(game.to_internal(c)), c))
        if isinstance(game, CornerQueen):  # a single diagonal step if wrong, else the shortest move
            return min(wrong, key=lambda m: (abs(m[0] - s[0]) + abs(m[1] - s[1]), m))
    ordered = sorted(wrong, key=lambda m: _h(repr(s), viewpoint, repr(m)))
    return ordered[0]


def _illegal(game: Game, s) -> Any:
    if isinstance(game, Nim):
        return game.k + 1
    if isinstance(game, FibonacciNim):
        return min(s[1], s[0]) + 1
    if isinstance(game, Kayles):
        return [len(s)]
    if isinstance(game, Chomp):
        return [game.rows, game.cols]
    if isinstance(game, CornerQueen):
        return [max(s[0] - 1, 0), s[1] + 1]
    return -1


class MockLLM:
    """``fn(prompt, params, i)`` for :class:`mlrepro.sampling.scripted.ScriptedSampler`."""

    def __init__(self, games: list[Game], profile: MockProfile | None = None, seed: int = 0, identity: int = 0):
        self.games = list(games)
        self.profile = profile or MockProfile()
        self.rng = np.random.default_rng(seed)
        self.identity = identity  # fixes the low-temperature (hash) answers of this "model"
        self.n = 0

    def reseed(self, seed: int) -> None:
        """Restart the mock's random stream (each stage re-seeds, so a resumed run equals a fresh one)."""
        self.rng = np.random.default_rng(seed)

    # ---- helpers -----------------------------------------------------------------------------------------
    def _u(self, temperature: float, text: str, salt: Any) -> float:
        if temperature < 0.3:
            return _h(self.identity, text, salt) / 2**64
        return float(self.rng.random())

    def _game(self, text: str) -> Game | None:
        g = identify_game(text, self.games)
        if g is not None:
            return g
        for g in self.games:
            if g.title in text:
                return g
        return None

    @staticmethod
    def _viewpoint(text: str) -> int:
        for i, v in enumerate(VIEWPOINTS):
            if v in text:
                return i + 1
        return 0

    def _move_after(self, text: str, marker: str, game: Game) -> Any:
        i = text.find(marker)
        if i < 0:
            return None
        line = text[i + len(marker):].split("\n", 1)[0]
        try:
            return game.parse_action(json.loads(line))
        except json.JSONDecodeError:
            return None

    def _accuracy(self, text: str) -> float:
        pr = self.profile
        p = pr.p_strategy if CORRECT_STRATEGY in text else pr.p_base
        if P.COT_LINE in text:
            p += pr.cot_bonus
        if P.KEYS_MOVE[0] not in text.rsplit(P.JSON_KEYS_LINE, 1)[-1]:  # standard prompting: action only
            p -= pr.standard_penalty
        return min(max(p, 0.0), 1.0)

    def _draw(self, game: Game, s, text: str, T: float, exclude: Any = None) -> Any:
        win = sorted(winning_moves(game, s), key=repr)
        legal = game.legal_moves(s)
        wrong = [m for m in legal if m not in set(win) and m != exclude]
        if not win:  # a lost position: any move; the viewpoint's habit decides
            cand = [m for m in legal if m != exclude] or legal
            return bias_move(game, s, self._viewpoint(text), cand) or cand[0]
        if self._u(T, text, "acc") < self._accuracy(text) or not wrong:
            ok = [m for m in win if m != exclude] or win
            return ok[int(self._u(T, text, "pick") * len(ok)) % len(ok)]
        if self._u(T, text, "bias") < self.profile.bias_strength:
            return bias_move(game, s, self._viewpoint(text), wrong)
        return wrong[int(self._u(T, text, "wrong") * len(wrong)) % len(wrong)]

    def _reply_move(self, game: Game, s, move: Any, text: str, keys: tuple[str, ...]) -> str:
        v = self._viewpoint(text)
        reason = (f"{_REASON_STYLE[v % len(_REASON_STYLE)]} {game.describe_state(s)} "
                  f"So I play {json.dumps(game.move_to_json(move))}.")
        out: dict[str, Any] = {"action": game.move_to_json(move)}
        if "reasoning" in keys:
            out = {"reasoning": reason, **out}
        return json.dumps(out)

    # ---- the reply function ------------------------------------------------------------------------------
    def __call__(self, prompt: Any, params: Any, i: int) -> str:
        self.n += 1
        T = float(getattr(params, "temperature", 0.7))
        if isinstance(prompt, str):
            text = prompt
        else:  # system + first user message (parse-retry turns repeat the original request)
            users = [m for m in prompt if m.get("role") == "user"]
            text = "\n".join(m["content"] for m in prompt if m.get("role") == "system") + "\n" + (
                users[0]["content"] if users else "")
        pr = self.profile
        if self.rng.random() < pr.p_garbage:
            return "Let me think about this position... I would rather keep my options open here."
        keys_part = text.rsplit(P.JSON_KEYS_LINE, 1)[-1]
        keys = tuple(k.strip(" .\n") for k in keys_part.split("\n", 1)[0].split(","))
        game = self._game(text)
        if game is None:
            return "I cannot tell which game this is."
        if keys == P.KEYS_ABSTRACT:
            return json.dumps({"game_type": f"{game.title}; impartial combinatorial game",
                               "winning_condition": game.rules().splitlines()[-1].lstrip("- "),
                               "move_constraints": " ".join(game.rules().splitlines()[:-1])})
        if keys == P.KEYS_STRATEGY:
            ok = self._u(T, text, "strategy") < pr.p_strategy_correct
            return json.dumps({"state_evaluation": "Decide whether the player to move can force a win.",
                               "winning_strategy": CORRECT_STRATEGY if ok else WRONG_STRATEGY,
                               "endgame_tactics": "Near the end, enumerate all moves exactly."})
        if keys == P.KEYS_REFINE:
            n_view = max(1, min(pr.n_perspectives, len(VIEWPOINTS)))
            v = int(self._u(T, text, "view") * n_view) % n_view
            strat = CORRECT_STRATEGY if CORRECT_STRATEGY in text else (WRONG_STRATEGY if WRONG_STRATEGY in text else "")
            return json.dumps({"optimized_prompt": f"You must win this game of {game.title}. {VIEWPOINTS[v]} "
                                                   f"{strat} Choose the strongest move now."})
        s = game.parse_state(text)
        if s is None or game.is_terminal(s):
            return "I cannot read the position."
        if self.rng.random() < pr.p_illegal and keys != P.KEYS_FEEDBACK:
            out = {"reasoning": "This move looks natural.", "action": _illegal(game, s)}
            return json.dumps(out)
        win = winning_moves(game, s)
        strategic = CORRECT_STRATEGY in text
        if keys == P.KEYS_FEEDBACK:
            prev = self._move_after(text, P.PROPOSED_MOVE, game)
            catch = min(1.0, pr.p_feedback_catch + (0.3 if strategic else 0.0))
            bad = bool(win) and prev not in win
            flag = self._u(T, text, "fb") < (catch if bad else pr.p_false_alarm)
            return json.dumps({"feedback": "This move is a mistake: it hands the opponent a winning reply."
                               if flag else "The move looks sound."})
        if P.FEEDBACK_ON in text:  # self-refinement: refined answer
            prev = self._move_after(text, P.PREVIOUS_MOVE, game)
            if "mistake" in text.split(P.FEEDBACK_ON, 1)[1] or prev is None or not game.is_legal(s, prev):
                move = self._draw(game, s, text, T, exclude=prev)
            else:
                move = prev
            return self._reply_move(game, s, move, text, keys)
        if P.TRANSCRIPT in text:  # MAD2 moderator
            proposed = [None if x == "none" else game.parse_action(json.loads(x)) for x in _moves_in_transcript(text)]
            good = [m for m in proposed if m in win]
            aff = [m for m in proposed[::2] if m is not None]
            if good and self._u(T, text, "judge") < pr.p_judge:
                move = good[0]
            else:
                move = aff[-1] if aff else self._draw(game, s, text, T)
            return self._reply_move(game, s, move, text, keys)
        if P.AFFIRMATIVE_PROPOSES in text:  # MAD2 negative side
            aff = self._move_after(text, P.AFFIRMATIVE_PROPOSES, game)
            pv = pr.p_verify_strategy if strategic else pr.p_verify
            if aff in win and self._u(T, text, "neg") < pv:
                move = aff
            else:
                move = self._draw(game, s, text, T, exclude=aff)
            return self._reply_move(game, s, move, text, keys)
        own_marker = P.PREVIOUS_MOVE
        other_marker = P.OTHER_MOVE if P.OTHER_MOVE in text else (P.NEGATIVE_ARGUES if P.NEGATIVE_ARGUES in text else None)
        if other_marker is not None:  # a debate round (MAD, DReaMAD) or the affirmative's reply (MAD2)
            own = self._move_after(text, own_marker, game)
            other = self._move_after(text, other_marker, game)
            pv = pr.p_verify_strategy if strategic else pr.p_verify
            if own is None or not game.is_legal(s, own):
                move = self._draw(game, s, text, T)
            elif own == other or own in win:
                move = own
            elif other in win:
                move = other if self._u(T, text, "verify") < pv else own
            else:
                u = self._u(T, text, "rethink")
                if u < pr.p_conform and other is not None and game.is_legal(s, other):
                    move = other
                elif u < pr.p_conform + 0.5 * self._accuracy(text):
                    move = self._draw(game, s, text, T)
                else:
                    move = own
            return self._reply_move(game, s, move, text, keys)
        return self._reply_move(game, s, self._draw(game, s, text, T), text, keys)


def _moves_in_transcript(text: str) -> list[str]:
    import re

    body = text.split(P.TRANSCRIPT, 1)[1]
    return re.findall(r"- (?:affirmative|negative): move (\[[^\]]*\]|-?\d+|none)", body)
