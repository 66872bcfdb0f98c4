"""Recipes, config validation, CLI, dry run, smoke pipeline end to end and kill-and-resume."""

import json
from pathlib import Path

import pytest
from mlrepro_pfode.cli import main
from mlrepro_pfode.config import Config

from mlrepro.config import ConfigError, load_config
from mlrepro.runs.cli import recipes_dir_of

RECIPES = recipes_dir_of("mlrepro_pfode")


@pytest.mark.parametrize("recipe", ["paper", "mini", "smoke"])
def test_recipes_load_and_print(recipe, capsys):
    cfg = load_config(Config, recipe, [], recipes_dir=RECIPES)
    assert cfg.tasks and cfg.eval.samplers
    assert main(["print-config", "--recipe", recipe]) == 0
    assert "tasks" in capsys.readouterr().out


def test_mini_covers_the_issue_table():
    cfg = load_config(Config, "mini", [], recipes_dir=RECIPES)
    assert cfg.eval.nfe == [5, 10, 20, 50, 100, 1000]
    assert set(cfg.eval.samplers) >= {"sde_em", "sde_pc", "ode_euler", "ode_heun"}
    assert {t.family for t in cfg.tasks} >= {"quadratic", "reacdiff"}
    paper = load_config(Config, "paper", [], recipes_dir=RECIPES)
    assert paper.expected and paper.train.steps == 20000


@pytest.mark.parametrize("override,match", [
    (["tasks.0.nosuchkey=1"], "nosuchkey"),
    (["eval.samplers=[rk45]"], "unknown sampler"),
    (["eval.time_grid=cosine"], "unknown time grid"),
    (["sde.schedule=cosine", "sde.T=1.0"], "cosine schedule"),
    (["tasks.0.params={viscosity: 1}"], "no parameter"),
    (["tasks.0.noise.smoothness=0.3", "tasks.0.noise.kind=bessel"], "trace class"),
    (["eval.claim_baseline=sde_em"], "sampler:nfe"),
    (["model.width=abc"], "width"),
])
def test_bad_configs_fail_with_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(Config, "smoke", override, recipes_dir=RECIPES)


def test_cli_reports_bad_config(capsys):
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", "/nonexistent/never", "train.nosuch=1"]) == 2
    assert "nosuch" in capsys.readouterr().err


def test_paper_dry_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLREPRO_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "dry"
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(out)]) == 0
    info = json.loads((out / "dry_run.json").read_text())
    assert set(info["tasks"]) == {"quadratic", "reacdiff", "heat"}
    assert info["model_params_full"] > 1_000_000
    for t in info["tasks"].values():
        assert all(c["finite"] for c in t["samplers"].values())
    assert not (out / "results.json").exists()


def test_smoke_end_to_end_with_kill_and_resume(tmp_path, monkeypatch):
    """Kill the smoke run in the middle of sampling, resume it, and check finished stages are not redone."""
    import mlrepro_pfode.reproduce as rp

    monkeypatch.setenv("MLREPRO_RUNS_DIR", str(tmp_path / "runs"))
    out = tmp_path / "run"
    calls = {"train": 0, "sample": 0}
    real_train, real_sample = rp.stage_train, rp.stage_sample

    def counting_train(*a, **k):
        calls["train"] += 1
        return real_train(*a, **k)

    def killing_sample(*a, **k):
        calls["sample"] += 1
        if calls["sample"] == 5:
            raise KeyboardInterrupt("simulated kill")
        return real_sample(*a, **k)

    monkeypatch.setattr(rp, "stage_train", counting_train)
    monkeypatch.setattr(rp, "stage_sample", killing_sample)
    with pytest.raises(KeyboardInterrupt):
        main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), "--no-export"])
    done_before = {p.parent.name for p in (out / "stages").glob("*/DONE")}
    assert "exact_score" in done_before and "train_quadratic" in done_before
    assert not (out / "results.json").exists()

    calls.update(train=0, sample=0)
    monkeypatch.setattr(rp, "stage_sample", real_sample)
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(out), "--no-export"]) == 0
    assert calls["train"] == 1  # only reacdiff's model was left to train
    res = json.loads((out / "results.json").read_text())
    ids = {c["id"] for c in res["claims"]}
    assert "pfode_marginals_exact_gaussian" in ids and any(i.startswith("quadratic_pfode") for i in ids)
    assert all(isinstance(c["holds"], bool) for c in res["claims"])
    assert res["seeds"] == [0] and res["wall_time_s"] > 0
    table = res["metrics"]["tasks"]["quadratic"]["table"]
    assert set(table) == {"sde_em", "sde_pc", "ode_euler", "ode_heun"} and set(table["ode_heun"]) == {"2", "4"}
    assert table["ode_heun"]["4"]["nfe"] == 4
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"quality_vs_nfe.png", "samples_quadratic.png",
                                                              "grid_ablation.png", "exact_score.png"}
    recs = [json.loads(line) for line in Path(out / "samples.jsonl").read_text().splitlines()]
    assert {r["task"] for r in recs} == {"quadratic", "reacdiff"}
    assert all({"stage", "sampler", "nfe", "mmd2", "n_nonfinite"} <= set(r) for r in recs)
    assert len({r["stage"] for r in recs}) == sum(1 for _ in (out / "stages").glob("sample_*/DONE"))
