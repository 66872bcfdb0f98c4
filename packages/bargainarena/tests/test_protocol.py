"""Action grammar, thought stripping, the turn loop and deal detection (spec §2.2-§2.3)."""

import pytest
from mlrepro_bargainarena.agents import LLMAgent
from mlrepro_bargainarena.protocol import (
    KICKOFF,
    Session,
    find_actions,
    parse_action,
    parse_self_score,
    run_session,
    strip_thought,
)
from mlrepro_bargainarena.scenarios import make_scenario

from mlrepro.sampling import SamplingParams, get_sampler


@pytest.mark.parametrize("text,kind,price,months,item", [
    ("Action: [BUY] $450", "BUY", 450.0, None, None),
    ("Action: [BUY] 450", "BUY", 450.0, None, None),
    ("Action: [SELL] $1,250.50", "SELL", 1250.5, None, None),
    ("**Action:** [DEAL] $600 over 3 months", "DEAL", 600.0, 3, None),
    ("Action: [INSTALLMENT] $620 over 6 months", "INSTALLMENT", 620.0, 6, None),
    ("Action: [BUY] $430 (Digital Camera)", "BUY", 430.0, None, "Digital Camera"),
    ("Action: [buy] $ 430 for the Digital Camera", "BUY", 430.0, None, "Digital Camera"),
    ("Action: [QUIT]", "QUIT", None, None, None),
    ("Action: [REJECT]", "REJECT", None, None, None),
    ("Action: [DEAL]", "DEAL", None, None, None),
])
def test_action_grammar(text, kind, price, months, item):
    a, problem = parse_action(text)
    assert (a.kind, a.price, a.months, a.item) == (kind, price, months, item)
    assert problem == ""


def test_action_section_wins_over_thought_and_talk():
    text = "Thought: maybe I should [DEAL] $500 right away.\nTalk: I could say [BUY] $300.\nAction: [BUY] $420"
    a, _ = parse_action(text, "buyer")
    assert (a.kind, a.price) == ("BUY", 420.0)
    a, _ = parse_action("Thought: [DEAL] $500 is tempting\nTalk: Not yet, $420?", "buyer")
    assert a is None  # a tag in the Thought never counts; Talk has none
    a, _ = parse_action("Thought: x\nTalk: Let's settle: [BUY] $420", "buyer")
    assert a.price == 420.0  # falls back to the public Talk


def test_action_problems():
    assert parse_action("I would like a discount.")[1] == "no_action"
    assert parse_action("Action: [BUY]", "buyer")[1] == "missing_price"
    assert parse_action("Action: [SELL] $500", "buyer") == (None, "wrong_role_tag")
    assert parse_action("[SELL] $500 then [SELL] $480", "seller")[0].price == 480.0  # unlabelled: last tag
    assert len(find_actions("[BUY] $1 [SELL] $2 [DEAL] $2")) == 3


def test_strip_thought():
    text = "Thought: my budget is $500, cost guess $400\nTalk: Too pricey. $380?\nAction: [BUY] $380"
    pub = strip_thought(text)
    assert "500" not in pub and "Thought" not in pub
    assert pub == "Talk: Too pricey. $380?\nAction: [BUY] $380"
    assert strip_thought("<think>secret 123</think>Talk: hi\nAction: [REJECT]") == "Talk: hi\nAction: [REJECT]"
    assert strip_thought("<think>never closed secret") == ""
    assert strip_thought("just words, no labels") == "just words, no labels"
    assert strip_thought("Thought: only a thought") == ""
    assert "pre" not in strip_thought("pre-amble 42\nTalk: hello")


def test_self_score_line():
    t = "Thought: ok\nSelf-score: cost_estimate=$412.50, CS=0.48, NP=0.66, AR=1.0, reward=2.1\nTalk: x\nAction: [BUY] $450"
    assert parse_self_score(t) == {"cost_estimate": 412.5, "cs": 0.48, "np": 0.66, "ar": 1.0, "reward": 2.1}
    assert parse_self_score("Thought: nothing") is None


def _agent(replies):
    return LLMAgent(get_sampler("scripted", responses=replies), SamplingParams(max_new_tokens=200), "t")


def test_turn_limit_no_deal():
    sc = make_scenario("vanilla", "Camera", rounds=3)
    s = run_session(sc, _agent(["Action: [BUY] $300"]), _agent(["Action: [SELL] $550"]))
    assert s.outcome.status == "no_deal"
    assert s.n_replies("buyer") == 3 and s.n_replies("seller") == 4  # 1 + 2 * rounds model calls


def test_deal_quit_and_price_resolution():
    sc = make_scenario("vanilla", "Camera", rounds=10)
    s = run_session(sc, _agent(["Action: [BUY] $450", "Action: [DEAL] $520"]), _agent(["Action: [SELL] $520"]))
    assert s.outcome.status == "deal" and s.outcome.price == 520.0 and s.outcome.ended_by == "buyer"
    s = run_session(sc, _agent(["Action: [BUY] $470"]), _agent(["Action: [SELL] $540", "Action: [DEAL]"]))
    assert s.outcome.price == 470.0 and "deal_price_from_last_offer" in s.outcome.flags
    s = run_session(sc, _agent(["Action: [BUY] $470", "Action: [DEAL] $500"]), _agent(["Action: [SELL] $520"]))
    assert s.outcome.price == 500.0 and "deal_price_mismatch" in s.outcome.flags
    s = run_session(sc, _agent(["Action: [BUY] $300", "Action: [QUIT]"]), _agent(["Action: [SELL] $550"]))
    assert s.outcome.status == "quit" and not s.outcome.deal
    s = run_session(sc, _agent(["Action: [DEAL] $550"]), _agent(["Action: [SELL] $550"]))
    assert s.problems() == {"buyer_first_action_not_buy_or_reject": 1}


def test_end_rules_action_vs_substring():
    sc = make_scenario("vanilla", "Camera", rounds=2)
    buyer = ["Thought: I will not [DEAL] yet.\nTalk: $300?\nAction: [BUY] $300"]
    s = run_session(sc, _agent(buyer), _agent(["Action: [SELL] $550"]), end_rule="action")
    assert s.outcome.status == "no_deal"
    s = run_session(sc, _agent(buyer), _agent(["Action: [SELL] $550"]), end_rule="substring")
    assert s.outcome.status == "deal" and s.n_replies("buyer") == 1  # the authors' substring rule ends here
    with pytest.raises(ValueError):
        Session(sc, "x", end_rule="nope")


def test_views_hide_thoughts_and_alternate_roles():
    sc = make_scenario("vanilla", "Camera", rounds=2)
    seller = ["Thought: my cost is $400, floor $445\nTalk: It is $550.\nAction: [SELL] $550"]
    s = run_session(sc, _agent(["Thought: budget 500\nTalk: $300?\nAction: [BUY] $300"]), _agent(seller),
                    buyer_note=lambda t: f"NOTE{t}")
    bview = s.view("buyer")
    assert bview[0]["role"] == "system" and "NOTE2" in bview[0]["content"]
    assert bview[1] == {"role": "user", "content": KICKOFF}
    assert bview[2]["role"] == "assistant" and bview[2]["content"] == sc.opener
    assert all("445" not in m["content"] for m in bview if m["role"] == "user")
    sview = s.view("seller")
    assert sview[1] == {"role": "user", "content": sc.opener}
    assert all("budget 500" not in m["content"] for m in sview if m["role"] == "user")
    roles = [m["role"] for m in sview[1:]]
    assert all(a != b for a, b in zip(roles, roles[1:]))
    with pytest.raises(RuntimeError):
        s.feed("more")


def test_multi_product_item_resolution():
    sc = make_scenario("several", "Camera", rounds=4)
    s = run_session(sc, _agent(["Action: [BUY] $380 (Digital)", "Action: [DEAL] $400"]),
                    _agent(["Action: [SELL] $400 (Digital Camera)"]))
    assert s.outcome.item == "Digital Camera" and s.outcome.price == 400.0
    s = run_session(sc, _agent(["Action: [BUY] $480", "Action: [DEAL] $500"]), _agent(["Action: [SELL] $500"]))
    assert s.outcome.item == "DSLR Camera" and "item_defaulted_to_desired" in s.outcome.flags
