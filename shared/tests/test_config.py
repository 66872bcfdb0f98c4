from dataclasses import dataclass, field
from typing import Any

import pytest

from mlrepro.config import ConfigError, load_config, to_dict, to_yaml


@dataclass
class Model:
    name: str = "tiny"
    layers: int = 2


@dataclass
class Schema:
    seed: int = 0
    lr: float = 1e-3
    model: Model = field(default_factory=Model)
    trainer: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    def validate(self):
        if self.lr <= 0:
            raise ConfigError("config key 'lr': must be > 0")


def write(p, text):
    p.write_text(text)
    return p


def test_recipe_and_overrides(tmp_path):
    write(tmp_path / "mini.yaml", "seed: 3\nmodel:\n  layers: 4\ntrainer:\n  max_steps: 10\n  anything_goes: true\n")
    cfg = load_config(Schema, "mini", ["trainer.max_steps=2", "lr=0.5", "model.name=x"], recipes_dir=tmp_path)
    assert isinstance(cfg, Schema) and isinstance(cfg.model, Model)
    assert (cfg.seed, cfg.lr, cfg.model.layers, cfg.model.name) == (3, 0.5, 4, "x")
    assert cfg.trainer == {"max_steps": 2, "anything_goes": True}
    assert "layers: 4" in to_yaml(cfg) and to_dict(cfg)["model"]["name"] == "x"


def test_inherit(tmp_path):
    write(tmp_path / "mini.yaml", "seed: 3\nlr: 0.1\n")
    write(tmp_path / "smoke.yaml", "inherit: mini\nlr: 0.2\n")
    cfg = load_config(Schema, "smoke", recipes_dir=tmp_path)
    assert (cfg.seed, cfg.lr) == (3, 0.2)


def test_inherit_cycle(tmp_path):
    write(tmp_path / "a.yaml", "inherit: b\n")
    write(tmp_path / "b.yaml", "inherit: a\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(Schema, "a", recipes_dir=tmp_path)


@pytest.mark.parametrize(
    "text,key",
    [("sede: 1\n", "sede"), ("model:\n  layrs: 3\n", "layrs"), ("seed: abc\n", "seed"), ("model:\n  layers: 1.5\n", "layers")],
)
def test_bad_recipe_names_key(tmp_path, text, key):
    write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=key):
        load_config(Schema, "bad", recipes_dir=tmp_path)


@pytest.mark.parametrize("ov,key", [("lrr=1", "lrr"), ("seed=x", "seed"), ("model.depth=3", "depth"), ("noequals", "noequals")])
def test_bad_override_names_key(ov, key):
    with pytest.raises(ConfigError, match=key):
        load_config(Schema, None, [ov])


def test_validate_hook_and_missing_recipe(tmp_path):
    with pytest.raises(ConfigError, match="lr"):
        load_config(Schema, {"lr": -1.0})
    with pytest.raises(ConfigError, match="not found"):
        load_config(Schema, "nope", recipes_dir=tmp_path)


def test_yaml_syntax_error(tmp_path):
    write(tmp_path / "broken.yaml", "seed: [1,\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(Schema, "broken", recipes_dir=tmp_path)
