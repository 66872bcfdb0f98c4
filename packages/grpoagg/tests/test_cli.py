"""Recipes, CLI, smoke run end to end, dry run and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlrepro_grpoagg import reproduce as R
from mlrepro_grpoagg.cli import main
from mlrepro_grpoagg.config import Config

from mlrepro.config import ConfigError, load_config
from mlrepro.runs.cli import recipes_dir_of

RECIPES = recipes_dir_of("mlrepro_grpoagg")


@pytest.mark.parametrize("recipe", ["paper", "mini", "smoke"])
def test_recipes_load(recipe):
    cfg = load_config(Config, recipe, recipes_dir=RECIPES)
    assert cfg.simulation.setups and cfg.closed_forms.betas
    if recipe == "paper":
        assert cfg.figures.n_points >= 1000 and cfg.expected


def test_bad_keys_and_values_fail():
    with pytest.raises(ConfigError, match="betaz"):
        load_config(Config, "mini", ["closed_forms.betaz=[1]"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="closed_forms.betas"):
        load_config(Config, "mini", ["closed_forms.betas=[-1.0]"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="normalization"):
        load_config(Config, "mini", ["simulation.setups.0.normalization=zscore"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="pi_ref"):
        load_config(Config, "mini", ["simulation.setups.0.pi_ref=[0.5,0.6]"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError):
        load_config(Config, "mini", ["large_g.beta=abc"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="margin"):
        load_config(Config, {"closed_forms": {"margins": [1.5]}})


def test_print_config(capsys):
    assert main(["print-config", "--recipe", "smoke"]) == 0
    assert "closed_forms" in capsys.readouterr().out
    assert main(["print-config", "--recipe", "mini", "closed_forms.nope=1"]) == 2


def test_dry_run_paper(tmp_path):
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(tmp_path / "d")]) == 0
    assert not (tmp_path / "d" / "results.json").exists()


def test_smoke_end_to_end(tmp_path):
    out = tmp_path / "smoke"
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    ids = {c["id"] for c in res["claims"]}
    assert {"closed_forms_match_solver", "expected_grpo_converges_to_fixed_point",
            "sampled_grpo_converges_to_fixed_point", "finite_g_approaches_large_g",
            "grpo_differs_from_log_pooling"} <= ids
    assert all(isinstance(c["holds"], bool) for c in res["claims"])
    assert all(c["holds"] for c in res["claims"]), [c for c in res["claims"] if not c["holds"]]
    assert res["seeds"] == [0] and res["wall_time_s"] > 0
    assert all(e["within_tolerance"] for e in res["expected"])
    pngs = {p.name for p in (out / "plots").glob("*.png")}
    assert {"fig1_g2.png", "fig2_ginf.png", "fig3_direct_g2.png", "fig4c_simulated_grpo.png"} <= pngs
    assert (out / "metrics.jsonl").exists()
    for name in R.ALL_STAGES:
        assert (out / "stages" / name / "DONE").exists()


def test_resume_skips_done_stages(tmp_path, monkeypatch):
    out = tmp_path / "run"
    overrides = ["closed_forms.betas=[0.5]", "closed_forms.p_refs=[0.3]", "closed_forms.margins=[1.0]",
                 "simulation.sampled_steps=100", "figures.n_points=10"]

    def crash(cfg, run=None):
        raise RuntimeError("simulated kill")

    real_sim = R.stage_simulate
    monkeypatch.setattr(R, "stage_simulate", crash)
    with pytest.raises(RuntimeError, match="simulated kill"):
        main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), *overrides])
    done = {n for n in R.ALL_STAGES if (out / "stages" / n / "DONE").exists()}
    assert done == set(R.ANALYTIC)
    mtimes = {n: (out / "stages" / n / "output.json").stat().st_mtime_ns for n in done}

    calls: list[str] = []
    for name in R.ANALYTIC:
        monkeypatch.setattr(R, f"stage_{name}", lambda *a, _n=name, **k: calls.append(_n))

    def sim(cfg, run=None):
        calls.append("simulate")
        return real_sim(cfg, run)

    monkeypatch.setattr(R, "stage_simulate", sim)
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(out)]) == 0
    assert calls == ["simulate"]  # finished stages were not redone
    assert {n: (out / "stages" / n / "output.json").stat().st_mtime_ns for n in done} == mtimes
    res = json.loads((out / "results.json").read_text())
    assert len(res["claims"]) >= 8
    assert Path(out / "plots" / "fig1_g2.png").exists()
