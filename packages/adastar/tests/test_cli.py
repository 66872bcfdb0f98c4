"""Recipes load (and bad ones fail), the smoke recipe runs end to end, and --resume skips finished stages."""

import json
from pathlib import Path

import pytest
from mlrepro_adastar.cli import main
from mlrepro_adastar.config import Config

from mlrepro.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[1] / "src" / "mlrepro_adastar" / "recipes"


@pytest.mark.parametrize("recipe", ["paper", "mini", "smoke"])
def test_recipes_load(recipe, capsys):
    cfg = load_config(Config, recipe, [], recipes_dir=RECIPES)
    assert cfg.star.methods and cfg.star.batch_size >= 1
    assert main(["print-config", "--recipe", recipe]) == 0
    assert "methods" in capsys.readouterr().out


def test_paper_recipe_values():
    cfg = load_config(Config, "paper", [], recipes_dir=RECIPES)
    assert (cfg.star.start_steps, cfg.star.grow_steps, cfg.star.batch_size) == (40, 1.2, 8)
    assert cfg.trainer["learning_rate"] == 1e-5 and cfg.sampling.top_p == 0.9 and cfg.seed == 10
    assert {e["metric"] for e in cfg.expected} >= {"methods.adastar.best_accuracy", "methods.star_acc.best_accuracy"}


@pytest.mark.parametrize("override,msg", [
    (["star.nope=1"], "nope"),
    (["star.methods=[star,bogus]"], "bogus"),
    (["star.rounding=ceil"], "rounding"),
    (["data.task=mnist"], "mnist"),
    (["star.batch_size=abc"], "batch_size"),
    (["pretrain.misread=1.5"], "misread"),
    (["pretrain.misread_ops=[/]"], "misread_ops"),
])
def test_bad_config_fails(override, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(Config, "mini", override, recipes_dir=RECIPES)


def test_cli_bad_key_exit_code(capsys):
    assert main(["print-config", "--recipe", "mini", "star.typo=3"]) == 2
    assert "typo" in capsys.readouterr().err


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["reproduce", "--recipe", "smoke", "--output-dir", str(out), "--no-export"]) == 0
    return out


def test_smoke_end_to_end(smoke_run):
    res = json.loads((smoke_run / "results.json").read_text())
    assert {c["id"] for c in res["claims"]} == {"flops_to_star_acc_best_train", "flops_to_star_acc_best_total",
                                                "accuracy_at_least_star_acc", "sd_training_counts_lower"}
    assert all(isinstance(c["holds"], bool) for c in res["claims"])
    m = res["metrics"]["methods"]
    assert set(m) == {"star_acc", "adastar"}
    assert m["adastar"]["inference_flops"] <= m["star_acc"]["inference_flops"]
    assert (smoke_run / "plots" / "accuracy_vs_flops.png").exists()
    assert res["seeds"] == [0] and res["wall_time_s"] > 0


def test_resume_skips_done_stages(smoke_run, caplog):
    stages = smoke_run / "stages"
    before = {p.parent.name: p.read_text() for p in stages.glob("*/DONE")}
    (stages / "adastar-s0" / "DONE").unlink()
    (smoke_run / "results.json").unlink()
    caplog.set_level("INFO")
    assert main(["reproduce", "--recipe", "smoke", "--resume", str(smoke_run), "--no-export"]) == 0
    text = caplog.text
    for name in ("data", "base", "base_eval", "star_acc-s0"):
        assert f"stage {name}: already done" in text
        assert (stages / name / "DONE").read_text() == before[name]
    assert "adastar seed 0: resuming after iteration 2" in text  # the loop state inside the stage is reused too
    assert (smoke_run / "results.json").exists()


def test_dry_run_paper(tmp_path):
    out = tmp_path / "dry"
    assert main(["reproduce", "--recipe", "paper", "--dry-run", "--output-dir", str(out),
                 "star.methods=[adastar,rest_em]"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["metrics"]["dry_run"] and set(res["metrics"]["methods"]) == {"adastar", "rest_em"}
    assert res["metrics"]["trainer_check"]["steps"] == 1 and res["metrics"]["trainer_check"]["loss"] > 0
