"""Scoring sessions and aggregating them the way the paper reports (spec §2.5).

Per session: the deal price (from the protocol / rule extractor, optionally the LLM extractor), CS, NP, AR and
the score. Per (market, product, method, seller) cell: AvgTotal (no deal counts 0), DealRate, AvgDealPrice.
Per product: mean over sellers; per market: mean and std over products; per method: mean over markets.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .method import DealScore, file_metrics, mean_std, og_price, score_deal
from .protocol import Outcome, Session
from .scenarios import Scenario


def score_outcome(outcome: Outcome, scenario: Scenario) -> tuple[DealScore, str]:
    """Score an outcome; returns (score, problem). Deals without a readable price or with an item outside the
    inventory count as no deal (they stay in the denominator), and the problem is reported."""
    if not outcome.deal:
        return score_deal(None, scenario.budget, scenario.list_price, scenario.cost), ""
    if outcome.price is None:
        return score_deal(None, scenario.budget, scenario.list_price, scenario.cost), "deal_without_price"
    try:
        b, i, c, ar = scenario.prices_and_ar(outcome.item)
    except KeyError:
        return score_deal(None, scenario.budget, scenario.list_price, scenario.cost), "item_not_in_inventory"
    return score_deal(outcome.price, b, i, c, ar), ""


def session_record(session: Session, scenario: Scenario, outcome: Outcome | None = None, **meta: Any) -> dict:
    """One JSON-able row per session: outcome, metric terms, parse problems, self-scores, OG compliance."""
    out = outcome or session.outcome or Outcome("no_deal")
    sc, problem = score_outcome(out, scenario)
    buyer_turns = [t for t in session.turns if t.role == "buyer" and t.index >= 0]
    rec = {
        "market": scenario.market, "product": scenario.product, **session.meta, **meta,
        "status": out.status, "deal": sc.deal, "price": out.price if sc.deal else None, "item": out.item,
        "months": out.months, "cs": sc.cs, "np": sc.np, "ar": sc.ar, "score": sc.score,
        "buyer_turns": len(buyer_turns), "replies": len(session.turns) - 1, "ended_by": out.ended_by,
        "flags": list(out.flags) + ([problem] if problem else []), "problems": session.problems(),
        "unparseable": sum(1 for t in session.turns if t.index >= 0 and t.action is None),
        "replies_with_problem": sum(1 for t in session.turns if t.index >= 0 and t.problem),
    }
    scores = [t.self_score for t in buyer_turns if t.self_score]
    rec["self_score_turns"] = len(scores)
    if scores and sc.deal and "reward" in scores[-1]:
        rec["self_score_error"] = abs(scores[-1]["reward"] - sc.score)
    if buyer_turns and any(t.note for t in buyer_turns):  # OG-Narrator compliance: offered exactly the rule's price
        ok = [t.action is not None and t.action.kind == "BUY" and t.action.price is not None
              and abs(t.action.price - og_price(scenario.budget, t.index, scenario.rounds)) < 0.005 for t in buyer_turns]
        rec["og_compliance"] = sum(ok) / len(ok)
    return rec


def _ds(r: dict) -> DealScore:
    return DealScore(r["deal"], r["price"], r["cs"], r["np"], r["ar"], r["score"])


def aggregate(records: list[dict], group: tuple[str, ...] = ("method",)) -> dict:
    """Paper-style aggregation of session rows.

    Returns ``{"cells": [...], "markets": [...], "methods": [...], "parse": {...}}``: cells are (market, product,
    *group, seller) files; markets hold mean/std over products of the product-level AvgTotal (mean over sellers),
    DealRate and AvgDealPrice; methods (per ``group`` value) average the market means.
    """
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        key = (r["market"], r["product"], *(r.get(g, "") for g in group), r.get("seller", ""))
        cells[key].append(r)
    cell_rows = []
    for key, rows in sorted(cells.items(), key=lambda kv: tuple(map(str, kv[0]))):
        m = file_metrics([_ds(r) for r in sorted(rows, key=lambda r: r.get("session", 0))])
        row = {"market": key[0], "product": key[1], **dict(zip(group, key[2:-1])), "seller": key[-1], **m}
        cell_rows.append(row)
    # product level: mean over sellers
    prod: dict[tuple, list[dict]] = defaultdict(list)
    for c in cell_rows:
        prod[(c["market"], c["product"], *(c[g] for g in group))].append(c)
    prod_rows = []
    for key, cs in prod.items():
        prices = [c["avg_deal_price"] for c in cs if c["avg_deal_price"] is not None]
        prod_rows.append({"market": key[0], "product": key[1], **dict(zip(group, key[2:])),
                          "avg_total": sum(c["avg_total"] for c in cs) / len(cs),
                          "deal_rate": sum(c["deal_rate"] for c in cs) / len(cs),
                          "avg_deal_price": sum(prices) / len(prices) if prices else None})
    mk: dict[tuple, list[dict]] = defaultdict(list)
    for p in prod_rows:
        mk[(p["market"], *(p[g] for g in group))].append(p)
    market_rows = []
    for key, ps in sorted(mk.items(), key=lambda kv: tuple(map(str, kv[0]))):
        mean, std = mean_std(p["avg_total"] for p in ps)
        dr, dr_std = mean_std(p["deal_rate"] for p in ps)
        market_rows.append({"market": key[0], **dict(zip(group, key[1:])), "score_mean": mean, "score_std": std,
                            "deal_rate_mean": dr, "deal_rate_std": dr_std, "n_products": len(ps),
                            "products": {p["product"]: p["avg_total"] for p in ps}})
    by: dict[tuple, list[dict]] = defaultdict(list)
    for m in market_rows:
        by[tuple(m[g] for g in group)].append(m)
    method_rows = []
    for key, ms in sorted(by.items(), key=lambda kv: tuple(map(str, kv[0]))):
        method_rows.append({**dict(zip(group, key)), "score_mean": sum(m["score_mean"] for m in ms) / len(ms),
                            "deal_rate_mean": sum(m["deal_rate_mean"] for m in ms) / len(ms),
                            "markets": {m["market"]: m["score_mean"] for m in ms}})
    return {"cells": cell_rows, "markets": market_rows, "methods": method_rows, "parse": parse_stats(records)}


def parse_stats(records: list[dict]) -> dict:
    """Counts of replies that carried no action / had a problem, per problem kind (contract §6)."""
    replies = sum(r.get("replies", 0) for r in records)
    unparseable = sum(r.get("unparseable", 0) for r in records)
    kinds: dict[str, int] = defaultdict(int)
    for r in records:
        for k, v in (r.get("problems") or {}).items():
            kinds[k] += v
    flags: dict[str, int] = defaultdict(int)
    for r in records:
        for f in r.get("flags") or []:
            flags[f] += 1
    return {"sessions": len(records), "replies": replies, "unparseable_replies": unparseable,
            "unparseable_rate": unparseable / replies if replies else 0.0, "problems": dict(kinds),
            "deal_flags": dict(flags)}
