"""Judge harness (layout, verdict parser, both orders, weighted WR) incl. the openai backend against a loopback
server; eval-set loaders on test-made files; the exact likelihood metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mlrepro_distillm2 import evaluate as E

from mlrepro.sampling import ScriptedSampler, get_sampler
from mlrepro.testing import openai_stub


def test_judge_prompt_layout():
    s = E.build_judge_prompt("Q?", "ans A", "ans B")
    blocks = s.split("\n\n")
    assert blocks[0].startswith("[System]\n") and "[[A]]" in blocks[0] and "[[C]]" in blocks[0]
    assert blocks[1] == "[User Question]\nQ?"
    assert blocks[2] == "[The Start of Assistant A’s Answer]\nans A\n[The End of Assistant A’s Answer]"
    assert blocks[3] == "[The Start of Assistant B’s Answer]\nans B\n[The End of Assistant B’s Answer]"
    assert "’" in s and "'s Answer" not in s  # typographic apostrophe


@pytest.mark.parametrize("text,want", [("blah [[A]]", "A"), ("[[B]] better", "B"), ("tie [[C]]", "C"),
                                       ("[[B]] then [[A]]", "A"), ("A is better", None), ("", None), (None, None)])
def test_parse_verdict(text, want):
    assert E.parse_verdict(text) == want


def test_order_win_rate_counts():
    r = E.order_win_rate(["A", "B", "C", None, "A"], "A")
    assert r["parsed"] == 4 and r["unparsed"] == 1
    assert r["win_rate"] == pytest.approx((2 + 0.5) / 4)


def test_judge_pairwise_both_orders_with_position_bias():
    judge = ScriptedSampler(fn=lambda p, params, i: "I prefer the first. [[A]]")
    res = E.judge_pairwise(judge, ["q1", "q2"], ["c1", "c2"], ["r1", "r2"])
    assert res.candidate_first["win_rate"] == 1.0 and res.candidate_second["win_rate"] == 0.0
    assert res.win_rate == pytest.approx(0.5) and res.consistency == 0.0


def _judge_reply(body: dict) -> str:
    """The loopback judge prefers the answer containing 'good' (and garbles its verdict when one says 'broken')."""
    text = body["messages"][-1]["content"]
    a = text.split("[The Start of Assistant A’s Answer]")[1].split("[The End")[0]
    verdict = "[[A]]" if "good" in a else ("garbled" if "broken" in text else "[[B]]")
    return f"Explanation. {verdict}"


def test_judge_through_openai_backend_loopback(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with openai_stub(_judge_reply, usage_tokens=3) as url:
        judge = get_sampler("openai", model="gpt-4o", base_url=url, max_retries=0)
        res = E.judge_pairwise(judge, ["q1", "q2", "q3"], ["good answer", "bad answer", "broken"],
                               ["meh", "good ref", "ok"])
    # item 1: candidate good -> wins both orders; item 2: reference good -> candidate loses both; item 3: order 1
    # unparsed ("garbled"), order 2 -> A (reference)... the server answers [[B]]/garbled by content
    assert res.verdicts_first[:2] == ["A", "B"] and res.verdicts_second[:2] == ["B", "A"]
    assert res.candidate_first["unparsed"] >= 1
    s = res.summary()
    assert s["n"] == 3 and 0 <= s["win_rate"] <= 1 and s["win_rate_pct"] == pytest.approx(100 * s["win_rate"])


def test_load_eval_sets_from_test_files(tmp_path):
    f = tmp_path / "alpaca.jsonl"
    f.write_text("".join(json.dumps({"instruction": f"do {i}", "output": f"ref {i}"}) + "\n" for i in range(5)))
    recs = E.load_eval_set("alpaca_eval", str(f), split="train", limit=3)
    assert [r["question"] for r in recs] == ["do 0", "do 1", "do 2"] and recs[0]["reference"] == "ref 0"
    g = tmp_path / "uf.jsonl"
    g.write_text("".join(json.dumps({"prompt": f"p{i}", "chosen": []}) + "\n" for i in range(4)))
    recs = E.load_eval_set("ultrafeedback", str(g), split="train")
    assert len(recs) == 4 and recs[0]["reference"] is None
    refs = E.build_references(ScriptedSampler(fn=lambda p, params, i: "ref:" + p[-1]["content"]),
                              [r["question"] for r in recs])
    assert refs[0] == "ref:p0"
    with pytest.raises(ValueError):
        E.load_eval_set("nope")
    assert E.EVAL_SETS["alpaca_eval"]["source"] == "tatsu-lab/alpaca_eval"


def test_likelihood_metrics_brute_force():
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    labels = torch.tensor([[1, 2, -100], [0, 4, 3]])
    m = E.likelihood_metrics(zs, zt, labels)
    q, p = torch.softmax(zs, -1).numpy(), torch.softmax(zt, -1).numpy()
    kls, nll_s, nll_t = [], [], []
    for i in range(2):
        for j in range(3):
            if labels[i, j] < 0:
                continue
            kls.append((p[i, j] * np.log(p[i, j] / q[i, j])).sum())
            nll_s.append(-np.log(q[i, j, labels[i, j]]))
            nll_t.append(-np.log(p[i, j, labels[i, j]]))
    assert m["kl"] == pytest.approx(np.mean(kls), rel=1e-5)
    assert m["student_nll"] == pytest.approx(np.mean(nll_s), rel=1e-5)
    assert m["teacher_nll"] == pytest.approx(np.mean(nll_t), rel=1e-5)
    assert m["tokens"] == 5
