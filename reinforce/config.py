"""params.yaml -> validated, typed configuration.

Every bad value is rejected here, before any training starts, with a message that names
the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A value in params.yaml that the pipeline cannot run with."""


BASELINES = ("none", "value")
ADVANTAGES = ("returns", "gae")
EVAL_POLICIES = ("greedy", "sample")


@dataclass(frozen=True)
class EnvConfig:
    id: str = "CartPole-v1"
    solved_threshold: float = 475.0
    solve_window: int = 100


@dataclass(frozen=True)
class TrainConfig:
    episodes: int = 1000
    gamma: float = 0.99
    lr: float = 0.01
    hidden_dim: int = 128
    normalize_returns: bool = True
    baseline: str = "none"
    critic_lr: float = 0.01
    entropy_coef: float = 0.0
    grad_clip_norm: float | None = None
    episodes_per_update: int = 1
    # The actor-critic family (README, "Actor-critic"); the defaults leave every update
    # exactly the article's or the value baseline's.
    advantage: str = "returns"
    gae_lambda: float = 0.95
    normalize_advantages: bool = False
    update_epochs: int = 1
    minibatches: int = 1
    clip_ratio: float | None = None


@dataclass(frozen=True)
class EvaluateConfig:
    episodes: int = 100
    seed_offset: int = 1_000_000
    policy: str = "greedy"


@dataclass(frozen=True)
class ReportConfig:
    ci: float = 0.95
    bootstrap_resamples: int = 10_000
    bootstrap_seed: int = 0
    smoothing_window: int = 20


@dataclass(frozen=True)
class ComputeConfig:
    # How many processes share a variant's seeds. No stage depends on it: the results are
    # the same bytes for any value (a test holds it), only the wall-clock time changes.
    workers: int = 2


@dataclass(frozen=True)
class Config:
    env: EnvConfig
    seeds: tuple[int, ...]
    train: TrainConfig
    variants: dict[str, TrainConfig]
    evaluate: EvaluateConfig
    report: ReportConfig
    compute: ComputeConfig = ComputeConfig()

    def variant(self, name: str) -> TrainConfig:
        if name not in self.variants:
            raise ConfigError(
                f"variants: no variant named {name!r}; the variants in params.yaml are "
                f"{', '.join(sorted(self.variants))}"
            )
        return self.variants[name]

    def eval_seeds(self) -> dict[int, int]:
        """Training seed -> the env seed its evaluation episodes start from."""
        return {seed: self.evaluate.seed_offset + seed for seed in self.seeds}


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _unknown_key(section: str, key: str, allowed) -> ConfigError:
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    where = f"{section}.{key}" if section else key
    return ConfigError(f"{where}: unknown key.{hint} Allowed keys: {', '.join(allowed)}")


def _type_name(kind) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]


def _check_type(key: str, value: Any, kind, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok or (kind is float and not math.isfinite(value)):
        allowed = _type_name(kind) + (" or null" if optional else "")
        raise ConfigError(f"{key}: got {value!r} ({type(value).__name__}); expected {allowed}")
    return value


def _section(name: str, raw: Any, cls, types: dict[str, tuple[type, bool]]):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: got {raw!r}; expected a mapping of keys to values")
    fields = _fields(cls)
    for key in raw:
        if key not in fields:
            raise _unknown_key(name, str(key), fields)
    values = {}
    for key, field in fields.items():
        value = raw.get(key, field.default)
        kind, optional = types[key]
        values[key] = _check_type(f"{name}.{key}", value, kind, optional)
    return cls(**values)


_TRAIN_TYPES = {
    "episodes": (int, False),
    "gamma": (float, False),
    "lr": (float, False),
    "hidden_dim": (int, False),
    "normalize_returns": (bool, False),
    "baseline": (str, False),
    "critic_lr": (float, False),
    "entropy_coef": (float, False),
    "grad_clip_norm": (float, True),
    "episodes_per_update": (int, False),
    "advantage": (str, False),
    "gae_lambda": (float, False),
    "normalize_advantages": (bool, False),
    "update_epochs": (int, False),
    "minibatches": (int, False),
    "clip_ratio": (float, True),
}


def _require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: got {value!r}; allowed: {allowed}")


def _validate_train(name: str, train: TrainConfig) -> TrainConfig:
    _require(train.episodes >= 1, f"{name}.episodes", train.episodes, "an integer >= 1")
    _require(0 < train.gamma <= 1, f"{name}.gamma", train.gamma, "a number in (0, 1]")
    _require(train.lr > 0, f"{name}.lr", train.lr, "a number > 0")
    _require(train.critic_lr > 0, f"{name}.critic_lr", train.critic_lr, "a number > 0")
    _require(train.hidden_dim >= 1, f"{name}.hidden_dim", train.hidden_dim, "an integer >= 1")
    _require(train.baseline in BASELINES, f"{name}.baseline", train.baseline,
             " | ".join(BASELINES))
    _require(train.entropy_coef >= 0, f"{name}.entropy_coef", train.entropy_coef,
             "a number >= 0")
    _require(train.grad_clip_norm is None or train.grad_clip_norm > 0,
             f"{name}.grad_clip_norm", train.grad_clip_norm, "null or a number > 0")
    _require(train.episodes_per_update >= 1, f"{name}.episodes_per_update",
             train.episodes_per_update, "an integer >= 1")
    _require(train.advantage in ADVANTAGES, f"{name}.advantage", train.advantage,
             " | ".join(ADVANTAGES))
    _require(train.advantage != "gae" or train.baseline == "value", f"{name}.advantage",
             train.advantage, "gae only with baseline: value (GAE bootstraps from the critic)")
    # GAE's deltas add rewards to the critic's values, so both must be on the scale of the
    # raw returns; normalize_advantages is the normalization that fits GAE.
    _require(train.advantage != "gae" or not train.normalize_returns,
             f"{name}.normalize_returns", train.normalize_returns,
             "false with advantage: gae (use normalize_advantages)")
    _require(0 <= train.gae_lambda <= 1, f"{name}.gae_lambda", train.gae_lambda,
             "a number in [0, 1]")
    _require(train.update_epochs >= 1, f"{name}.update_epochs", train.update_epochs,
             "an integer >= 1")
    _require(train.minibatches >= 1, f"{name}.minibatches", train.minibatches,
             "an integer >= 1")
    _require(train.clip_ratio is None or train.clip_ratio > 0, f"{name}.clip_ratio",
             train.clip_ratio, "null or a number > 0")
    return train


def _validate_seeds(raw: Any) -> tuple[int, ...]:
    allowed = "a non-empty list of distinct integers >= 0"
    _require(isinstance(raw, list) and len(raw) > 0, "seeds", raw, allowed)
    for seed in raw:
        _require(isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
                 "seeds", seed, allowed)
    duplicates = sorted({s for s in raw if raw.count(s) > 1})
    _require(not duplicates, "seeds", raw, f"{allowed} (repeated: {duplicates})")
    # numpy's SeedSequence and gymnasium's reset take any integer >= 0, but torch's
    # manual_seed is 64-bit.
    _require(max(raw) < 2**63, "seeds", max(raw), "integers < 2**63")
    return tuple(raw)


def _validate_env(env: EnvConfig) -> EnvConfig:
    from reinforce.envs import check_env_id  # gymnasium import is slow; only when validating

    check_env_id(env.id)
    _require(env.solve_window >= 1, "env.solve_window", env.solve_window, "an integer >= 1")
    return env


def parse_config(raw: Any, check_env: bool = True) -> Config:
    """Build a validated Config from the parsed YAML of params.yaml."""
    if not isinstance(raw, dict):
        raise ConfigError(f"params.yaml: got {raw!r}; expected a mapping of sections")
    sections = {"env", "seeds", "train", "variants", "evaluate", "report", "compute"}
    for key in raw:
        if key not in sections:
            raise _unknown_key("", str(key), sections)

    env = _section("env", raw.get("env"), EnvConfig, {
        "id": (str, False), "solved_threshold": (float, False), "solve_window": (int, False)})
    if check_env:
        env = _validate_env(env)
    seeds = _validate_seeds(raw.get("seeds", list(range(10))))

    train_raw = raw.get("train") or {}
    train = _validate_train("train", _section("train", train_raw, TrainConfig, _TRAIN_TYPES))

    variants_raw = raw.get("variants")
    if variants_raw is None:
        variants_raw = {"article": {}}
    _require(isinstance(variants_raw, dict) and len(variants_raw) > 0, "variants", variants_raw,
             "a non-empty mapping of variant name -> overrides of train keys")
    variants = {}
    for name, overrides in variants_raw.items():
        _require(isinstance(name, str) and name and "." not in name and "/" not in name
                 and name.strip() == name, "variants", name,
                 "names without '.', '/' or surrounding spaces (DVC reads '.' as nesting)")
        key = f"variants.{name}"
        if overrides is None:
            overrides = {}
        _require(isinstance(overrides, dict), key, overrides,
                 "a mapping of train keys to values ({} for the train defaults)")
        merged = {**train_raw, **overrides}
        for override in overrides:
            if override not in _TRAIN_TYPES:
                raise _unknown_key(key, str(override), _TRAIN_TYPES)
        variants[name] = _validate_train(key, _section(key, merged, TrainConfig, _TRAIN_TYPES))

    evaluate = _section("evaluate", raw.get("evaluate"), EvaluateConfig, {
        "episodes": (int, False), "seed_offset": (int, False), "policy": (str, False)})
    _require(evaluate.episodes >= 1, "evaluate.episodes", evaluate.episodes, "an integer >= 1")
    _require(evaluate.seed_offset >= 0, "evaluate.seed_offset", evaluate.seed_offset,
             "an integer >= 0")
    _require(evaluate.policy in EVAL_POLICIES, "evaluate.policy", evaluate.policy,
             " | ".join(EVAL_POLICIES))
    overlap = sorted(set(seeds) & {evaluate.seed_offset + s for s in seeds})
    _require(not overlap, "evaluate.seed_offset", evaluate.seed_offset,
             f"an offset whose evaluation seeds (seed_offset + seed) avoid the training seeds;"
             f" {overlap} would be used for both")

    report = _section("report", raw.get("report"), ReportConfig, {
        "ci": (float, False), "bootstrap_resamples": (int, False),
        "bootstrap_seed": (int, False), "smoothing_window": (int, False)})
    _require(0 < report.ci < 1, "report.ci", report.ci, "a number in (0, 1)")
    _require(report.bootstrap_resamples >= 1, "report.bootstrap_resamples",
             report.bootstrap_resamples, "an integer >= 1")
    _require(report.bootstrap_seed >= 0, "report.bootstrap_seed", report.bootstrap_seed,
             "an integer >= 0")
    _require(report.smoothing_window >= 1, "report.smoothing_window", report.smoothing_window,
             "an integer >= 1")

    compute = _section("compute", raw.get("compute"), ComputeConfig, {"workers": (int, False)})
    _require(compute.workers >= 1, "compute.workers", compute.workers, "an integer >= 1")

    return Config(env=env, seeds=seeds, train=train, variants=variants, evaluate=evaluate,
                  report=report, compute=compute)


def load_config(path: str | Path = "params.yaml", check_env: bool = True) -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_config(raw, check_env=check_env)


def changed_keys(train: TrainConfig, defaults: TrainConfig) -> dict[str, Any]:
    """The train keys a variant sets differently from the train defaults."""
    return {f.name: getattr(train, f.name) for f in dataclasses.fields(TrainConfig)
            if getattr(train, f.name) != getattr(defaults, f.name)}
