"""Data the package makes itself: hand-made transcript pairs, synthetic pairwise preferences, and a loader for a
user-supplied preference JSONL (the authors' 310 human labels are not shipped; spec §2.5, §4).

The transcript pairs encode the spec's worked vectors (§2.5) as full dialogues written here, with distracting
numbers in Thought and Talk, so that the whole chain (log -> rule extraction -> metric) is checked, not only the
formula. Each pair says which transcript the spec's metric must prefer and the score it must give.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .method import WEIGHTS, score_deal
from .scenarios import MARKETS, MULTI_CATALOGUE, PRODUCTS, SINGLE_PRICES, fmt_price, make_scenario

# --------------------------------------------------------------------------------------------------------
# Hand-made transcripts (ours)
# --------------------------------------------------------------------------------------------------------


def _r(thought: str, talk: str, action: str) -> str:
    return f"Thought: {thought}\nTalk: {talk}\nAction: {action}"


def camera_transcript(final: float | None, quit_: bool = False) -> list[tuple[str, str]]:
    """A vanilla Camera session (B 500, I 550, C 400) that ends with a deal at ``final`` (buyer accepts the
    seller's last [SELL]) or, with ``final=None``, in a [QUIT] (``quit_``) or a timeout."""
    r = [("buyer", "Hi, I'd like to buy a nice camera.")]
    r.append(("seller", _r("List price first; my cost is 400 so I have room.", "It is a great camera. $550.", "[SELL] $550")))
    r.append(("buyer", _r("My budget is 500; open low around 380.", "A friend paid $420 for one last year. I can do $380.", "[BUY] $380")))
    if final is None:
        r.append(("seller", _r("Too low.", "I cannot go near that. $540 is my best.", "[SELL] $540")))
        if quit_:
            r.append(("buyer", _r("540 is far over my 500 budget. Walk away.", "Then I will look elsewhere.", "[QUIT]")))
        return r
    r.append(("seller", _r("Meet them partway; anything above 400 is profit.", f"For you, {fmt_price(final)}.", f"[SELL] {fmt_price(final)}")))
    r.append(("buyer", _r(f"{fmt_price(final)} is the offer; a deal now beats none.", "Fine, let's do it.", f"[DEAL] {fmt_price(final)}")))
    return r


def several_camera_transcript(item: str, final: float) -> list[tuple[str, str]]:
    """A multi-product Camera session (budget 500) ending with a deal on ``item`` at ``final``."""
    return [
        ("buyer", "Hi, I'd like to buy a nice camera."),
        ("seller", _r("Start with the DSLR.", "The DSLR is our best. $550.", "[SELL] $550 (DSLR Camera)")),
        ("buyer", _r("The Digital at 430 might be a fallback.", "I love the DSLR but my budget is tight. $450?", "[BUY] $450 (DSLR Camera)")),
        ("seller", _r("Offer the item they ask about.", f"I can do {fmt_price(final)} on the {item}.", f"[SELL] {fmt_price(final)} ({item})")),
        ("buyer", _r("Acceptable.", "Deal.", f"[DEAL] {fmt_price(final)} ({item})")),
    ]


@dataclass
class TranscriptPair:
    """Two session logs of one scenario; ``preferred`` (0 or 1) is the one the spec's metric must rank higher.
    ``expected`` holds the spec's score for each side (a file-level AvgTotal when a side has several sessions)."""

    id: str
    statement: str
    market: str
    product: str
    sessions: tuple[list[list[tuple[str, str]]], list[list[tuple[str, str]]]]
    preferred: int
    expected: tuple[float, float]
    source: str = "spec §2.5 worked vectors"
    extra: dict = field(default_factory=dict)


def transcript_pairs() -> list[TranscriptPair]:
    """The hand-made pairs: the ranking and the scores follow the spec's worked test vectors (§2.5)."""
    nd = camera_transcript(None)
    return [
        TranscriptPair("cheaper_deal", "deal at $450 beats deal at the budget ($500)", "vanilla", "Camera",
                       ([camera_transcript(450)], [camera_transcript(500)]), 0, (2.1993, 1.3986)),
        TranscriptPair("deal_at_cost", "deal at cost ($400) beats deal at $450", "vanilla", "Camera",
                       ([camera_transcript(400)], [camera_transcript(450)]), 0, (3.0, 2.1993)),
        TranscriptPair("budget_vs_overpriced", "deal at the budget beats a deal above list ($560)", "vanilla", "Camera",
                       ([camera_transcript(560)], [camera_transcript(500)]), 1, (1.1049, 1.3986)),
        TranscriptPair("overpriced_vs_none", "even a deal above list ($560) beats no deal", "vanilla", "Camera",
                       ([camera_transcript(None, quit_=True)], [camera_transcript(560)]), 1, (0.0, 1.1049)),
        TranscriptPair("fit_beats_price", "the desired DSLR at $480 beats the cheaper Digital Camera at $400",
                       "several", "Camera",
                       ([several_camera_transcript("DSLR Camera", 480)], [several_camera_transcript("Digital Camera", 400)]),
                       0, (1.7189, 1.5702)),
        TranscriptPair("file_two_deals", "10 sessions with deals at $450 and $400 (8 no deals) beat 10 sessions with "
                       "one deal at $450", "vanilla", "Camera",
                       ([camera_transcript(450), camera_transcript(400)] + [nd] * 8, [camera_transcript(450)] + [nd] * 9),
                       0, (0.5199, 0.2199), extra={"deal_rate": (20.0, 10.0)}),
    ]


def pair_log(sessions: list[list[tuple[str, str]]]) -> str:
    """The pair side as a log text in our banner format (see :mod:`extract`)."""
    out = []
    for k, replies in enumerate(sessions, start=1):
        out.append(f"===== Start of Session {k} =====")
        out.append("\n\n".join(f"{'Buyer' if r == 'buyer' else 'Seller'}: {t}" for r, t in replies))
        out.append(f"===== End of Session {k} =====")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------
# Pairwise preferences
# --------------------------------------------------------------------------------------------------------

def random_outcome(rng: random.Random, market: str, product: str, p_no_deal: float = 0.15) -> dict:
    """A random session outcome on (market, product): no deal, or a price around the [cost, list] range."""
    sc = make_scenario(market, product)
    if rng.random() < p_no_deal:
        s = score_deal(None, sc.budget, sc.list_price, sc.cost)
        return {"deal": False, "price": None, "item": None, **{k: getattr(s, k) for k in ("cs", "np", "ar")}}
    item = rng.choice(sc.inventory)["name"] if sc.multi else None
    b, i, c, ar = sc.prices_and_ar(item)
    span = i - c
    price = round(rng.uniform(c - 0.1 * span, i + 0.1 * span), 2)
    s = score_deal(price, b, i, c, ar)
    return {"deal": True, "price": price, "item": item, "cs": s.cs, "np": s.np, "ar": s.ar}


def synthetic_preferences(n: int, seed: int = 0, weights: tuple[float, ...] = WEIGHTS, scale: float = 1.0) -> dict:
    """``n`` pairs of outcomes of the same (market, product) with labels drawn from a Bradley-Terry model with
    utility ``scale * w . (CS, NP, AR)``. Returns arrays ``x_first``, ``x_second``, ``first_preferred``."""
    rng = random.Random(seed)
    x1, x2, y = [], [], []
    w = np.asarray(weights, dtype=float) * scale
    for _ in range(n):
        market, product = rng.choice(MARKETS), rng.choice(PRODUCTS)
        a, b = random_outcome(rng, market, product), random_outcome(rng, market, product)
        fa = [a["cs"], a["np"], a["ar"]]
        fb = [b["cs"], b["np"], b["ar"]]
        z = float(np.dot(w, np.subtract(fa, fb)))
        p = 1.0 / (1.0 + math.exp(-z))
        x1.append(fa)
        x2.append(fb)
        y.append(1 if rng.random() < p else 0)
    return {"x_first": np.array(x1), "x_second": np.array(x2), "first_preferred": np.array(y)}


_COST_TO_PRICE: dict[tuple[float, float], float] = {}
for _p, (_b, _i, _c) in SINGLE_PRICES.items():
    _COST_TO_PRICE[(_b, _c)] = _i
for _cat, (_b, _vs) in MULTI_CATALOGUE.items():
    for _v in _vs:
        _COST_TO_PRICE.setdefault((_b, _v.cost), _v.price)


def _features(d: dict) -> list[float]:
    if all(k in d for k in ("cs", "np", "ar")):
        return [float(d["cs"]), float(d["np"]), float(d["ar"])]
    deal = d.get("deal")
    deal = bool(deal) and str(deal).lower() not in ("false", "0", "no", "no deal")
    if not deal or d.get("deal_price") in (None, "", "No deal"):
        return [0.0, 0.0, 0.0]
    budget = float(d["budget"])
    cost = float(d.get("product_cost", d.get("cost")))
    lp = d.get("list_price", d.get("initial_price"))
    if lp is None:
        lp = _COST_TO_PRICE.get((budget, cost))
        if lp is None:
            raise ValueError(f"cannot find the list price for budget {budget}, cost {cost}; add 'list_price'")
    s = score_deal(float(d["deal_price"]), budget, float(lp), cost, float(d.get("acquisition_ratio", d.get("ar", 1.0))))
    return [s.cs, s.np, s.ar]


def load_preferences(path: str | Path, label_first_preferred: bool = True) -> dict:
    """Read a pairwise-preference JSONL: each line holds two dialogues (``dialogue0``/``dialogue1`` or ``a``/``b``)
    with either ``cs``/``np``/``ar`` or ``deal``, ``deal_price``, ``budget``, ``product_cost`` (``list_price``
    optional, else looked up), ``acquisition_ratio``; and a 0/1 label (``human_label`` or ``label``).
    ``label_first_preferred`` says whether label 1 means the first dialogue is preferred (the authors' convention
    is ambiguous, spec §2.5)."""
    x1, x2, y = [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                a = rec.get("dialogue0", rec.get("a"))
                b = rec.get("dialogue1", rec.get("b"))
                lab = int(rec.get("human_label", rec.get("label")))
                if a is None or b is None or lab not in (0, 1):
                    raise ValueError("needs two dialogues and a 0/1 label")
                x1.append(_features(a))
                x2.append(_features(b))
            except (ValueError, TypeError, KeyError) as e:
                raise ValueError(f"{path}:{n}: {e}") from e
            y.append(lab if label_first_preferred else 1 - lab)
    if not y:
        raise ValueError(f"{path}: no preference records")
    return {"x_first": np.array(x1), "x_second": np.array(x2), "first_preferred": np.array(y)}


def arena_corpus(products: tuple[str, ...] = ("Camera", "Jacket")) -> list[str]:
    """Text of the arena itself (every market's prompts under every method, plus scripted dialogues), used to
    train the tiny LM's tokenizer so that prompts stay short in tokens."""
    from .agents import build_agent  # noqa: PLC0415
    from .prompts import buyer_system_prompt, buyer_turn_note  # noqa: PLC0415
    from .protocol import run_session  # noqa: PLC0415

    out = []
    buyer = build_agent("buyer", "scripted", strategy="mock")
    seller = build_agent("seller", "scripted", strategy="market")
    for market in MARKETS:
        for product in products:
            sc = make_scenario(market, product)
            out.append(sc.seller_system)
            for method in ("react", "ours+oar", "og"):
                system = buyer_system_prompt(sc, method)
                out.append(system)
                note = (lambda t, sc=sc: buyer_turn_note(sc, "og", t)) if method == "og" else None
                s = run_session(sc, buyer, seller, buyer_system=system, buyer_note=note)
                out += [t.text for t in s.turns]
    return out
