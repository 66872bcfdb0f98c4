"""Scenarios (spec §2.1-§2.2), prompt blocks, and the scripted agents' known strategies."""

import pytest
from mlrepro_bargainarena import prompts as P
from mlrepro_bargainarena.agents import (
    LLMAgent,
    adaptive_ceiling,
    build_agent,
    buyer_facts,
    estimate_concession,
    make_buyer_policy,
    make_seller_policy,
    seller_facts,
)
from mlrepro_bargainarena.protocol import parse_action, run_session
from mlrepro_bargainarena.scenarios import (
    BUYER_MARKET_RULES,
    MARKETS,
    MULTI_CATALOGUE,
    PRODUCTS,
    SELLER_MARKET_RULES,
    SINGLE_PRICES,
    all_scenarios,
    find_variant,
    fmt_price,
    make_scenario,
)

from mlrepro.sampling import SamplingParams, get_sampler


def test_catalogue_matches_spec():
    assert len(PRODUCTS) == 10 and len(MARKETS) == 6
    assert SINGLE_PRICES["Camera"] == (500, 550, 400) and SINGLE_PRICES["Cup"] == (30, 35, 20)
    for b, i, c in SINGLE_PRICES.values():
        assert c < b < i
    for _cat, (_budget, variants) in MULTI_CATALOGUE.items():
        assert len(variants) == 4 and sum(v.similarity == 1.0 for v in variants) == 1
        assert all(v.cost < v.price for v in variants)
    assert find_variant("Camera", "Film Camera").price == 380  # canonical metric-table price (spec quirk)
    assert find_variant("Camera", "digital").name == "Digital Camera"
    assert find_variant("Bag", "bag") is None  # ambiguous
    assert make_scenario("vanilla", "Shoes").opener == "Hi, I'd like to buy a nice pair of shoes."
    assert fmt_price(450) == "$450" and fmt_price(447.5) == "$447.50" and fmt_price(1200) == "$1,200"


def test_prompts_carry_private_info_to_the_right_side_only():
    scen = all_scenarios()
    assert len(scen) == 60
    for sc in scen:
        b, s = sc.buyer_system, sc.seller_system
        assert fmt_price(sc.budget) in b and "your budget" not in s.lower()
        assert "your cost" in s.lower() and "cost" not in b.lower().replace("costs", "")
        if not sc.multi:
            assert fmt_price(sc.list_price) in b and fmt_price(sc.list_price) in s
            assert fmt_price(sc.cost) not in b
        else:
            assert all(v["name"] in b and v["name"] in s for v in sc.inventory)
        for m in MARKETS:  # each market's rule text appears in exactly its own market's prompts
            if BUYER_MARKET_RULES[m]:
                assert (BUYER_MARKET_RULES[m] in b) == (m == sc.market)
                assert (SELLER_MARKET_RULES[m] in s) == (m == sc.market)
        assert ("[INSTALLMENT]" in b) == (sc.market == "installment")
        facts = buyer_facts(b)
        assert facts["budget"] == sc.budget and facts["list_price"] == sc.list_price and facts["market"] == sc.market
        sf = seller_facts(s)
        if sc.multi:
            assert {v["name"]: v["cost"] for v in sf["inventory"]} == {v["name"]: v["cost"] for v in sc.inventory}
        else:
            assert (sf["cost"], sf["list_price"]) == (sc.cost, sc.list_price)


def test_method_blocks():
    sc = make_scenario("several", "Camera")
    assert P.parse_method("ours+oar") == P.MethodSpec("ours", True, False)
    assert P.parse_method("react+fb+oar").name == "react+oar+fb"
    for bad in ("", "foo", "ours+oar+oar", "ours+x"):
        with pytest.raises(ValueError):
            P.parse_method(bad)
    full = P.buyer_system_prompt(sc, "ours+oar+fb", [{"deal": True, "price": 480, "cs": 0.2, "np": 0.47, "ar": 1, "score": 1.72, "turns": 4}])
    assert full.index(P.OAR_HEADING) < full.index(P.REWARD_HEADING) < full.index(P.FEEDBACK_HEADING)
    assert "Digital Camera 0.7783" in full and P.SELF_SCORE_TAG in full
    plain = P.buyer_system_prompt(sc, "react")
    assert plain == sc.buyer_system
    assert P.buyer_turn_note(sc, "og", 0).startswith(P.OG_HEADING) and "$250" in P.buyer_turn_note(sc, "og", 0)
    assert P.buyer_turn_note(sc, "ours", 0) == ""


def test_feedback_block_roundtrip_and_reveal():
    hist = [{"deal": True, "price": 472.53, "item": None, "cs": 0.27, "np": 0.52, "ar": 1.0, "score": 1.84, "turns": 7},
            {"deal": False, "price": None, "cs": 0, "np": 0, "ar": 0, "score": 0.0, "turns": 10}]
    text = P.feedback_block(hist)
    assert "Session 1: deal at $472.53" in text and "NP 0.520" in text and "Session 2: no deal" in text
    assert P.parse_feedback(text) == [{"session": 1, "deal": True, "price": 472.53},
                                      {"session": 2, "deal": False, "price": None}]
    hidden = P.feedback_block(hist, reveal=("score",))
    assert "472.53" not in hidden and "NP 0.520" not in hidden and "score 1.840" in hidden
    assert P.feedback_block([]) == ""
    assert "Session 1" not in P.feedback_block(hist, max_history=1)


def _policy_reply(fn, sc, system, history):
    msgs = [{"role": "system", "content": system}] + history
    return fn(msgs, None, 0)


def test_geometric_seller_asks_and_accepts():
    sc = make_scenario("vanilla", "Camera")
    fn = make_seller_policy("geometric", delta=0.5, floor_frac=0.3)  # floor 445
    hist = [{"role": "user", "content": sc.opener}]
    asks = []
    for _k in range(4):
        a, _ = parse_action(_policy_reply(fn, sc, sc.seller_system, hist), "seller")
        asks.append(a.price)
        hist += [{"role": "assistant", "content": f"Action: [SELL] {fmt_price(a.price)}"},
                 {"role": "user", "content": "Action: [BUY] $100"}]
    assert asks == [round(445 + 105 * 0.5 ** k + 1e-9, 2) for k in range(4)]  # cents, half up
    hist[-1] = {"role": "user", "content": f"Action: [BUY] {fmt_price(asks[-1] * 0.5 + 223)}"}
    a, _ = parse_action(_policy_reply(fn, sc, sc.seller_system, hist), "seller")
    assert a.kind == "DEAL"
    est = estimate_concession([550.0, 497.5, 471.25])
    assert est[0] == pytest.approx(445.0) and est[1] == pytest.approx(0.5)
    assert estimate_concession([550, 550, 540]) is None


def test_floor_seller_holds_list_price():
    sc = make_scenario("vanilla", "Camera")
    fn = make_seller_policy("floor", floor_frac=0.6)  # floor 490
    hist = [{"role": "user", "content": sc.opener}, {"role": "assistant", "content": "Action: [SELL] $550"},
            {"role": "user", "content": "Action: [BUY] $489.99"}]
    assert parse_action(_policy_reply(fn, sc, sc.seller_system, hist), "seller")[0].price == 550.0
    hist[-1]["content"] = "Action: [BUY] $490"
    assert parse_action(_policy_reply(fn, sc, sc.seller_system, hist), "seller")[0].kind == "DEAL"
    with pytest.raises(ValueError):
        make_seller_policy("nope")


def test_og_buyer_follows_the_rule_and_market_sellers_play():
    sc = make_scenario("negative", "Camera")
    buyer = build_agent("buyer", "scripted", strategy="mock")
    seller = build_agent("seller", "scripted", strategy="market")
    s = run_session(sc, buyer, seller, buyer_note=lambda t: P.buyer_turn_note(sc, "og", t))
    offers = [t.action.price for t in s.turns if t.role == "buyer" and t.action is not None and t.action.kind == "BUY"]
    assert offers == [round(500 * (0.5 + 0.5 * t / 10), 2) for t in range(len(offers))]
    assert "complaints" in s.turns[2].public  # negative market: the buyer uses the reputation lever
    sc = make_scenario("installment", "Camera")
    s = run_session(sc, buyer, seller)
    assert any(t.action is not None and t.action.kind == "INSTALLMENT" for t in s.turns)


def test_adaptive_ceiling():
    assert adaptive_ceiling([], 500, 0.05) == 500
    h = [{"deal": True, "price": 498.76}, {"deal": True, "price": 472.53}]
    assert adaptive_ceiling(h, 500, 0.05) == pytest.approx(447.53)
    assert adaptive_ceiling(h + [{"deal": False, "price": None}], 500, 0.05) == 472.53
    assert adaptive_ceiling(h + [{"deal": False}, {"deal": True, "price": 400}], 500, 0.05) == 472.53  # frozen
    assert adaptive_ceiling([{"deal": False}], 500, 0.05) == 500


def test_mock_buyer_writes_self_score_only_with_reward_block():
    sc = make_scenario("vanilla", "Camera")
    fn = make_buyer_policy()
    hist = [{"role": "user", "content": "x"}, {"role": "assistant", "content": sc.opener},
            {"role": "user", "content": "Action: [SELL] $550"}]
    assert P.SELF_SCORE_TAG not in _policy_reply(fn, sc, P.buyer_system_prompt(sc, "react"), hist)
    assert P.SELF_SCORE_TAG in _policy_reply(fn, sc, P.buyer_system_prompt(sc, "ours"), hist)


def test_llm_agent_survives_backend_errors():
    class Boom:
        name = "boom"

        def generate(self, prompts, params):
            if len(prompts) > 1 or "bad" in prompts[0][0]["content"]:
                raise RuntimeError("HTTP 500")
            return get_sampler("scripted", responses=["Action: [BUY] $1"]).generate(prompts, params)

    agent = LLMAgent(Boom(), SamplingParams(), "boom")
    out = agent.respond([[{"role": "system", "content": "ok"}], [{"role": "system", "content": "bad"}]])
    assert out == [("Action: [BUY] $1", "stop"), ("", "error")] and agent.errors == 1
    with pytest.raises(ValueError, match="model"):
        build_agent("buyer", "openai", model="")
