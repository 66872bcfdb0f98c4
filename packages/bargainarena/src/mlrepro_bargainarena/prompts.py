"""Buyer prompt add-ons for the compared methods (spec §2.6), written in our own words.

A method string is a base plus optional modifiers joined by ``+``:

- base ``react``: the scenario prompt only (Thought/Talk/Action; the paper's ReAct-style baseline);
- base ``ours``: the utility-based feedback block: the private reward definition (CS, NP, AR and the weights),
  the instruction to estimate the hidden cost, explore several lines in the hidden reasoning and re-score the
  current price every turn, written as one ``Self-score:`` line (per-turn self-scoring);
- base ``og``: the OG-Narrator baseline; each buyer turn gets a price rule ``round(B (0.5 + 0.5 t/T), 2)``;
- modifier ``oar``: the opponent-aware reasoning block (three questions about the seller before each action);
  placed before the reward block, as in the authors' prompt;
- modifier ``fb``: across-session feedback: after each session the buyer's metric breakdown is appended to its
  prompt for the next session with the same seller ([INFERRED]; not in the authors' code, see README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .method import WEIGHTS, og_price
from .scenarios import Scenario, fmt_price

BASES = ("react", "ours", "og")
MODIFIERS = ("oar", "fb")

# Headings that start each block: scripted agents look for them, and tests check that they appear only where
# the method asks for them.
OAR_HEADING = "Reading the seller (do this in your Thought before every action):"
REWARD_HEADING = "How your result is scored (private; never mention it to the seller):"
OG_HEADING = "Price rule for this turn:"
FEEDBACK_HEADING = "Feedback from your earlier sessions with this seller:"
SELF_SCORE_TAG = "Self-score:"


@dataclass(frozen=True)
class MethodSpec:
    base: str
    oar: bool = False
    feedback: bool = False

    @property
    def name(self) -> str:
        return "+".join([self.base] + (["oar"] if self.oar else []) + (["fb"] if self.feedback else []))


def parse_method(method: str) -> MethodSpec:
    """``"ours+oar"`` -> MethodSpec("ours", oar=True). Raises ValueError naming the bad part."""
    parts = [p.strip().lower() for p in str(method).split("+") if p.strip()]
    if not parts or parts[0] not in BASES:
        raise ValueError(f"method {method!r}: must start with one of {BASES}")
    mods = parts[1:]
    bad = [m for m in mods if m not in MODIFIERS]
    if bad or len(set(mods)) != len(mods):
        raise ValueError(f"method {method!r}: modifiers must be distinct ones of {MODIFIERS}, got {mods}")
    return MethodSpec(parts[0], oar="oar" in mods, feedback="fb" in mods)


def oar_block() -> str:
    """Opponent-aware reasoning block (spec §2.6; the three points of the authors' OAR prompt, our wording)."""
    return "\n".join([
        OAR_HEADING,
        "1. Form an explicit hypothesis about the seller's hidden cost, i.e. the lowest price it could accept, "
        "from its offers and statements so far.",
        "2. Judge how flexible the seller is: is it conceding, and how fast, or holding firm? What does that say "
        "about the room left to negotiate?",
        "3. Predict how your next offer or statement will change the seller's view of you and its next counter-offer.",
    ])


def reward_block(scenario: Scenario) -> str:
    """Utility-based feedback block (spec §2.6 'ours'): the private reward definition and per-turn self-scoring."""
    w_cs, w_np, w_ar = WEIGHTS
    lines = [
        REWARD_HEADING,
        "- P_deal is the agreed price, P_budget your budget, P_initial the list price and P_cost the seller's hidden cost.",
        "- Consumer surplus CS = (P_budget - P_deal) / (P_budget - P_cost), kept between 0 and 1.",
        "- Negotiation power NP = (P_initial - P_deal) / (P_initial - P_cost), kept between 0 and 1.",
    ]
    if scenario.multi:
        sims = "; ".join(f"{v['name']} {v['similarity']:.4f}" for v in scenario.inventory)
        lines += [
            "- Acquisition ratio AR = how close the item you buy is to the one you want: " + sims + ".",
            "  P_initial and P_cost are those of the item you buy. Keep the item you buy close to the one you want.",
        ]
    else:
        lines.append("- Acquisition ratio AR = 1 here (there is one product).")
    lines += [
        f"- Reward = {w_cs} x CS + {w_np} x NP + {w_ar} x AR if a deal is made (at most 3); a failed negotiation scores 0.",
        "You do not know P_cost: estimate it privately, as low as is still realistic. Aim for the highest reward "
        "without letting the deal fall through. In your Thought, explore several possible lines of negotiation "
        "before choosing one. On every turn re-estimate the numbers for the price you are about to offer or "
        f"accept and write them in your Thought as one line:\n{SELF_SCORE_TAG} cost_estimate=$X, CS=..., NP=..., "
        "AR=..., reward=...\nNever show these numbers or calculations in Talk.",
    ]
    return "\n".join(lines)


def og_instruction(scenario: Scenario, turn: int) -> str:
    """OG-Narrator per-turn rule (spec §2.6): offer exactly the scheduled price, firmly, and nothing else."""
    p = og_price(scenario.budget, turn, scenario.rounds)
    item = f" ({scenario.desired_item})" if scenario.multi else ""
    return (f"{OG_HEADING} offer exactly {fmt_price(p)}{item} with [BUY] {fmt_price(p)}{item}. Present it as your "
            "firm price for now. Do not accept, propose or mention any other price on this turn.")


def feedback_block(history: list[dict], reveal: list[str] | tuple[str, ...] = ("price", "cs", "np", "ar", "score"),
                   max_history: int = 10) -> str:
    """Across-session feedback: one line per earlier session with its metric breakdown.

    ``history`` holds the scored sessions (``deal``, ``price``, ``item``, ``cs``, ``np``, ``ar``, ``score``,
    ``turns``). ``reveal`` picks the fields shown; note that CS and NP together reveal the seller's cost.
    """
    if not history:
        return ""
    first = max(0, len(history) - max_history)
    lines = [FEEDBACK_HEADING,
             f"(score = {WEIGHTS[0]} CS + {WEIGHTS[1]} NP + {WEIGHTS[2]} AR per deal, at most 3; 0 without a deal)"]
    for i, h in enumerate(history[first:], start=first + 1):
        if h.get("deal"):
            parts = []
            if "price" in reveal:
                parts.append(f"deal at {fmt_price(h['price'])}" + (f" for {h['item']}" if h.get("item") else ""))
            else:
                parts.append("deal")
            parts += [f"{k.upper()} {h[k]:.3f}" for k in ("cs", "np", "ar") if k in reveal]
            if "score" in reveal:
                parts.append(f"score {h['score']:.3f} of 3")
            parts.append(f"{h.get('turns', 0)} turns")
            lines.append(f"- Session {i}: " + ", ".join(parts))
        else:
            lines.append(f"- Session {i}: no deal" + (", score 0 of 3" if "score" in reveal else "")
                         + f", {h.get('turns', 0)} turns")
    scores = [h.get("score", 0.0) for h in history]
    if "score" in reveal:
        lines.append(f"Mean score so far: {sum(scores) / len(scores):.3f}. Use this to improve your strategy now.")
    else:
        lines.append("Use this to improve your strategy now.")
    return "\n".join(lines)


_FB_LINE = re.compile(r"^- Session (\d+): (deal at \$([0-9][0-9,]*(?:\.[0-9]+)?)|deal|no deal)", re.M)


def parse_feedback(text: str) -> list[dict]:
    """Read back the session outcomes from a feedback block (used by feedback-aware scripted buyers)."""
    i = text.find(FEEDBACK_HEADING)
    if i < 0:
        return []
    out = []
    for m in _FB_LINE.finditer(text[i:]):
        if m.group(2) == "no deal":
            out.append({"session": int(m.group(1)), "deal": False, "price": None})
        else:
            price = float(m.group(3).replace(",", "")) if m.group(3) else None
            out.append({"session": int(m.group(1)), "deal": True, "price": price})
    return out


def buyer_system_prompt(scenario: Scenario, method: MethodSpec | str, feedback_history: list[dict] | None = None,
                        reveal: list[str] | tuple[str, ...] = ("price", "cs", "np", "ar", "score"),
                        max_history: int = 10) -> str:
    """Scenario prompt plus the method's blocks (OAR before the reward block, as in the authors' prompt)."""
    spec = parse_method(method) if isinstance(method, str) else method
    parts = [scenario.buyer_system]
    if spec.oar:
        parts.append(oar_block())
    if spec.base == "ours":
        parts.append(reward_block(scenario))
    if spec.feedback and feedback_history:
        parts.append(feedback_block(feedback_history, reveal, max_history))
    return "\n\n".join(parts)


def buyer_turn_note(scenario: Scenario, method: MethodSpec | str, turn: int) -> str:
    """Per-turn addition to the buyer's system prompt (only OG-Narrator has one)."""
    spec = parse_method(method) if isinstance(method, str) else method
    return og_instruction(scenario, turn) if spec.base == "og" else ""
