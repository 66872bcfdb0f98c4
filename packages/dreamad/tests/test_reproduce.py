"""End to end: smoke recipe, resume after a kill, paper dry run."""

import json

import mlrepro_dreamad.reproduce as R
import pytest
from mlrepro_dreamad.cli import main


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    rc = main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), "--no-export", *extra])
    return rc, out


def test_smoke_end_to_end(tmp_path):
    rc, out = _run(tmp_path, "run")
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    claims = {c["id"]: c for c in res["claims"]}
    assert claims["optimal_first_player_wins"]["holds"] is True
    assert claims["call_budget"]["holds"] is True
    assert {"eps_accuracy_0.25", "dreamad_vs_react_accuracy", "dreamad_vs_mad_winrate"} <= set(claims)
    assert res["seeds"] == [0] and res["wall_time_s"] > 0
    m = res["metrics"]
    assert m["arena"]["mock-strong"]["dreamad"]["nim"]["games"] == 6
    assert m["calls"]["mock-strong"]["dreamad"]["max_calls"] <= 12
    assert m["calls"]["mock-strong"]["react"]["unparseable"] >= 0
    assert "win_rate" in res["tables"] and "decision_accuracy" in res["tables"]
    assert (out / "samples.jsonl").stat().st_size > 0 and (out / "tables.md").exists()
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"win_rate.png", "decision_accuracy.png",
                                                               "eps_accuracy.png", "bias_diversity.png"}


def test_resume_skips_done_stages(tmp_path, monkeypatch):
    rc, ref = _run(tmp_path, "ref")
    ref_res = json.loads((ref / "results.json").read_text())

    calls = {"n": 0}
    orig = R.run_decision_accuracy

    def dying(*a, **k):  # the 4th LLM accuracy stage "gets killed"
        if a[2].__class__.__name__ == "MethodAgent":
            calls["n"] += 1
            if calls["n"] == 4:
                raise KeyboardInterrupt("killed")
        return orig(*a, **k)

    monkeypatch.setattr(R, "run_decision_accuracy", dying)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "killed")
    out = tmp_path / "killed"
    done_before = {p.parent.name for p in (out / "stages").glob("*/DONE")}
    assert not (out / "results.json").exists()

    ran = []
    monkeypatch.setattr(R, "run_decision_accuracy", lambda *a, **k: (ran.append(1), orig(*a, **k))[1])
    arena_ran = []
    orig_arena = R.run_arena
    monkeypatch.setattr(R, "run_arena", lambda *a, **k: (arena_ran.append(1), orig_arena(*a, **k))[1])
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(out), "--no-export"]) == 0
    done_after = {p.parent.name for p in (out / "stages").glob("*/DONE")}
    assert arena_ran == []  # every arena stage had finished before the kill
    assert len(ran) == len(done_after - done_before)  # only unfinished stages ran again
    res = json.loads((out / "results.json").read_text())
    assert res["metrics"] == ref_res["metrics"]  # re-seeded stages: resumed run == uninterrupted run
    assert [c["measured"] for c in res["claims"]] == [c["measured"] for c in ref_res["claims"]]


def test_paper_dry_run(tmp_path):
    out = tmp_path / "dry"
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(out)]) == 0
    rep = json.loads((out / "dry_run.json").read_text())
    assert rep["datasets"]["nim"] == 21
    assert all(v["max_calls"] <= v["budget"] for v in rep["method_checks"].values())
    assert rep["call_estimate"]["per_method"]["dreamad"]["budget_per_decision"] == 12
    assert rep["call_estimate"]["total"] > 0
    assert set(rep["backends"]) >= {"gpt-4o", "gemini-15-pro", "opponent-gpt-4o"}
    assert not (out / "results.json").exists()


def test_openai_backend_through_a_loopback_server(tmp_path):
    """The paper path: a model behind an OpenAI-compatible endpoint (a tiny server on 127.0.0.1 answering JSON)."""
    pytest.importorskip("mlrepro.sampling.openai_backend")
    from mlrepro_dreamad.games import make_game
    from mlrepro_dreamad.llm import LLM
    from mlrepro_dreamad.method import decide

    from mlrepro.sampling import get_sampler
    from mlrepro.testing import openai_stub

    msg = json.dumps({"reasoning": "leave a multiple of four", "action": 3})
    with openai_stub(lambda body: msg, usage_tokens=5) as url:
        s = get_sampler("openai", model="test-model", base_url=url, max_retries=0)
        llm = LLM(s, name="loopback")
        g = make_game("nim")
        d = decide("mad", g, g.start(), llm)
        assert d.action == 3 and d.consensus is True and d.calls["calls"] == 2
        d = decide("self_consistency", g, g.start(), llm)
        assert d.action == 3 and d.calls["calls"] == 10
