"""Agents on ``mlrepro.sampling``: one LLM agent class for every backend, plus scripted policies.

Every agent is a sampler from :func:`mlrepro.sampling.get_sampler` and a :class:`SamplingParams`. Scripted agents
use the ``scripted`` backend with a policy function ``fn(prompt, params, i) -> str`` that, like an LLM, sees only
the chat messages: its private facts (budget, cost, inventory), the method blocks (OG price rule, reward block,
OAR block, across-session feedback) and the dialogue all come from the prompt text. Only the strategy knobs
(concession speed, floors) live in the closure. So a scripted run exercises the same prompts, thought stripping
and action parsing as an LLM run.

Scripted sellers (spec §6 "known strategies"):
  ``geometric``  asks ``F + (I - F) delta^k`` at its k-th reply, accepts any offer >= its current ask;
  ``floor``      holds the list price and accepts any offer >= a fixed hidden floor F;
  ``bluff``      geometric, slower, and lies about its cost in Talk (deceptive market);
  ``monopoly``   geometric with a high floor and slow concessions;
  ``installment``geometric, and pushes instalment plans whose total exceeds its ask;
  ``negative``   geometric, concedes faster once the buyer raises the durability complaints;
  ``market``     picks the one above that fits the market named in its prompt (``several``: geometric per item).
with ``F = C + floor_frac (I - C)``. Scripted buyer ``mock``: a rule-based stand-in for an LLM buyer that follows
the OG price rule when given, ramps its offers from ``opening * B`` towards its ceiling otherwise, holds out
longer when it has the reward block, predicts the seller's concessions when it has the OAR block, and (with
``adaptive``) moves its ceiling from the across-session feedback. These behaviours are ours, chosen to be simple
and predictable; they are not a model of any LLM.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from mlrepro.runs import get_logger
from mlrepro.sampling import SamplingParams, get_sampler

from . import prompts as P
from .method import PRICE_EPS, consumer_surplus, deal_score, negotiation_power
from .protocol import KICKOFF, Responder, parse_action
from .scenarios import MARKET_TITLES, fmt_price

log = get_logger("mlrepro.bargainarena")

_TITLE_TO_MARKET = {v: k for k, v in MARKET_TITLES.items()}
_MONEY = r"\$([0-9][0-9,]*(?:\.[0-9]+)?)"


def _money(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1).replace(",", "")) if m else None


# ---------------------------------------------------------------------------------------------------------
# LLM agent (any backend)
# ---------------------------------------------------------------------------------------------------------

class LLMAgent(Responder):
    """An agent backed by a sampler. ``respond`` sends one batched ``generate`` call; a failing batch is retried
    prompt by prompt, and a prompt that still fails yields an empty reply (counted as unparseable)."""

    def __init__(self, sampler: Any, params: SamplingParams, name: str = "agent"):
        self.sampler = sampler
        self.params = params
        self.name = name
        self.errors = 0
        self.calls = 0

    def respond(self, prompts: list[list[dict]]) -> list[tuple[str, str]]:
        self.calls += len(prompts)
        try:
            outs = self.sampler.generate(prompts, self.params)
            return [(o[0].text, o[0].finish_reason) for o in outs]
        except Exception as e:  # noqa: BLE001 - backend errors (HTTP, OOM) must not kill a long run
            log.warning("%s: batch of %d failed (%s); retrying one by one", self.name, len(prompts), e)
        res = []
        for p in prompts:
            try:
                o = self.sampler.generate([p], self.params)[0][0]
                res.append((o.text, o.finish_reason))
            except Exception as e:  # noqa: BLE001
                self.errors += 1
                log.warning("%s: prompt failed (%s); empty reply", self.name, e)
                res.append(("", "error"))
        return res


# ---------------------------------------------------------------------------------------------------------
# Reading a chat prompt (what a scripted policy "sees")
# ---------------------------------------------------------------------------------------------------------

def _split(prompt: Any) -> tuple[str, list[dict]]:
    if isinstance(prompt, str):
        return prompt, []
    msgs = list(prompt)
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    return system, [m for m in msgs if m["role"] != "system"]


def _market(system: str) -> str:
    m = re.search(r"Market: ([^.\n]+)\.", system)
    return _TITLE_TO_MARKET.get(m.group(1).strip(), "vanilla") if m else "vanilla"


def _inventory(system: str, with_cost: bool) -> list[dict]:
    out = []
    pat = (r"^- ([^:\n]+): " + _MONEY + r"; your cost " + _MONEY) if with_cost else (r"^- ([^:\n]+): " + _MONEY + r"; ")
    for m in re.finditer(pat, system, re.M):
        d = {"name": m.group(1).strip(), "price": float(m.group(2).replace(",", ""))}
        if with_cost:
            d["cost"] = float(m.group(3).replace(",", ""))
        out.append(d)
    return out


def _ceil_cents(x: float) -> float:
    return math.ceil(round(x * 100, 6)) / 100


def _round_cents(x: float) -> float:
    return round(x + 1e-9, 2)


def _reply(thought: str, talk: str, action: str) -> str:
    return f"Thought: {thought}\nTalk: {talk}\nAction: {action}"


# ---------------------------------------------------------------------------------------------------------
# Scripted sellers
# ---------------------------------------------------------------------------------------------------------

MARKET_SELLERS: dict[str, tuple[str, dict]] = {
    "vanilla": ("geometric", {"delta": 0.8, "floor_frac": 0.3}),
    "deceptive": ("bluff", {"delta": 0.85, "floor_frac": 0.3}),
    "monopoly": ("monopoly", {"delta": 0.9, "floor_frac": 0.6}),
    "installment": ("installment", {"delta": 0.8, "floor_frac": 0.3}),
    "negative": ("negative", {"delta": 0.8, "floor_frac": 0.3, "delta_after_complaint": 0.65}),
    "several": ("geometric", {"delta": 0.8, "floor_frac": 0.3}),
}
SELLER_STRATEGIES = ("market", "geometric", "floor", "bluff", "monopoly", "installment", "negative")


def seller_facts(system: str) -> dict:
    """Cost, list price and market a seller prompt states (multi-product: the inventory with costs)."""
    facts = {"market": _market(system), "cost": _money(r"Your cost, the least you may accept: " + _MONEY, system),
             "list_price": _money(r"Your list price: " + _MONEY, system), "inventory": _inventory(system, True)}
    return facts


def _seller_item(facts: dict, buyer_act: Any, history_items: list[str]) -> tuple[str | None, float, float]:
    """(item, list price, cost) the seller is negotiating about now."""
    inv = facts["inventory"]
    if not inv:
        return None, facts["list_price"], facts["cost"]
    for name in history_items[::-1]:
        for v in inv:
            if name.lower() in v["name"].lower() or v["name"].lower() in name.lower():
                return v["name"], v["price"], v["cost"]
    # the buyer has named nothing yet: offer the most expensive item (an upsell)
    v = max(inv, key=lambda v: v["price"])
    return v["name"], v["price"], v["cost"]


def make_seller_policy(strategy: str = "market", **kw: Any) -> Callable[[Any, Any, int], str]:
    """A scripted seller ``fn(prompt, params, i) -> reply`` for ``ScriptedSampler``."""
    if strategy not in SELLER_STRATEGIES:
        raise ValueError(f"unknown seller strategy {strategy!r}; known: {SELLER_STRATEGIES}")

    def policy(prompt: Any, params: Any = None, i: int = 0) -> str:
        system, msgs = _split(prompt)
        facts = seller_facts(system)
        strat, knobs = (MARKET_SELLERS[facts["market"]] if strategy == "market" else (strategy, {}))
        knobs = {**knobs, **kw}
        k = sum(1 for m in msgs if m["role"] == "assistant")  # own replies so far
        buyer_msgs = [m["content"] for m in msgs if m["role"] == "user"]
        acts = [parse_action(t, "buyer")[0] for t in buyer_msgs]
        last = acts[-1] if acts else None
        items = [a.item for a in acts if a is not None and a.item]
        item, list_price, cost = _seller_item(facts, last, items)
        if list_price is None or cost is None:
            return _reply("I cannot read my prices.", "Let me check my notes.", "[REJECT]")
        floor = cost + float(knobs.get("floor_frac", 0.3)) * (list_price - cost)
        delta = float(knobs.get("delta", 0.8))
        complained = any(re.search(r"durab|complain|broke", t, re.I) for t in buyer_msgs)
        if strat == "negative" and complained:
            delta = float(knobs.get("delta_after_complaint", 0.65))
        tag_item = f" ({item})" if item else ""
        offer = last.price if (last is not None and last.kind in ("BUY", "INSTALLMENT")) else None
        if strat == "floor":
            ask = list_price
        else:
            ask = _round_cents(floor + (list_price - floor) * delta ** k)
        # accept any offer at or above the current ask (floor seller: at or above the floor)
        threshold = floor if strat == "floor" else ask
        if offer is not None and offer >= threshold - PRICE_EPS:
            months = f" over {last.months} months" if last.kind == "INSTALLMENT" and last.months else ""
            return _reply(f"{fmt_price(offer)} clears my floor of {fmt_price(floor)}; I take it.",
                          "You have a deal.", f"[DEAL] {fmt_price(offer)}{months}{tag_item}")
        thought = f"My floor is {fmt_price(floor)}; I ask {fmt_price(ask)} now."
        talk = "This is a fair price for what you get."
        if strat == "bluff":
            talk = f"Honestly, I paid almost {fmt_price(_round_cents(max(floor, ask * 0.97)))} for it myself, so I can barely move."
        elif strat == "monopoly":
            talk = "You will not find this anywhere else; nobody else sells it."
        elif strat == "negative" and complained:
            talk = "Those complaints were about an old batch; this one is solid, and I will meet you partway."
        elif strat == "installment" and k >= 1 and offer is not None:
            total = _round_cents(ask * float(knobs.get("plan_markup", 1.08)))
            months = int(knobs.get("plan_months", 6))
            return _reply(f"A plan lets me raise the total above my ask of {fmt_price(ask)}.",
                          f"How about spreading it out? Only {fmt_price(_round_cents(total / months))} a month.",
                          f"[INSTALLMENT] {fmt_price(total)} over {months} months{tag_item}")
        return _reply(thought, talk, f"[SELL] {fmt_price(ask)}{tag_item}")

    return policy


# ---------------------------------------------------------------------------------------------------------
# Scripted buyers
# ---------------------------------------------------------------------------------------------------------

BUYER_STRATEGIES = ("mock",)


def buyer_facts(system: str) -> dict:
    """Budget, list price, round limit, market and method blocks that a buyer prompt states."""
    want = re.search(r"The item you want most: ([^,\n]+), listed at " + _MONEY, system)
    og = re.search(re.escape(P.OG_HEADING) + r" offer exactly " + _MONEY, system)
    rounds = re.search(r"reply at most (\d+) times", system)
    return {
        "market": _market(system),
        "budget": _money(r"Your budget, the most you are allowed to pay: " + _MONEY, system),
        "list_price": float(want.group(2).replace(",", "")) if want else _money(r"The seller's list price: " + _MONEY, system),
        "item": want.group(1).strip() if want else None,
        "rounds": int(rounds.group(1)) if rounds else 10,
        "og_price": float(og.group(1).replace(",", "")) if og else None,
        "reward": P.REWARD_HEADING in system,
        "oar": P.OAR_HEADING in system,
        "feedback": P.parse_feedback(system),
        "inventory": _inventory(system, False),
    }


def adaptive_ceiling(history: list[dict], budget: float, step: float) -> float:
    """Ceiling of a feedback-aware buyer: start at the budget; after each deal at p, try ``p - step * B`` next
    time; after the first failure, go back to the best price that worked and keep it."""
    c, best = budget, None
    for h in history:
        if h.get("deal") and h.get("price") is not None:
            best = h["price"] if best is None else min(best, h["price"])
            c = min(budget, best - step * budget)
        elif best is not None:
            return best
    return c


def estimate_concession(asks: list[float]) -> tuple[float, float] | None:
    """Opponent model for a geometric conceder ``a_k = F + (a_0 - F) d^k``: Aitken's delta-squared estimate of the
    floor F and the factor d from the last three asks. None if the asks do not look geometric."""
    if len(asks) < 3:
        return None
    a0, a1, a2 = asks[-3:]
    den = a0 - 2 * a1 + a2
    if not (a1 < a0 and a2 < a1) or abs(den) < 1e-9:
        return None
    floor = (a0 * a2 - a1 * a1) / den
    d = (a2 - a1) / (a1 - a0)
    if not (0 < d < 1) or floor <= 0 or floor > a2:
        return None
    return floor, d


def make_buyer_policy(strategy: str = "mock", opening: float = 0.6, exponent: float = 1.0,
                      reward_exponent: float = 2.0, adaptive: bool = False, step: float = 0.05,
                      cost_prior: float = 0.75, oar_margin: float = 0.005) -> Callable[[Any, Any, int], str]:
    """The scripted ``mock`` buyer (see the module docstring); a pure function of the prompt."""
    if strategy not in BUYER_STRATEGIES:
        raise ValueError(f"unknown buyer strategy {strategy!r}; known: {BUYER_STRATEGIES}")

    def policy(prompt: Any, params: Any = None, i: int = 0) -> str:
        system, msgs = _split(prompt)
        f = buyer_facts(system)
        budget, list_price, rounds = f["budget"], f["list_price"], f["rounds"]
        if budget is None:
            return _reply("I cannot read my budget.", "Let me think.", "[REJECT]")
        item = f["item"]
        tag_item = f" ({item})" if item else ""
        own = [m["content"] for m in msgs if m["role"] == "assistant"]
        t = max(0, len(own) - 1)  # the first assistant message is the fixed opener
        seller_msgs = [m["content"] for m in msgs if m["role"] == "user" and m["content"] != KICKOFF]
        seller_acts = [parse_action(s, "seller")[0] for s in seller_msgs]
        last = seller_acts[-1] if seller_acts else None
        def same_item(a: Any) -> bool:
            return item is None or a.item is None or a.item.strip().lower() == item.lower()

        asks = [a.price for a in seller_acts if a is not None and a.kind == "SELL" and a.price is not None and same_item(a)]
        my_offers = [a.price for a in (parse_action(o, "buyer")[0] for o in own[1:]) if a is not None and a.price is not None]
        est = estimate_concession(asks) if f["oar"] else None

        def self_score(price: float) -> str:
            if not f["reward"]:
                return ""
            c_hat = est[0] if est else cost_prior * list_price
            cs, np_ = consumer_surplus(price, budget, c_hat), negotiation_power(price, list_price, c_hat)
            return (f"\n{P.SELF_SCORE_TAG} cost_estimate={fmt_price(_round_cents(c_hat))}, CS={cs:.3f}, NP={np_:.3f}, "
                    f"AR=1.000, reward={deal_score(cs, np_, 1.0):.3f}")

        lever = ""
        if f["market"] == "negative" and t == 0:
            lever = " I have read a lot of complaints that your products break too soon, so I am careful."
        if f["og_price"] is not None:  # OG-Narrator rule: exactly this price, firmly, nothing else
            p = f["og_price"]
            return _reply(f"The price rule says {fmt_price(p)} this turn." + self_score(p),
                          f"I can pay {fmt_price(p)}, and that is my firm offer.{lever}", f"[BUY] {fmt_price(p)}{tag_item}")
        ceiling = adaptive_ceiling(f["feedback"], budget, step) if adaptive else budget
        lo = opening * budget
        frac = 1.0 if rounds <= 1 else min(1.0, t / (rounds - 1))
        expo = exponent * (reward_exponent if f["reward"] else 1.0)
        target = _round_cents(lo + (ceiling - lo) * frac ** expo)
        final = t >= rounds - 1
        note = ""
        accept_at = ceiling if (not f["reward"] or final) else target
        if est is not None:  # OAR: predict the seller's ask at its last reply; wait for it, then offer it
            floor_hat, d_hat = est
            k_last = len(seller_acts) - 1
            pred_final = _ceil_cents(floor_hat + (asks[-1] - floor_hat) * d_hat ** (rounds - k_last) + oar_margin * budget)
            note = (f" The seller concedes by about x{d_hat:.2f} a turn towards roughly {fmt_price(_round_cents(floor_hat))};"
                    f" by my last turn it should accept about {fmt_price(pred_final)}.")
            accept_at = min(accept_at, pred_final)
            if final:  # offer what the seller should accept on its last reply rather than the full ceiling
                target = min(ceiling, pred_final)
        if (last is not None and last.kind in ("SELL", "INSTALLMENT") and last.price is not None and same_item(last)
                and last.price <= accept_at + PRICE_EPS):
            months = f" over {last.months} months" if last.kind == "INSTALLMENT" and last.months else ""
            return _reply(f"{fmt_price(last.price)} is within what I will pay.{note}" + self_score(last.price),
                          "All right, we have a deal.", f"[DEAL] {fmt_price(last.price)}{months}{tag_item}")
        offer = min(ceiling, max([target, *my_offers]))
        return _reply(f"I move to {fmt_price(offer)} on turn {t + 1} of {rounds}.{note}" + self_score(offer),
                      f"That is too much for me. I can offer {fmt_price(offer)}.{lever}", f"[BUY] {fmt_price(offer)}{tag_item}")

    return policy


# ---------------------------------------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------------------------------------

def build_agent(role: str, backend: str, model: str = "", strategy: str = "", strategy_kwargs: dict | None = None,
                sampler_kwargs: dict | None = None, params: SamplingParams | None = None, name: str | None = None) -> LLMAgent:
    """Build a buyer/seller/extractor agent. ``backend="scripted"`` uses the scripted policy ``strategy``;
    every other backend goes through ``get_sampler(backend, model=model, **sampler_kwargs)``."""
    params = params or SamplingParams()
    if backend == "scripted":
        if role == "buyer":
            fn = make_buyer_policy(strategy or "mock", **(strategy_kwargs or {}))
        elif role == "seller":
            fn = make_seller_policy(strategy or "market", **(strategy_kwargs or {}))
        elif role == "extractor":
            from .extract import mock_llm_extractor  # noqa: PLC0415

            fn = mock_llm_extractor
        else:
            raise ValueError(f"no scripted policy for role {role!r}")
        sampler = get_sampler("scripted", fn=fn)
        return LLMAgent(sampler, params, name or f"scripted-{role}-{strategy or 'default'}")
    if not model:
        raise ValueError(f"{role}: backend {backend!r} needs a model id (set {role}.model)")
    sampler = get_sampler(backend, model=model, **(sampler_kwargs or {}))
    return LLMAgent(sampler, params, name or f"{backend}:{model}")
