"""Scripted LLM doubles for the protocol tests (all replies made in code; no model, no network)."""

from __future__ import annotations

import json

import pytest
from mlrepro_dreamad import prompts as P
from mlrepro_dreamad.llm import LLM

from mlrepro.sampling import get_sampler


def _keys(text: str) -> tuple[str, ...]:
    part = text.rsplit(P.JSON_KEYS_LINE, 1)[-1].split("\n", 1)[0]
    return tuple(k.strip(" .") for k in part.split(","))


class Bot:
    """Rule-based replies: ``moves`` cycles through the actions of successive move calls; ``feedback_bad`` makes every
    self-refinement feedback flag a mistake. Records (kind, temperature, n) of every request."""

    def __init__(self, moves=(1,), feedback_bad=False, garbage_first=0):
        self.moves = list(moves)
        self.i = 0
        self.feedback_bad = feedback_bad
        self.garbage_first = garbage_first
        self.log: list[tuple[str, float, int]] = []
        self.refines = 0

    def __call__(self, prompt, params, j):
        text = "\n".join(m["content"] for m in prompt) if not isinstance(prompt, str) else prompt
        if self.garbage_first > 0:
            self.garbage_first -= 1
            self.log.append(("garbage", params.temperature, params.n))
            return "no json here, sorry"
        keys = _keys(text)
        if keys == P.KEYS_ABSTRACT:
            kind, out = "abstract", {"game_type": "subtraction game", "winning_condition": "last wins",
                                     "move_constraints": "take 1..3"}
        elif keys == P.KEYS_STRATEGY:
            kind, out = "strategy", {"state_evaluation": "mod 4", "winning_strategy": "leave a multiple of 4",
                                     "endgame_tactics": "count"}
        elif keys == P.KEYS_REFINE:
            self.refines += 1
            kind, out = "refine", {"optimized_prompt": f"Refined instruction variant {self.refines}."}
        elif keys == P.KEYS_FEEDBACK:
            kind, out = "feedback", {"feedback": "mistake" if self.feedback_bad else "fine"}
        else:
            kind = "judge" if P.TRANSCRIPT in text else "move"
            a = self.moves[self.i % len(self.moves)]
            self.i += 1
            out = {"reasoning": f"because {a}", "action": a}
            if keys == P.KEYS_SIMPLE:
                out = {"action": a}
        self.log.append((kind, params.temperature, params.n))
        return json.dumps(out)


def bot_llm(bot: Bot, **kw) -> LLM:
    return LLM(get_sampler("scripted", fn=bot), name="bot", **kw)


@pytest.fixture
def make_bot():
    def f(**kw):
        b = Bot(**kw)
        return b, bot_llm(b)

    return f
