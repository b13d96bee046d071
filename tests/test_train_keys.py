"""The train keys are declared once, by TrainConfig (names, types, defaults; the
validator's types are read from its annotations); the parameter reference
(docs/reference/parameters.md, generated from them by scripts/param_reference.py),
params.yaml and the tests' tiny params are checked against them, so a key added in one
place and forgotten in another fails here."""

import dataclasses
import importlib.util
import re
import typing
from pathlib import Path

import yaml
from conftest import tiny_params

from reinforce.io import config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "param_reference.py"
FIELDS = {f.name: f for f in dataclasses.fields(config.TrainConfig)}


def reference_defaults() -> dict[str, str]:
    """`train.<key>` -> its default as the parameter reference's table writes it."""
    defaults = {}
    for line in (ROOT / "docs" / "reference" / "parameters.md").read_text().splitlines():
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
        return f"`{str(value).lower()}`"
    if value is None:
        return "`null`"
    return f"`{value}`"


def test_the_validator_takes_its_types_from_the_fields():
    assert set(config._TRAIN_TYPES) == set(FIELDS)
    hints = typing.get_type_hints(config.TrainConfig)
    for key, (kind, optional) in config._TRAIN_TYPES.items():
        assert hints[key] == (kind | None if optional else kind), key


def test_reference_lists_every_key_with_its_default():
    assert reference_defaults() == {k: as_written(f.default) for k, f in FIELDS.items()}


def test_the_parameter_reference_is_not_stale():
    """docs/reference/parameters.md is what scripts/param_reference.py writes now: a field
    added, removed or given another default (or a params.yaml value changed) without
    `python scripts/param_reference.py --write` fails here."""
    spec = importlib.util.spec_from_file_location("param_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python scripts/param_reference.py --write"
    assert set(module.DESCRIPTIONS) >= {f"train.{key}" for key in FIELDS}


def test_params_and_tiny_params_name_only_train_keys():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert set(params["train"]) <= set(FIELDS)
    assert set(tiny_params()["train"]) <= set(FIELDS)
    assert config.parse_config(params, check_env=False).train == dataclasses.replace(
        config.TrainConfig(), **params["train"]
    )
