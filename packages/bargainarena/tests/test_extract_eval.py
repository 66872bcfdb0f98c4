"""Deal extraction (rule-based and LLM), aggregation, hand-made transcript pairs, preference data."""

import json

import numpy as np
import pytest
from mlrepro_bargainarena.agents import build_agent
from mlrepro_bargainarena.arena import make_cells, play_cells
from mlrepro_bargainarena.data import (
    load_preferences,
    pair_log,
    synthetic_preferences,
    transcript_pairs,
)
from mlrepro_bargainarena.evaluate import aggregate, score_outcome
from mlrepro_bargainarena.extract import (
    extract_llm,
    extract_log_rule,
    format_log,
    llm_extraction_prompt,
    mock_llm_extractor,
    parse_llm_extraction,
    split_log,
)
from mlrepro_bargainarena.method import WEIGHTS
from mlrepro_bargainarena.scenarios import MARKETS, make_scenario


@pytest.fixture(scope="module")
def played():
    buyer = build_agent("buyer", "scripted", strategy="mock", strategy_kwargs={"adaptive": True})
    seller = build_agent("seller", "scripted", strategy="market")
    scen = [make_scenario(m, p) for m in MARKETS for p in ("Camera", "Cup")]
    cells = make_cells(scen, ["react", "ours+oar", "og", "react+fb"], buyer, seller, 3)
    records, sessions, calls = play_cells(cells)
    return cells, records, sessions, calls


def test_log_roundtrip_and_extractors_agree(played):
    cells, records, _, calls = played
    assert calls > 0 and len(records) == len(cells) * 3
    n_deals = 0
    extractor = build_agent("extractor", "scripted", strategy="mock")
    for cell in cells:
        text = format_log(cell.sessions)
        outs = extract_log_rule(text, cell.scenario)
        assert [o.to_dict() for o in outs] == [s.outcome.to_dict() for s in cell.sessions]
        llm = extract_llm(extractor, [s.transcript() for s in cell.sessions], [cell.scenario] * 3)
        for o, r in zip(outs, llm):
            assert r["deal"] == o.deal
            if o.deal:
                n_deals += 1
                assert r["price"] == pytest.approx(o.price)
                if cell.scenario.multi:
                    assert r["item"] == o.item
    assert n_deals > 20


def test_feedback_cells_change_and_plain_cells_repeat(played):
    cells, *_ = played
    for c in cells:
        prices = [r["price"] for r in c.records]
        if c.method.name == "react":
            assert len(set(prices)) == 1  # fresh histories, deterministic agents: identical sessions
        assert [r["session"] for r in c.records] == [1, 2, 3]
    fb = [c for c in cells if c.method.feedback and c.scenario.market == "vanilla"]
    assert any(len({r["price"] for r in c.records}) > 1 for c in fb)
    assert "Feedback from your earlier sessions" in fb[0].sessions[1].buyer_system
    assert "Feedback from your earlier sessions" not in fb[0].sessions[0].buyer_system
    assert fb[0].sessions[1].to_dict()["extra"]["feedback"].startswith("Feedback from your earlier sessions")
    assert "extra" not in fb[0].sessions[0].to_dict()


def test_play_cells_resumes_from_checkpoint(tmp_path):
    buyer = build_agent("buyer", "scripted", strategy="mock")
    seller = build_agent("seller", "scripted", strategy="market")
    scen = [make_scenario("vanilla", p) for p in ("Camera", "Cup", "Bag")]
    ck = tmp_path / "cells.jsonl"
    full, _, calls_full = play_cells(make_cells(scen, ["react"], buyer, seller, 2), ck)
    lines = ck.read_text().splitlines()
    ck.write_text(lines[0] + "\n")  # as if killed after the first cell
    again, _, calls_resumed = play_cells(make_cells(scen, ["react"], buyer, seller, 2), ck)
    assert again == full and 0 < calls_resumed < calls_full
    assert len(ck.read_text().splitlines()) == 3


@pytest.mark.parametrize("reply,expected", [
    ("deal_price: 450", {"deal": True, "price": 450.0, "item": None}),
    ("deal_price: $1,200.50", {"deal": True, "price": 1200.5, "item": None}),
    ("deal_price: No deal", {"deal": False, "price": None, "item": None}),
    ("Sure! deal_price: ['No deal']", {"deal": False, "price": None, "item": None}),
    ("I think they agreed.", None),
])
def test_parse_llm_extraction(reply, expected):
    assert parse_llm_extraction(reply, make_scenario("vanilla", "Camera")) == expected


def test_parse_llm_extraction_multi_and_prompt():
    sc = make_scenario("several", "Camera")
    assert parse_llm_extraction("deal_price: 400\ndealt_item: Digital Camera", sc)["item"] == "Digital Camera"
    assert parse_llm_extraction("deal_price: 400\ndealt_item: Toaster", sc)["problem"] == "item_not_in_inventory"
    p = llm_extraction_prompt("Buyer: hi", sc)[0]["content"]
    assert "dealt_item" in p and "Film Camera" in p and p.endswith("Buyer: hi")
    rec = "Session record:\nSeller: Action: [INSTALLMENT] $620 over 6 months\n\nBuyer: Action: [DEAL] $620 over 6 months"
    assert mock_llm_extractor([{"role": "user", "content": rec}]) == "deal_price: 620"


def test_split_log_handles_banners_and_bare_text():
    sc = make_scenario("vanilla", "Camera")
    text = pair_log([[("buyer", "hi"), ("seller", "Action: [SELL] $550"), ("buyer", "Action: [DEAL] $550")]] * 2)
    assert len(split_log(text)) == 2 and split_log(text)[0][1] == ("seller", "Action: [SELL] $550")
    assert [o.price for o in extract_log_rule(text, sc)] == [550.0, 550.0]
    assert len(split_log("Buyer: hi\n\nSeller: Action: [SELL] $5")) == 1


def test_transcript_pairs_ranked_as_spec():
    for pair in transcript_pairs():
        sc = make_scenario(pair.market, pair.product)
        vals = []
        for sessions in pair.sessions:
            scores = [score_outcome(o, sc)[0].score for o in extract_log_rule(pair_log(sessions), sc)]
            vals.append(sum(scores) / len(scores))
        assert [round(v, 4) for v in vals] == list(pair.expected), pair.id
        assert int(vals[1] > vals[0]) == pair.preferred


def test_aggregate_matches_hand_computation():
    rows = []
    for product, scores in (("Camera", [2.0, 0.0]), ("Cup", [1.0, 1.0])):
        for k, s in enumerate(scores, start=1):
            rows.append({"market": "vanilla", "product": product, "method": "react", "seller": "x", "session": k,
                         "deal": s > 0, "price": 1.0 if s > 0 else None, "cs": 0, "np": 0, "ar": 1.0 if s else 0, "score": s,
                         "replies": 3, "unparseable": 1, "problems": {"buyer_no_action": 1}, "flags": []})
    agg = aggregate(rows)
    mk = agg["markets"][0]
    assert mk["score_mean"] == pytest.approx(1.0) and mk["score_std"] == pytest.approx(0.0)
    assert mk["products"] == {"Camera": 1.0, "Cup": 1.0} and mk["deal_rate_mean"] == pytest.approx(75.0)
    assert agg["parse"]["unparseable_rate"] == pytest.approx(1 / 3) and agg["parse"]["problems"] == {"buyer_no_action": 4}


def test_synthetic_preferences_and_loader(tmp_path):
    d = synthetic_preferences(300, seed=1)
    assert d["x_first"].shape == (300, 3) and set(np.unique(d["first_preferred"])) <= {0, 1}
    again = synthetic_preferences(300, seed=1)
    assert np.array_equal(d["first_preferred"], again["first_preferred"])
    p = tmp_path / "prefs.jsonl"
    recs = [
        {"dialogue0": {"deal": True, "deal_price": 450, "budget": 500, "product_cost": 400, "acquisition_ratio": 1.0},
         "dialogue1": {"deal": False, "deal_price": "No deal", "budget": 500, "product_cost": 400}, "human_label": 1},
        {"a": {"cs": 0.1, "np": 0.2, "ar": 1.0}, "b": {"cs": 0.5, "np": 0.5, "ar": 0.7}, "label": 0},
    ]
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    data = load_preferences(p)
    assert data["x_first"][0] == pytest.approx([0.5, 2 / 3, 1.0]) and list(data["first_preferred"]) == [1, 0]
    assert list(load_preferences(p, label_first_preferred=False)["first_preferred"]) == [0, 1]
    p.write_text('{"a": {"cs": 1}, "b": {"cs": 0}, "label": 3}\n')
    with pytest.raises(ValueError, match="prefs.jsonl:1"):
        load_preferences(p)
    assert len(WEIGHTS) == 3
