"""Recipes load against the schema; bad keys and values fail with the key named."""

from pathlib import Path

import pytest
from mlrepro_dreamad.cli import main
from mlrepro_dreamad.config import Config

from mlrepro.config import ConfigError, load_config

RECIPES = Path(__file__).resolve().parents[1] / "src" / "mlrepro_dreamad" / "recipes"


@pytest.mark.parametrize("name", ["paper", "mini", "smoke"])
def test_recipes_load(name):
    cfg = load_config(Config, name, recipes_dir=RECIPES)
    assert cfg.methods and cfg.models


def test_paper_recipe_values():
    cfg = load_config(Config, "paper", recipes_dir=RECIPES)
    assert cfg.arena.num_games == 50 and cfg.accuracy.passes == 5 and cfg.arena.max_invalid_retries == 5
    assert (cfg.method.stage1_temperature, cfg.method.refine_temperature, cfg.method.debate_rounds) == (0.1, 0.7, 3)
    assert cfg.opponent.model.model == "gpt-4o" and cfg.opponent.method == "react"
    assert {m.backend or cfg.sampling.backend for m in cfg.models} == {"openai"}
    assert {e["metric"] for e in cfg.expected} >= {"summary.accuracy_gain_dreamad_vs_react_pp",
                                                  "summary.winrate_gain_dreamad_vs_mad_pp"}


@pytest.mark.parametrize("override,key", [
    (["arena.num_gmes=3"], "num_gmes"),
    (["methods=[react,tree_of_thought]"], "methods"),
    (["arena.games=[go]"], "arena.games"),
    (["arena.invalid_move_policy=eval"], "invalid_move_policy"),
    (["accuracy.eps=[1.5]"], "eps"),
    (["models=[{label: a.b}]"], "label"),
    (["models=[{label: x, mock_overrides: {p_bse: 0.1}}]"], "mock_overrides"),
    (["sampling.backend=openai"], "model"),  # mock models have no model id
    (["arena.num_games=zero"], "num_games"),
])
def test_bad_config_fails_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.split(".")[-1]):
        load_config(Config, "mini", override, recipes_dir=RECIPES)


def test_print_config(capsys):
    assert main(["print-config", "--recipe", "paper"]) == 0
    out = capsys.readouterr().out
    assert "gemini-1.5-pro" in out and "stage1_temperature: 0.1" in out
    assert main(["print-config", "--recipe", "smoke", "arena.num_gmes=1"]) == 2
