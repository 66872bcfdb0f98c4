"""Recipe loading: OmegaConf structured configs behind one function.

A recipe is a YAML file merged onto a dataclass schema, then dotlist overrides (``trainer.max_steps=2``)
are applied, and the result is returned as an instance of the schema. Misspelled keys and wrong types fail
at load time with the offending key named (:class:`ConfigError`). A recipe may start with
``inherit: <name-or-path>``; the parent is merged first.

Sub-trees typed ``dict[str, Any]`` (conventionally ``trainer:``) are free-form and passed through, so our
schema does not track TRL releases.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "load_config",
    "load_recipe_yaml",
    "resolve_recipe_path",
    "to_yaml",
    "to_dict",
    "list_recipes",
]


class ConfigError(ValueError):
    """A recipe or override does not fit the schema. The message names the key."""


def resolve_recipe_path(recipe: str | os.PathLike, recipes_dir: str | os.PathLike | None = None) -> Path:
    """Resolve ``recipe`` (a short name like ``mini`` or a path to a YAML file) to an existing file."""
    p = Path(recipe)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    if recipes_dir is not None:
        for cand in (Path(recipes_dir) / f"{recipe}.yaml", Path(recipes_dir) / f"{recipe}.yml", Path(recipes_dir) / str(recipe)):
            if cand.is_file():
                return cand
    known = ", ".join(list_recipes(recipes_dir)) if recipes_dir else "(none)"
    raise ConfigError(f"recipe {str(recipe)!r} not found (known recipes: {known}; or pass a path to a .yaml file)")


def list_recipes(recipes_dir: str | os.PathLike | None) -> list[str]:
    if recipes_dir is None or not Path(recipes_dir).is_dir():
        return []
    return sorted(p.stem for p in Path(recipes_dir).glob("*.yaml"))


def load_recipe_yaml(path: str | os.PathLike, recipes_dir: str | os.PathLike | None = None, _seen: tuple = ()) -> DictConfig:
    """Load a recipe YAML, following ``inherit:`` chains (parent merged first)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"inherit cycle: {' -> '.join(str(p) for p in (*_seen, path))}")
    try:
        node = OmegaConf.load(path)
    except Exception as e:  # yaml syntax errors
        raise ConfigError(f"cannot parse recipe {path}: {e}") from e
    if node is None:
        node = OmegaConf.create({})
    if not isinstance(node, DictConfig):
        raise ConfigError(f"recipe {path} must be a mapping at the top level")
    parent = node.pop("inherit", None)
    if parent is not None:
        base_dir = recipes_dir if recipes_dir is not None else path.parent
        ppath = resolve_recipe_path(str(parent), base_dir)
        pnode = load_recipe_yaml(ppath, recipes_dir, (*_seen, path))
        node = OmegaConf.merge(pnode, node)
    return node


def _key_of(e: OmegaConfBaseException) -> str:
    key = getattr(e, "full_key", None) or getattr(e, "key", None)
    return str(key) if key else "?"


def load_config(
    schema: type[T],
    recipe: str | os.PathLike | dict | None = None,
    overrides: list[str] | None = None,
    recipes_dir: str | os.PathLike | None = None,
) -> T:
    """Merge ``recipe`` (name, path or dict) and ``overrides`` onto ``schema``; return a ``schema`` instance.

    Raises :class:`ConfigError` naming the key for unknown keys, wrong types, or missing required values.
    """
    if not dataclasses.is_dataclass(schema):
        raise TypeError("schema must be a dataclass type")
    base = OmegaConf.structured(schema)
    try:
        if recipe is None:
            node = OmegaConf.create({})
        elif isinstance(recipe, dict):
            node = OmegaConf.create(recipe)
        else:
            node = load_recipe_yaml(resolve_recipe_path(recipe, recipes_dir), recipes_dir)
        merged = OmegaConf.merge(base, node)
    except OmegaConfBaseException as e:
        raise ConfigError(f"config key {_key_of(e)!r}: {_first_line(e)}") from e
    for ov in overrides or []:
        if "=" not in ov:
            raise ConfigError(f"override {ov!r} is not of the form key=value")
        try:
            merged.merge_with_dotlist([ov])
        except OmegaConfBaseException as e:
            raise ConfigError(f"override {ov!r}: config key {_key_of(e)!r}: {_first_line(e)}") from e
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        raise ConfigError(f"config key(s) {missing} are required but missing")
    try:
        obj = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise ConfigError(f"config key {_key_of(e)!r}: {_first_line(e)}") from e
    post = getattr(obj, "validate", None)
    if callable(post):
        post()
    return obj  # type: ignore[return-value]


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def to_dict(cfg: Any) -> dict:
    """Plain-dict view of a config dataclass (for JSON/YAML)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def to_yaml(cfg: Any) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True)
