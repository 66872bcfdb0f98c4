"""Prompt templates of every method, in our own wording (the official prompts are not copied).

Each template ends with a line naming the JSON keys to answer with; :mod:`mlrepro_dreamad.mock` recognises a call's
kind from those keys and from the marker phrases below, so the constants here are the single source of both.
"""

from __future__ import annotations

import json
from typing import Any

# ---- system roles -----------------------------------------------------------------------------------------
PLAYER_SYSTEM = "You are a careful, strong player of two-player combinatorial games."
THEORIST_SYSTEM = "You are a game theorist and strategist."
DEBATER_SYSTEM = "You are a skilled game player debating the best move with another player."
AFFIRMATIVE_SYSTEM = "You are a skilled game player on the affirmative side of a debate about the best move."
NEGATIVE_SYSTEM = ("You are a skilled game player on the negative side of a debate: you look for flaws in the "
                   "proposed move and argue for a better one.")
JUDGE_SYSTEM = "You are the moderator of a debate between two game players; you decide the final move."
CRITIC_SYSTEM = "You are a careful, strong player of two-player combinatorial games reviewing a proposed move."

# ---- marker phrases (also read by the mock) -----------------------------------------------------------------
JSON_KEYS_LINE = "Reply with one JSON object with the keys:"
COT_LINE = "Think step by step: evaluate the position and the opponent's best replies before you choose."
PREVIOUS_MOVE = "Your previous move:"
OTHER_MOVE = "The other player's move:"
AFFIRMATIVE_PROPOSES = "The affirmative side proposes the move:"
NEGATIVE_ARGUES = "The negative side proposes the move:"
TRANSCRIPT = "Debate transcript:"
PROPOSED_MOVE = "Proposed move:"
FEEDBACK_ON = "Feedback on your move:"
STRATEGY_HEADER = "Strategy notes:"
INVALID_NOTE = "Note: your previous answer was not a legal move in this position:"

KEYS_MOVE = ("reasoning", "action")
KEYS_SIMPLE = ("action",)
KEYS_ABSTRACT = ("game_type", "winning_condition", "move_constraints")
KEYS_STRATEGY = ("state_evaluation", "winning_strategy", "endgame_tactics")
KEYS_REFINE = ("optimized_prompt",)
KEYS_FEEDBACK = ("feedback",)


def keys_line(keys: tuple[str, ...]) -> str:
    return f"{JSON_KEYS_LINE} {', '.join(keys)}."


def move_str(game, move: Any) -> str:
    return json.dumps(game.move_to_json(move)) if move is not None else "none"


def with_note(prompt: str, note: str | None) -> str:
    return f"{prompt}\n{note}" if note else prompt


# ---- single-call baselines -----------------------------------------------------------------------------------
def standard(game_prompt: str) -> str:
    """``simple`` in the official code: the action only, no reasoning."""
    return f"{game_prompt}\nGive only your move, without explanation.\n{keys_line(KEYS_SIMPLE)}"


def react(game_prompt: str) -> str:
    """``basic`` in the official code (called ReAct there): reasoning, then the action."""
    return (f"{game_prompt}\nExplain your reasoning briefly in \"reasoning\", then give the move in \"action\".\n"
            f"{keys_line(KEYS_MOVE)}")


def cot(game_prompt: str) -> str:
    return (f"{game_prompt}\n{COT_LINE}\nWrite the steps in \"reasoning\" and the move in \"action\".\n"
            f"{keys_line(KEYS_MOVE)}")


# ---- self-refinement -----------------------------------------------------------------------------------------
def feedback(game, game_prompt: str, move: Any, reasoning: str) -> str:
    return (f"{game_prompt}\n{PROPOSED_MOVE} {move_str(game, move)}\nReasoning given: {reasoning}\n"
            "Review this move critically. Is it really the best move? Point out any mistake in the reasoning.\n"
            f"{keys_line(KEYS_FEEDBACK)}")


def refine_after_feedback(game, game_prompt: str, move: Any, reasoning: str, fb: str) -> str:
    return (f"{game_prompt}\n{PREVIOUS_MOVE} {move_str(game, move)}\nYour reasoning: {reasoning}\n"
            f"{FEEDBACK_ON} {fb}\nUsing this feedback, give your refined move (keep it if it is still best).\n"
            f"{keys_line(KEYS_MOVE)}")


# ---- MAD (Du et al. style, no judge) and DReaMAD's debate ---------------------------------------------------
def debate_round(game, context: str, own_move: Any, own_reason: str, other_move: Any, other_reason: str,
                 strategic: bool = False) -> str:
    extra = " and of your strategy notes" if strategic else ""
    return (f"{context}\n{PREVIOUS_MOVE} {move_str(game, own_move)}\nYour reasoning: {own_reason}\n"
            f"{OTHER_MOVE} {move_str(game, other_move)}\nTheir reasoning: {other_reason}\n"
            f"Reconsider the position in light of the other player's view{extra}. Keep your move if you are "
            "convinced it is best, otherwise change it.\n"
            f"{keys_line(KEYS_MOVE)}")


# ---- MAD2 (Liang et al. style, affirmative / negative / judge) -----------------------------------------------
def negative(game, game_prompt: str, aff_move: Any, aff_reason: str) -> str:
    return (f"{game_prompt}\n{AFFIRMATIVE_PROPOSES} {move_str(game, aff_move)}\nTheir reasoning: {aff_reason}\n"
            "Argue against it: find its weaknesses and propose the move you consider better (you may agree if "
            "you find no flaw).\n"
            f"{keys_line(KEYS_MOVE)}")


def affirmative_refine(game, game_prompt: str, aff_move: Any, aff_reason: str, neg_move: Any, neg_reason: str) -> str:
    return (f"{game_prompt}\n{PREVIOUS_MOVE} {move_str(game, aff_move)}\nYour reasoning: {aff_reason}\n"
            f"{NEGATIVE_ARGUES} {move_str(game, neg_move)}\nTheir argument: {neg_reason}\n"
            "Answer the negative side: refine your move or confirm it.\n"
            f"{keys_line(KEYS_MOVE)}")


def judge(game, game_prompt: str, history: list[tuple[str, Any, str]]) -> str:
    lines = "\n".join(f"- {side}: move {move_str(game, m)}; reasoning: {r}" for side, m, r in history)
    return (f"{game_prompt}\n{TRANSCRIPT}\n{lines}\nThe two sides did not agree. Weigh their arguments and decide "
            "the final move.\n"
            f"{keys_line(KEYS_MOVE)}")


# ---- DReaMAD (paper §4; official dreamad prompts) ------------------------------------------------------------
def abstraction(game_prompt: str) -> str:
    """Stage 1, step 1: game situation abstraction (type, winning condition, move constraints)."""
    return (f"{game_prompt}\nBefore playing, describe the game in general terms: what kind of game it is, how it "
            "is won, and what constrains the moves. Do not choose a move yet.\n"
            f"{keys_line(KEYS_ABSTRACT)}")


def strategy(abstract: dict) -> str:
    """Stage 1, step 2: strategy derivation from the abstraction only (no state)."""
    return (f"Game type: {abstract.get('game_type', '')}\nWinning condition: {abstract.get('winning_condition', '')}\n"
            f"Move constraints: {abstract.get('move_constraints', '')}\n"
            "From this description alone, derive the strategic knowledge needed to play perfectly: how to evaluate "
            "a position (winning or losing for the player to move), the winning strategy, and how to play the "
            "endgame.\n"
            f"{keys_line(KEYS_STRATEGY)}")


def strategy_block(abstract: dict | None, strat: dict | None) -> str:
    if not strat:
        return ""
    return (f"{STRATEGY_HEADER}\n- Game type: {(abstract or {}).get('game_type', '')}\n"
            f"- Position evaluation: {strat.get('state_evaluation', '')}\n"
            f"- Winning strategy: {strat.get('winning_strategy', '')}\n"
            f"- Endgame: {strat.get('endgame_tactics', '')}")


def refine_prompt(game_prompt: str, abstract: dict | None, strat: dict | None) -> str:
    """Stage 2: perspective diversification by prompt rewriting (sampled once per debater)."""
    sb = strategy_block(abstract, strat)
    return (f"Original instruction for a player:\n{game_prompt}\n{sb}\n"
            "Rewrite the instruction into an improved one for the player who must choose the next move. The new "
            "instruction must steer the decision clearly, make the player put winning moves first, and be direct, "
            "logical and assertive. It must not say which move to play and must not prescribe an output format.\n"
            f"{keys_line(KEYS_REFINE)}")


def refined_context(game, state, refined: str) -> str:
    """The debater's context: its refined instruction plus the game header and current state (always stated)."""
    return (f"Game: {game.title}\n{refined}\nRules:\n{game.rules()}\nCurrent state:\n{game.describe_state(state)}\n"
            f"Action format: {game.action_format()}")


def dreamad_move(context: str) -> str:
    return (f"{context}\nDecide as follows: 1) if a winning move exists, play it; 2) otherwise follow the optimal "
            "principles above; 3) justify your move from the strategy.\n"
            f"{keys_line(KEYS_MOVE)}")
