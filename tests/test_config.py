"""Bad parameters fail before any work, naming the key, the value and what is allowed."""

import copy

import pytest
import yaml

from reinforce.io.config import ConfigError, load_config, parse_config
from tests.conftest import assert_refused, tiny_params


def with_change(path: str, value):
    params = copy.deepcopy(tiny_params())
    *parents, last = path.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[last] = value
    return params


BAD = [
    # (params, words the message must contain)
    (dict(tiny_params(), trian={}), ["trian", "unknown key", "'train'"]),
    (with_change("train.lrr", 0.1), ["train.lrr", "unknown key", "'lr'"]),
    (with_change("train.lr", "fast"), ["train.lr", "'fast'", "a number"]),
    (with_change("train.episodes", 2.5), ["train.episodes", "2.5", "an integer"]),
    (
        with_change("train.normalize_returns", "yes"),
        ["train.normalize_returns", "'yes'", "true or false"],
    ),
    (with_change("train.lr", 0), ["train.lr", "0", "> 0"]),
    (with_change("train.lr", -0.01), ["train.lr", "-0.01", "> 0"]),
    (with_change("train.gamma", 0), ["train.gamma", "0", "(0, 1]"]),
    (with_change("train.gamma", 1.5), ["train.gamma", "1.5", "(0, 1]"]),
    (with_change("train.episodes", 0), ["train.episodes", "0", ">= 1"]),
    (with_change("train.episodes_per_update", 0), ["train.episodes_per_update", "0", ">= 1"]),
    (with_change("train.hidden_dim", 0), ["train.hidden_dim", "0", ">= 1"]),
    (
        with_change("train.grad_clip_norm", -1),
        ["train.grad_clip_norm", "-1", "null or a number > 0"],
    ),
    (with_change("train.entropy_coef", -0.1), ["train.entropy_coef", "-0.1", ">= 0"]),
    (with_change("train.baseline", "critic"), ["train.baseline", "'critic'", "none | value"]),
    (with_change("seeds", []), ["seeds", "[]", "non-empty"]),
    (with_change("seeds", [1, 2, 1]), ["seeds", "[1, 2, 1]", "distinct", "repeated: [1]"]),
    (with_change("seeds", [0, -3]), ["seeds", "-3", ">= 0"]),
    (with_change("seeds", [0.0, 1.5]), ["seeds", "1.5", "integers"]),
    (with_change("seeds", [0.0, 0]), ["seeds", "repeated: [0]"]),
    (with_change("train.hidden_dim", 16.5), ["train.hidden_dim", "16.5", "an integer"]),
    (with_change("train.hidden_dim", float("inf")), ["train.hidden_dim", "inf", "an integer"]),
    (with_change("seeds", "0-9"), ["seeds", "'0-9'", "list"]),
    (
        with_change("env.id", "CartPole-v9"),
        ["env.id", "'CartPole-v9'", "not a registered", "CartPole-v1"],
    ),
    (with_change("env.id", "FrozenLake-v1"), ["env.id", "'FrozenLake-v1'", "Box"]),
    (
        with_change("variants.article", {"learning_rate": 0.1}),
        ["variants.article.learning_rate", "unknown key"],
    ),
    (with_change("variants.fast", {"lr": -1}), ["variants.fast.lr", "-1", "> 0"]),
    (with_change("variants", {}), ["variants", "non-empty"]),
    (
        dict(tiny_params(), variants={"lr-0.001": {"lr": 0.001}}),
        ["variants", "lr-0.001", "letters, digits"],
    ),
    (with_change("evaluate.episodes", 0), ["evaluate.episodes", "0", ">= 1"]),
    (with_change("evaluate.policy", "best"), ["evaluate.policy", "'best'", "greedy | sample"]),
    (
        with_change("evaluate.seed_offset", 1),
        ["evaluate.seed_offset", "1", "avoid the training seeds"],
    ),
    (with_change("report.ci", 1.0), ["report.ci", "1.0", "(0, 1)"]),
    (with_change("report.ci", 0), ["report.ci", "0", "(0, 1)"]),
    (with_change("report.bootstrap_resamples", 0), ["report.bootstrap_resamples", "0", ">= 1"]),
    (with_change("compute.workers", 0), ["compute.workers", "0", ">= 1"]),
]


@pytest.mark.parametrize("params,words", BAD, ids=[" ".join(w[:2]) for _, w in BAD])
def test_bad_parameter_is_named_with_value_and_what_is_allowed(params, words):
    assert_refused(params, words)


def test_defaults_of_the_repository_parse(root):
    cfg = load_config(root / "params.yaml")
    assert cfg.train.lr == 0.01 and cfg.train.gamma == 0.99 and cfg.train.hidden_dim == 128
    assert cfg.train.baseline == "none" and cfg.train.episodes_per_update == 1
    assert cfg.variants["article"] == cfg.train
    assert cfg.seeds == tuple(range(10))


def test_variant_overrides_only_its_keys():
    cfg = parse_config(tiny_params())
    assert cfg.variants["value-baseline"].baseline == "value"
    assert cfg.variants["value-baseline"].lr == cfg.train.lr


def test_missing_and_broken_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "params.yaml"
    broken.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_acrobot_is_accepted():
    cfg = parse_config(with_change("env.id", "Acrobot-v1"))
    assert cfg.env.id == "Acrobot-v1"


def test_yaml_round_trip_of_tiny_params(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params()))
    assert load_config(path).seeds == (0, 1)


def test_an_integral_float_is_the_integer_for_every_integer_key():
    """Issue 28, item 5: `dvc exp run -S train.hidden_dim=16.0` (or `-S 'seeds=[0.0,1.0]'`)
    writes a float that DVC calls equal to the int and runs no stage. Decided: every integer
    key takes an integral float as that integer (the same config, so the same bytes);
    16.5 stays refused (BAD above)."""
    floats = tiny_params(seeds=[0.0, 1.0])
    floats["train"]["hidden_dim"] = 16.0
    floats["train"]["episodes"] = 6.0
    floats["variants"]["article"]["episodes_per_update"] = 1.0
    floats["tune"] = {
        "seeds": [10.0, 11.0],
        "search": {"value-baseline": {"hidden_dim": [8.0, 16]}},
    }
    floats["evaluate"]["seed_offset"] = 1e6
    floats["report"]["bootstrap_resamples"] = 200.0
    ints = tiny_params()
    ints["tune"] = {"seeds": [10, 11], "search": {"value-baseline": {"hidden_dim": [8, 16]}}}
    got, expected = parse_config(floats), parse_config(ints)
    assert got == expected
    assert type(got.train.hidden_dim) is int and all(type(s) is int for s in got.seeds)
    assert [type(v) for v in got.tune.search["value-baseline"]["hidden_dim"]] == [int, int]
    assert type(got.evaluate.seed_offset) is int and type(got.tune.seeds[0]) is int
    assert_refused(
        with_change("tune.search", {"value-baseline": {"hidden_dim": [16.0, 16]}}),
        ["tune.search.value-baseline.hidden_dim", "repeated: [16]"],
    )
