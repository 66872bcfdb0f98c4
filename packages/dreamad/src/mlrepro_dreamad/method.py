"""DReaMAD and the baselines of the paper as decision procedures over an :class:`~mlrepro_dreamad.llm.LLM`.

Paper: Oh et al., "Understanding Bias Reinforcement in LLM Agents Debate" (arXiv 2503.16814, ICML 2025); later
version "From Belief Entrenchment to Robust Reasoning in LLM Agents". Section references are to the spec digest
(``shared/papers/dreamad.md``), which follows the official code because the paper body is not available.

Every method maps (game, state) to one move through LLM calls and is bounded by a per-decision *LLM-call budget*
(:func:`call_budget`, enforced by the ledger; one completion = one call; parse retries are counted apart):

=======================  ============================================================================  ==========
method                   procedure (spec §2.4-2.5)                                                     budget
=======================  ============================================================================  ==========
standard                 one call, JSON {action} (official ``simple``)                                 1
react                    one call, JSON {reasoning, action} (official ``basic``, "ReAct")              1
cot                      react + "think step by step"                                                  1
self_consistency         S samples of react (T=sc_temperature), majority vote                          S
self_refine              initial answer, then <= I x (feedback, refined answer); stop when unchanged   1 + 2I
mad                      2 debaters, same model and prompt, <= R rounds, stop on agreement, no judge,  2 + 2R
                         majority fallback (a tie keeps agent 1's move)
mad2                     affirmative vs negative, <= R rounds, stop on agreement, judge otherwise      2 + 2R
dreamad                  stage 1 (abstraction + strategy, T=0.1), stage 2 (one refined prompt per       2 + 2 + 2R
                         debater, T=refine_temperature), debate with early stop
dreamad_same_prompt      ablation "before_same": both debaters share one refined prompt                2 + 1 + 2R + 2
dreamad_no_prior         ablation: no stage 1 (diversified prompts without the strategic prior)        2 + 2R
dreamad_no_debate        ablation: stage 1 + one refined prompt + one move                             4
dreamad_minus_sc         "DReaMAD(-) + SC" (``diverse_consistency``): stage 1, S x (refine, move), vote 2 + 2S
dreamad_minus_sr         "DReaMAD(-) + SR" (``diverse_reflection``): stage 1, one refined prompt,      2 + 1 + 1 + 2I
                         self-refinement on it
=======================  ============================================================================  ==========

With the defaults (S=10, I=3, R=3): 1, 1, 1, 10, 7, 8, 8, 12, 11, 10, 4, 22, 10.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import prompts as P
from .games import Game, Move, State
from .llm import LLM, Reply, messages

__all__ = ["MethodParams", "Decision", "Answer", "METHODS", "DEBATE_METHODS", "call_budget", "decide",
           "majority_vote", "method_names"]


@dataclass
class MethodParams:
    """Method hyperparameters (spec §3; all from the official code)."""

    move_temperature: float = 0.7  # function default of every move call
    stage1_temperature: float = 0.1  # DReaMAD stage 1
    refine_temperature: float = 0.7  # DReaMAD stage 2 (--temperature)
    sc_samples: int = 10  # self-consistency samples
    sc_temperature: float = 1.0  # self-consistency temperature (NIM script)
    refine_iterations: int = 3  # self-refinement iterations
    debate_rounds: int = 3  # MAD / MAD2 / DReaMAD rounds
    judge_temperature: float = 0.7  # MAD2 moderator


@dataclass
class Answer:
    move: Move | None
    reasoning: str = ""
    text: str = ""


@dataclass
class Decision:
    """One decision of one method. ``initial``/``final`` hold the debaters' (or samples') first and last moves."""

    method: str
    action: Move | None
    calls: dict[str, Any] = field(default_factory=dict)
    initial: list[Move | None] = field(default_factory=list)
    final: list[Move | None] = field(default_factory=list)
    reasonings: list[str] = field(default_factory=list)
    rounds: int = 0
    consensus: bool | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Ctx:
    game: Game
    state: State
    llm: LLM
    p: MethodParams
    note: str | None
    trace: list[dict[str, Any]]

    @property
    def game_prompt(self) -> str:
        return P.with_note(self.game.prompt(self.state), self.note)

    def _valid(self, d: dict) -> bool:
        return self.game.parse_action(d.get("action")) is not None

    def ask_moves(self, prompts: list[list[dict]], temperature: float, step: str, n: int = 1,
                  keys: tuple[str, ...] = P.KEYS_MOVE) -> list[Answer]:
        rows = self.llm.ask_json(prompts, temperature, keys, n=n, validate=self._valid)
        out = []
        for row in rows:
            for r in row:
                out.append(self._answer(r))
                self.trace.append({"step": step, "move": _js(self.game, out[-1].move), "text": r.text})
        return out

    def ask_fields(self, prompt: list[dict], temperature: float, keys: tuple[str, ...], step: str,
                   n: int = 1) -> list[dict | None]:
        rows = self.llm.ask_json([prompt], temperature, keys, n=n)
        for r in rows[0]:
            self.trace.append({"step": step, "text": r.text})
        return [r.data for r in rows[0]]

    def _answer(self, r: Reply) -> Answer:
        if r.data is None:
            return Answer(None, "", r.text)
        return Answer(self.game.parse_action(r.data.get("action")), str(r.data.get("reasoning", "")), r.text)


def _js(game: Game, m: Move | None) -> Any:
    return None if m is None else game.move_to_json(m)


def majority_vote(moves: Sequence[Move | None]) -> Move | None:
    """``Counter.most_common`` over the parsed moves; ties go to the move seen first; None if nothing parsed."""
    c = Counter(m for m in moves if m is not None)
    return c.most_common(1)[0][0] if c else None


# ------------------------------------------------------------------------------------------------------
# single-call baselines
# ------------------------------------------------------------------------------------------------------
def _single(ctx: _Ctx, text: str, name: str, keys=P.KEYS_MOVE) -> Decision:
    a = ctx.ask_moves([messages(P.PLAYER_SYSTEM, text)], ctx.p.move_temperature, name, keys=keys)[0]
    return Decision(name, a.move, initial=[a.move], final=[a.move], reasonings=[a.reasoning])


def standard(ctx: _Ctx) -> Decision:
    return _single(ctx, P.standard(ctx.game_prompt), "standard", keys=P.KEYS_SIMPLE)


def react(ctx: _Ctx) -> Decision:
    return _single(ctx, P.react(ctx.game_prompt), "react")


def cot(ctx: _Ctx) -> Decision:
    return _single(ctx, P.cot(ctx.game_prompt), "cot")


def self_consistency(ctx: _Ctx) -> Decision:
    msgs = messages(P.PLAYER_SYSTEM, P.react(ctx.game_prompt))
    ans = ctx.ask_moves([msgs], ctx.p.sc_temperature, "sample", n=ctx.p.sc_samples)
    moves = [a.move for a in ans]
    return Decision("self_consistency", majority_vote(moves), initial=moves, final=moves,
                    reasonings=[a.reasoning for a in ans])


def _self_refine_loop(ctx: _Ctx, base: str, first: Answer, name: str) -> Decision:
    """Up to I x (feedback, refined answer); stops when the refined move equals the previous one."""
    cur, it = first, 0
    for it in range(1, ctx.p.refine_iterations + 1):
        fb = ctx.ask_fields(messages(P.CRITIC_SYSTEM, P.feedback(ctx.game, base, cur.move, cur.reasoning)),
                            ctx.p.move_temperature, P.KEYS_FEEDBACK, f"feedback{it}")[0]
        fb_text = str((fb or {}).get("feedback", "(no feedback)"))
        new = ctx.ask_moves([messages(P.PLAYER_SYSTEM, P.refine_after_feedback(
            ctx.game, base, cur.move, cur.reasoning, fb_text))], ctx.p.move_temperature, f"refine{it}")[0]
        changed = new.move != cur.move
        if new.move is not None:
            cur = new
        if not changed:
            break
    return Decision(name, cur.move, initial=[first.move], final=[cur.move], reasonings=[first.reasoning], rounds=it)


def self_refine(ctx: _Ctx) -> Decision:
    first = ctx.ask_moves([messages(P.PLAYER_SYSTEM, P.react(ctx.game_prompt))], ctx.p.move_temperature, "initial")[0]
    return _self_refine_loop(ctx, ctx.game_prompt, first, "self_refine")


# ------------------------------------------------------------------------------------------------------
# debates
# ------------------------------------------------------------------------------------------------------
def _agree(a: Answer, b: Answer) -> bool:
    return a.move is not None and a.move == b.move


def _debate(ctx: _Ctx, name: str, contexts: list[str], initial_prompts: list[str], strategic: bool,
            system_initial: str, system_round: str) -> Decision:
    """Two debaters (spec §2.4 ``debate``, §2.5 stage 3): initial answers, then <= R rounds, early stop on agreement,
    else ``Counter.most_common`` over the final moves (a tie keeps agent 1's move)."""
    cur = ctx.ask_moves([messages(system_initial, t) for t in initial_prompts], ctx.p.move_temperature, "initial")
    first = list(cur)
    rounds = 0
    while not _agree(cur[0], cur[1]) and rounds < ctx.p.debate_rounds:
        rounds += 1
        ps = [messages(system_round, P.debate_round(ctx.game, contexts[i], cur[i].move, cur[i].reasoning,
                                                    cur[1 - i].move, cur[1 - i].reasoning, strategic=strategic))
              for i in (0, 1)]
        new = ctx.ask_moves(ps, ctx.p.move_temperature, f"round{rounds}")
        cur = [n if n.move is not None else c for n, c in zip(new, cur)]
    consensus = _agree(cur[0], cur[1])
    action = cur[0].move if consensus else majority_vote([c.move for c in cur])
    return Decision(name, action, initial=[a.move for a in first], final=[c.move for c in cur],
                    reasonings=[a.reasoning for a in first], rounds=rounds, consensus=consensus)


def mad(ctx: _Ctx) -> Decision:
    gp = ctx.game_prompt
    return _debate(ctx, "mad", [gp, gp], [P.react(gp)] * 2, False, P.PLAYER_SYSTEM, P.DEBATER_SYSTEM)


def mad2(ctx: _Ctx) -> Decision:
    """Affirmative / negative debate with a moderator (spec §2.4 ``debate2``)."""
    g, gp, t = ctx.game, ctx.game_prompt, ctx.p.move_temperature
    aff = ctx.ask_moves([messages(P.AFFIRMATIVE_SYSTEM, P.react(gp))], t, "affirmative0")[0]
    first_aff, first_neg = aff, None
    history: list[tuple[str, Any, str]] = [("affirmative", aff.move, aff.reasoning)]
    consensus, rounds, neg = False, 0, Answer(None)
    for rounds in range(1, ctx.p.debate_rounds + 1):
        neg = ctx.ask_moves([messages(P.NEGATIVE_SYSTEM, P.negative(g, gp, aff.move, aff.reasoning))], t,
                            f"negative{rounds}")[0]
        first_neg = first_neg or neg
        history.append(("negative", neg.move, neg.reasoning))
        if _agree(aff, neg):
            consensus = True
            break
        new = ctx.ask_moves([messages(P.AFFIRMATIVE_SYSTEM, P.affirmative_refine(
            g, gp, aff.move, aff.reasoning, neg.move, neg.reasoning))], t, f"affirmative{rounds}")[0]
        if new.move is not None:
            aff = new
        history.append(("affirmative", aff.move, aff.reasoning))
        if _agree(aff, neg):
            consensus = True
            break
    if consensus:
        action = aff.move
    else:
        verdict = ctx.ask_moves([messages(P.JUDGE_SYSTEM, P.judge(g, gp, history))], ctx.p.judge_temperature, "judge")[0]
        action = verdict.move if verdict.move is not None else aff.move
    first_neg = first_neg or Answer(None)
    return Decision("mad2", action, initial=[first_aff.move, first_neg.move], final=[aff.move, neg.move],
                    reasonings=[first_aff.reasoning, first_neg.reasoning], rounds=rounds, consensus=consensus)


# ------------------------------------------------------------------------------------------------------
# DReaMAD (spec §2.5)
# ------------------------------------------------------------------------------------------------------
def _stage1(ctx: _Ctx) -> tuple[dict, dict | None]:
    """Strategic prior knowledge elicitation: game situation abstraction, then strategy derivation (T=0.1)."""
    t = ctx.p.stage1_temperature
    ab = ctx.ask_fields(messages(P.THEORIST_SYSTEM, P.abstraction(ctx.game_prompt)), t, P.KEYS_ABSTRACT,
                        "abstraction")[0] or {}
    st = ctx.ask_fields(messages(P.THEORIST_SYSTEM, P.strategy(ab)), t, P.KEYS_STRATEGY, "strategy")[0]
    return ab, st


def _refined(ctx: _Ctx, ab: dict | None, st: dict | None, k: int) -> list[str]:
    """Perspective diversification: k independent rewrites of the game prompt at the refinement temperature.

    A rewrite that stays unparseable falls back to the raw game prompt (plus the strategy notes)."""
    outs = ctx.ask_fields(messages(P.THEORIST_SYSTEM, P.refine_prompt(ctx.game_prompt, ab, st)),
                          ctx.p.refine_temperature, P.KEYS_REFINE, "refine_prompt", n=k)
    fallback = "\n".join(x for x in (ctx.game_prompt, P.strategy_block(ab, st)) if x)
    return [str(o["optimized_prompt"]) if o and str(o.get("optimized_prompt", "")).strip() else fallback for o in outs]


def _contexts(ctx: _Ctx, refined: list[str]) -> list[str]:
    return [P.with_note(P.refined_context(ctx.game, ctx.state, r), ctx.note) for r in refined]


def _dreamad_debate(ctx: _Ctx, name: str, refined: list[str]) -> Decision:
    cs = _contexts(ctx, refined)
    d = _debate(ctx, name, cs, [P.dreamad_move(c) for c in cs], True, P.PLAYER_SYSTEM, P.DEBATER_SYSTEM)
    return d


def dreamad(ctx: _Ctx) -> Decision:
    ab, st = _stage1(ctx)
    return _dreamad_debate(ctx, "dreamad", _refined(ctx, ab, st, 2))


def dreamad_same_prompt(ctx: _Ctx) -> Decision:
    ab, st = _stage1(ctx)
    r = _refined(ctx, ab, st, 1)
    return _dreamad_debate(ctx, "dreamad_same_prompt", r * 2)


def dreamad_no_prior(ctx: _Ctx) -> Decision:
    return _dreamad_debate(ctx, "dreamad_no_prior", _refined(ctx, None, None, 2))


def dreamad_no_debate(ctx: _Ctx) -> Decision:
    ab, st = _stage1(ctx)
    c = _contexts(ctx, _refined(ctx, ab, st, 1))[0]
    a = ctx.ask_moves([messages(P.PLAYER_SYSTEM, P.dreamad_move(c))], ctx.p.move_temperature, "move")[0]
    return Decision("dreamad_no_debate", a.move, initial=[a.move], final=[a.move], reasonings=[a.reasoning])


def dreamad_minus_sc(ctx: _Ctx) -> Decision:
    ab, st = _stage1(ctx)
    cs = _contexts(ctx, _refined(ctx, ab, st, ctx.p.sc_samples))
    ans = ctx.ask_moves([messages(P.PLAYER_SYSTEM, P.dreamad_move(c)) for c in cs], ctx.p.sc_temperature, "sample")
    moves = [a.move for a in ans]
    return Decision("dreamad_minus_sc", majority_vote(moves), initial=moves, final=moves,
                    reasonings=[a.reasoning for a in ans])


def dreamad_minus_sr(ctx: _Ctx) -> Decision:
    ab, st = _stage1(ctx)
    c = _contexts(ctx, _refined(ctx, ab, st, 1))[0]
    first = ctx.ask_moves([messages(P.PLAYER_SYSTEM, P.dreamad_move(c))], ctx.p.move_temperature, "initial")[0]
    return _self_refine_loop(ctx, c, first, "dreamad_minus_sr")


METHODS: dict[str, Callable[[_Ctx], Decision]] = {
    "standard": standard, "react": react, "cot": cot, "self_consistency": self_consistency,
    "self_refine": self_refine, "mad": mad, "mad2": mad2, "dreamad": dreamad,
    "dreamad_same_prompt": dreamad_same_prompt, "dreamad_no_prior": dreamad_no_prior,
    "dreamad_no_debate": dreamad_no_debate, "dreamad_minus_sc": dreamad_minus_sc, "dreamad_minus_sr": dreamad_minus_sr,
}
# methods whose decisions carry two debaters' initial/final moves (bias-reinforcement and diversity measures)
DEBATE_METHODS = ("mad", "mad2", "dreamad", "dreamad_same_prompt", "dreamad_no_prior")


def method_names() -> list[str]:
    return list(METHODS)


def call_budget(method: str, p: MethodParams) -> int:
    """Worst-case logical LLM calls of one decision (parse retries excluded)."""
    S, I, R = p.sc_samples, p.refine_iterations, p.debate_rounds
    table = {
        "standard": 1, "react": 1, "cot": 1, "self_consistency": S, "self_refine": 1 + 2 * I,
        "mad": 2 + 2 * R, "mad2": 1 + 2 * R + 1, "dreamad": 2 + 2 + 2 + 2 * R,
        "dreamad_same_prompt": 2 + 1 + 2 + 2 * R, "dreamad_no_prior": 2 + 2 + 2 * R, "dreamad_no_debate": 4,
        "dreamad_minus_sc": 2 + 2 * S, "dreamad_minus_sr": 2 + 1 + 1 + 2 * I,
    }
    if method not in table:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return table[method]


def decide(method: str, game: Game, state: State, llm: LLM, p: MethodParams | None = None,
           note: str | None = None, keep_trace: bool = False) -> Decision:
    """Run ``method`` once on ``state``; the ledger enforces :func:`call_budget`. ``note`` is appended to the game
    prompt (used by the arena after an illegal move)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    p = p or MethodParams()
    trace: list[dict[str, Any]] = []
    with llm.decision(call_budget(method, p)) as led:
        d = METHODS[method](_Ctx(game, state, llm, p, note, trace))
    d.calls = led.as_dict()
    d.trace = trace if keep_trace else []
    return d
