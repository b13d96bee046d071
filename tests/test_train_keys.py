"""The train keys are declared once, by TrainConfig (names, types, defaults; the
validator's types are read from its annotations); the README's parameter table, params.yaml
and the tests' tiny params are checked against them, so a key added in one place and
forgotten in another fails here."""

import dataclasses
import re
import typing
from pathlib import Path

import yaml
from conftest import tiny_params

from reinforce.io import config

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {f.name: f for f in dataclasses.fields(config.TrainConfig)}


def readme_defaults() -> dict[str, str]:
    """`train.<key>` -> its default as the README's parameter table writes it."""
    defaults = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) < 3 or not cells[0].startswith("`train."):
            continue
        keys = re.findall(r"`train\.(\w+)`", cells[0])
        values = [v.strip() for v in cells[1].split(",")]
        assert len(values) == len(keys), line
        defaults.update(zip(keys, values, strict=True))
    return defaults


def as_written(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"`{value}`"
    return str(value)


def test_the_validator_takes_its_types_from_the_fields():
    assert set(config._TRAIN_TYPES) == set(FIELDS)
    hints = typing.get_type_hints(config.TrainConfig)
    for key, (kind, optional) in config._TRAIN_TYPES.items():
        assert hints[key] == (kind | None if optional else kind), key


def test_readme_table_lists_every_key_with_its_default():
    assert readme_defaults() == {k: as_written(f.default) for k, f in FIELDS.items()}


def test_params_and_tiny_params_name_only_train_keys():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(params["train"]) <= set(FIELDS)
    assert set(tiny_params()["train"]) <= set(FIELDS)
    assert config.parse_config(params, check_env=False).train == dataclasses.replace(
        config.TrainConfig(), **params["train"]
    )
