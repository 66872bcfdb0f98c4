"""The agent protocol: JSON extraction, retry policy, unparseable counting, the call ledger."""

import pytest
from mlrepro_dreamad.llm import LLM, BudgetExceeded, CallLedger, extract_json, messages

from mlrepro.sampling import get_sampler


@pytest.mark.parametrize("text,expected", [
    ('{"reasoning": "x", "action": 3}', 3),
    ('Sure! ```json\n{"reasoning": "take {3}", "action": 3}\n```', 3),
    ('I think {"note": 1} then {"reasoning": "r", "action": [9, 10]}', [9, 10]),
    ('{"reasoning": "r", "action": 2,}', 2),  # trailing comma
    ("{'reasoning': 'r', 'action': 1}", 1),  # python-style quotes
    ('{\u201creasoning\u201d: \u201cr\u201d, \u201caction\u201d: 2}', 2),  # curly quotes
    ('{"Reasoning": "r", "Action": "[3, 3]"}', "[3, 3]"),  # key case
    ('reasoning: blah. "action": [1, 2] and more', [1, 2]),  # key scan fallback
])
def test_extract_json(text, expected):
    d = extract_json(text, ("reasoning", "action") if "reasoning" in text.lower() else ("action",))
    assert d is not None and d["action"] == expected


@pytest.mark.parametrize("text", ["", "no json", '{"reasoning": "x"}', "{broken", None])
def test_extract_json_fails_cleanly(text):
    assert extract_json(text, ("action",)) is None


def test_retry_then_success_counts_unparseable():
    llm = LLM(get_sampler("scripted", responses=["garbage", '{"action": 2}']), max_parse_retries=3)
    with llm.decision(budget=1) as led:
        [[r]] = llm.ask_json([messages("s", "u")], 0.7, ("action",))
    assert r.data == {"action": 2} and r.attempts == 2
    assert (led.logical, led.retries, led.unparseable, led.gave_up) == (1, 1, 1, 0)


def test_retry_exhausted_gives_up():
    s = get_sampler("scripted", responses=["nope"])
    llm = LLM(s, max_parse_retries=2)
    with llm.decision(budget=1) as led:
        [[r]] = llm.ask_json([messages("s", "u")], 0.7, ("action",))
    assert r.data is None
    assert s.calls == 3 and led.total == 3
    assert (led.unparseable, led.gave_up) == (3, 1)
    assert llm.lifetime.gave_up == 1


def test_retry_turn_shows_the_reply_and_the_keys():
    seen = []

    def fn(prompt, params, j):
        seen.append(prompt)
        return "bad" if len(seen) == 1 else '{"action": 1}'

    llm = LLM(get_sampler("scripted", fn=fn))
    with llm.decision(None):
        llm.ask_json([messages("s", "u")], 0.0, ("action",))
    assert seen[1][-2] == {"role": "assistant", "content": "bad"}
    assert "action" in seen[1][-1]["content"]


def test_validator_rejections_are_retried():
    llm = LLM(get_sampler("scripted", responses=['{"action": "none"}', '{"action": 3}']))
    with llm.decision(None) as led:
        [[r]] = llm.ask_json([messages(None, "u")], 0.7, ("action",), validate=lambda d: isinstance(d["action"], int))
    assert r.data["action"] == 3 and led.unparseable == 1


def test_ledger_budget():
    led = CallLedger(budget=3)
    led.charge(2)
    with pytest.raises(BudgetExceeded):
        led.charge(2)


def test_n_samples_count_as_calls():
    llm = LLM(get_sampler("scripted", responses=['{"action": 1}']))
    with llm.decision(budget=10) as led:
        rows = llm.ask_json([messages(None, "u")], 1.0, ("action",), n=10)
    assert len(rows[0]) == 10 and led.logical == 10
    with pytest.raises(BudgetExceeded), llm.decision(budget=9):
        llm.ask_json([messages(None, "u")], 1.0, ("action",), n=10)


def test_seeds_are_passed_per_call():
    got = []

    def fn(prompt, params, j):
        got.append(params.seed)
        return '{"action": 1}'

    llm = LLM(get_sampler("scripted", fn=fn), seed=5)
    with llm.decision(None):
        llm.ask_json([messages(None, "a")], 0.7, ("action",))
        llm.ask_json([messages(None, "a")], 0.7, ("action",))
    assert got[0] is not None and got[0] != got[1]
