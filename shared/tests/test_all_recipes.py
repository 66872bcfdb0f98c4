"""Every recipe of every package loads against its package's schema; a misspelled key fails naming it."""

import importlib
from pathlib import Path

import pytest

from mlrepro.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(ROOT.glob("packages/*/src/mlrepro_*/recipes/*.yaml"))


def _schema(recipe: Path):
    slug = recipe.parents[1].name  # mlrepro_<slug>
    try:
        return importlib.import_module(f"{slug}.config").Config
    except ModuleNotFoundError as e:
        pytest.skip(f"{slug} not installed in this environment ({e})")


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parents[1].name}/{p.stem}")
def test_recipe_loads(recipe):
    cfg = load_config(_schema(recipe), recipe, recipes_dir=recipe.parent)
    assert hasattr(cfg, "seed")


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parents[1].name}/{p.stem}")
def test_recipe_rejects_unknown_key(recipe):
    with pytest.raises(ConfigError, match="definitely_not_a_key"):
        load_config(_schema(recipe), recipe, ["definitely_not_a_key=1"], recipes_dir=recipe.parent)


def test_every_package_has_three_recipes():
    for pkg in sorted((ROOT / "packages").iterdir()):
        names = {p.stem for p in (pkg / "recipes").glob("*.yaml")}
        assert {"paper", "mini", "smoke"} <= names, pkg.name
