"""Recipes, the CLI end to end (smoke), resume, dry run, and the paper path over a local OpenAI-compatible server."""

import json
import os
import time
from pathlib import Path

import pytest
from mlrepro_bargainarena.agents import make_buyer_policy, make_seller_policy
from mlrepro_bargainarena.cli import main
from mlrepro_bargainarena.config import Config
from mlrepro_bargainarena.extract import mock_llm_extractor

from mlrepro.config import ConfigError, load_config
from mlrepro.runs.cli import recipes_dir_of
from mlrepro.testing import openai_stub

RDIR = recipes_dir_of("mlrepro_bargainarena")


@pytest.mark.parametrize("recipe", ["paper", "mini", "smoke"])
def test_recipes_load(recipe, capsys):
    cfg = load_config(Config, recipe, recipes_dir=RDIR)
    assert cfg.grid.rounds == 10
    assert main(["print-config", "--recipe", recipe]) == 0
    assert "grid:" in capsys.readouterr().out


def test_paper_recipe_has_expected_block():
    cfg = load_config(Config, "paper", recipes_dir=RDIR)
    assert cfg.sampling.backend == "openai" and cfg.buyer.model == "gpt-4o" and cfg.grid.sessions == 10
    assert {e["metric"] for e in cfg.expected} >= {"transcript_pairs.cheaper_deal.score_0", "prefs.w_cs"}


@pytest.mark.parametrize("override,key", [
    ("grid.nonsense=1", "nonsense"), ("grid.markets=[vanilla,bazaar]", "grid.markets"),
    ("grid.methods=[react,ours+magic]", "grid.methods"), ("grid.rounds=0", "grid.rounds"),
    ("extractor.mode=guess", "extractor.mode"), ("buyer.backend=telepathy", "buyer.backend"),
    ("feedback.reveal=[cost]", "feedback.reveal"), ("grid.sessions=ten", "grid.sessions"),
    ("sampling.backend=openai", "buyer.model"),
])
def test_bad_config_fails_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("+", r"\+")):
        load_config(Config, "smoke", [override], recipes_dir=RDIR)
    assert main(["reproduce", "--recipe", "smoke", "--dry-run", override]) == 2


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "run"
    t0 = time.time()
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), "--no-export"]) == 0
    return out, time.time() - t0


def test_smoke_end_to_end(smoke_run):
    out, wall = smoke_run
    assert wall < 60
    res = json.loads((out / "results.json").read_text())
    claims = {c["id"]: c for c in res["claims"]}
    assert {"known_strategy_exact", "feedback_changes_outcome", "metric_ranks_pairs", "pref_fit_recovers_weights"} <= set(claims)
    assert claims["known_strategy_exact"]["holds"] and claims["metric_ranks_pairs"]["holds"]
    assert all(isinstance(c["holds"], bool) for c in claims.values())
    assert res["seeds"] == [0] and res["wall_time_s"] > 0
    m = res["metrics"]
    assert m["grid"]["parse"]["unparseable_replies"] == 0 and m["extraction"]["agreement"] == 1.0
    assert {r["method"] for r in m["grid"]["methods"]} == {"react", "ours+oar", "og", "ours+fb"}
    assert all(e["within_tolerance"] for e in res["expected"])
    assert (out / "transcripts.md").read_text().count("### ") >= 10
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"grid_scores.png", "feedback_loop.png", "known_strategy.png"}
    assert (out / "samples.jsonl").exists()
    assert list((out / "stages" / "grid" / "logs").rglob("*.txt"))


def test_resume_skips_finished_stages_and_cells(smoke_run, tmp_path):
    import shutil

    src, _ = smoke_run
    run = tmp_path / "run"
    shutil.copytree(src, run)
    ks_out = run / "stages" / "known_strategy" / "output.json"
    ks_mtime = ks_out.stat().st_mtime_ns
    grid = run / "stages" / "grid"
    calls_full = json.loads((grid / "output.json").read_text())["calls"]
    lines = (grid / "cells.jsonl").read_text().splitlines()
    (grid / "cells.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # killed halfway through the grid
    for p in (grid / "DONE", grid / "output.json", run / "stages" / "prefs" / "DONE", run / "results.json"):
        p.unlink()
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(run), "--no-export"]) == 0
    assert ks_out.stat().st_mtime_ns == ks_mtime  # finished stage not rerun
    calls_resumed = json.loads((grid / "output.json").read_text())["calls"]
    assert 0 < calls_resumed < calls_full  # only the missing cells were replayed
    old = json.loads((src / "results.json").read_text())
    new = json.loads((run / "results.json").read_text())
    assert [c["holds"] for c in new["claims"]] == [c["holds"] for c in old["claims"]]
    assert new["metrics"]["grid"]["methods"] == old["metrics"]["grid"]["methods"]


def test_paper_dry_run_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(tmp_path / "d")]) == 0
    res = json.loads((tmp_path / "d" / "results.json").read_text())
    cost = res["metrics"]["cost"]
    assert cost["sessions"] == 6 * 10 * 6 * 10 and cost["max_agent_calls"] == cost["sessions"] * 21
    assert cost["extraction_calls"] == cost["sessions"]
    assert "not constructed offline" in res["metrics"]["components"]["buyer"]
    assert "grid cost" in capsys.readouterr().out


# --- the paper code path through the real openai backend, against a local OpenAI-compatible server --------------

POLICIES = {"buyer-m": make_buyer_policy(), "seller-m": make_seller_policy("market"), "extract-m": mock_llm_extractor}


def test_paper_path_over_openai_backend(tmp_path, monkeypatch):
    seen: dict[str, int] = {}

    def reply(body: dict) -> str:  # each model id answers with its scripted policy; calls counted per model
        seen[body["model"]] = seen.get(body["model"], 0) + 1
        return POLICIES[body["model"]](body["messages"], None, 0)

    with openai_stub(reply) as url:
        monkeypatch.setenv("BA_TEST_URL", url)
        overrides = ["buyer.model=buyer-m", "seller.model=seller-m", "extractor.agent.model=extract-m",
                     "buyer.sampler_kwargs.base_url_env=BA_TEST_URL", f"seller.sampler_kwargs.base_url={url}",
                     f"extractor.agent.sampler_kwargs.base_url={url}",
                     "grid.markets=[vanilla,several]", "grid.products=[Camera]", "grid.methods=[react,ours]",
                     "grid.sessions=1", "known_strategy.enabled=false", "feedback_loop.enabled=false",
                     "prefs.enabled=false", "report.format=html"]
        assert main(["reproduce", "--recipe", "paper", "--output-dir", str(tmp_path / "p"), "--no-export", *overrides]) == 0
    res = json.loads((tmp_path / "p" / "results.json").read_text())
    assert set(seen) == {"buyer-m", "seller-m", "extract-m"}
    assert res["metrics"]["extraction"]["agreement"] == 1.0 and res["metrics"]["extraction"]["n"] == 4
    assert "ours_beats_react" in {c["id"] for c in res["claims"]}  # LLM-buyer claims only for non-scripted buyers
    env = json.loads((tmp_path / "p" / "env.json").read_text())
    assert env["sampler"]["buyer"] == "openai"
    html = (tmp_path / "p" / "transcripts.html").read_text()
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert not Path(os.environ.get("OPENAI_API_KEY", "/nonexistent-key-file")).exists()
