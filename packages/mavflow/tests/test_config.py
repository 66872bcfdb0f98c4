"""Recipes load against the schema; bad keys and values fail with the key named."""

from pathlib import Path

import pytest
from mlrepro_mavflow.cli import main
from mlrepro_mavflow.config import Config

from mlrepro.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[1] / "src" / "mlrepro_mavflow" / "recipes"


@pytest.mark.parametrize("name", ["paper", "mini", "smoke"])
def test_recipes_load(name):
    cfg = load_config(Config, name, recipes_dir=RECIPES)
    assert isinstance(cfg, Config)
    if name == "paper":
        assert cfg.expected and all({"metric", "value", "tolerance", "source"} <= set(e) for e in cfg.expected)
        assert cfg.units.backend == "mavhubert" and cfg.face.backend == "wav2lip"


def test_smoke_inherits_mini():
    mini = load_config(Config, "mini", recipes_dir=RECIPES)
    smoke = load_config(Config, "smoke", recipes_dir=RECIPES)
    assert smoke.data.world == mini.data.world and smoke.train.steps < mini.train.steps


@pytest.mark.parametrize("override,key", [
    (["train.stepz=3"], "stepz"), (["train.steps=abc"], "train.steps"), (["eval.solver=rk4"], "eval.solver"),
    (["cfm.sigma_min=1.5"], "cfm.sigma_min"), (["data.world=manifest"], "data.manifest"),
    (["eval.combiners=[nested,mixed]"], "eval.combiners"), (["cfm.p_drop_speaker=2"], "cfm.p_drop_speaker"),
])
def test_bad_values_fail_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.split(".")[-1]):
        load_config(Config, "smoke", override, recipes_dir=RECIPES)


def test_print_config(capsys):
    assert main(["print-config", "--recipe", "paper"]) == 0
    assert "sigma_min" in capsys.readouterr().out
    assert main(["print-config", "--recipe", "smoke", "nonsense.key=1"]) == 2
