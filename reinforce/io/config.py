"""params.yaml -> validated, typed configuration.

Every bad value is rejected here, before any training starts, with a message that names
the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reinforce.io import paths
from reinforce.io.env_ids import check_env_id, is_continuous, spec_reward_threshold
from reinforce.io.errors import ConfigError, DataError
from reinforce.io.names import check_name, show

BASELINES = ("none", "value")
ACTIVATIONS = ("relu", "tanh")  # reinforce/agent/policy.py ACTIVATIONS
MAX_HIDDEN_LAYERS = 16
# reinforce/algos: a file there (not base.py) is an algorithm a variant may name
ALGORITHMS_DIR = Path(__file__).resolve().parents[1] / "algos"


def algorithm_names() -> tuple[str, ...]:
    """The algorithms a variant may name: the modules of reinforce/algos, by file name."""
    return tuple(
        sorted(
            path.stem
            for path in ALGORITHMS_DIR.glob("*.py")
            if path.stem not in ("__init__", "base") and path.stem.isidentifier()
        )
    )


ADVANTAGES = ("returns", "gae")
# The article's setup: never tuned, and the variant every other one is compared with.
REFERENCE_VARIANT = "article"
EVAL_POLICIES = ("greedy", "sample")
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class EnvConfig:
    id: str = "CartPole-v1"
    # Absent from params: gymnasium's spec.reward_threshold; null (or no spec threshold):
    # the env has no "solved", and no solve measure or claim is made on it.
    solved_threshold: float | None = 475.0
    solve_window: int = 100
    # A suite's normalized score: (score - random) / (reference_score - random); absent:
    # the solved threshold (an env without one must name its reference).
    reference_score: float | None = None
    # The training budget of every variant on this env (a suite's per-env override);
    # null: the variants' own episodes.
    episodes: int | None = None


@dataclass(frozen=True)
class RandomConfig:
    """A suite's random-policy baseline, measured by the pipeline on its own seeds."""

    seeds: tuple[int, ...] = (200, 201, 202, 203, 204)
    episodes: int = 20


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
    # The actor-critic family (README, "Learning quality"); the defaults leave every update
    # exactly the article's or the value baseline's.
    advantage: str = "returns"
    gae_lambda: float = 0.95
    normalize_advantages: bool = False
    update_epochs: int = 1
    minibatches: int = 1
    clip_ratio: float | None = None
    # The ppo variant (README, "Learning quality"): each seed updates after every
    # rollout_steps env steps, its episodes cut across rollouts; null: at episode ends.
    rollout_steps: int | None = None
    # The networks: hidden layers' widths (null: one layer of hidden_dim) and activation.
    hidden_sizes: tuple | None = None
    activation: str = "relu"
    # The algorithm: reinforce/algos/<algorithm>.py (its targets and losses); pg is the
    # policy-gradient family every key above configures.
    algorithm: str = "pg"


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
    # Where and how the seed groups of the train and evaluate stages run. No stage depends
    # on any of these keys: the results are the same bytes for any value (tests hold it),
    # only the wall-clock time changes (reinforce/compute/backends.py, docs/cluster.md).
    backend: str = "local"  # local: this machine's processes; ray: Ray tasks
    workers: int = 2  # local: processes that share a variant's seeds
    ray_address: str | None = None  # ray: the cluster (RAY_ADDRESS wins); null: a local Ray
    seeds_per_task: int = 1  # ray: seeds in each one-CPU task


@dataclass(frozen=True)
class TuneConfig:
    # Seeds the search spaces are tried on: disjoint from the reporting seeds, so that no
    # reported number comes from a seed anything was chosen on.
    seeds: tuple[int, ...] = ()
    # variant -> train key -> candidate values; the candidates are their full grid.
    search: dict[str, dict[str, tuple]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    env: EnvConfig
    seeds: tuple[int, ...]
    train: TrainConfig
    variants: dict[str, TrainConfig]
    evaluate: EvaluateConfig
    report: ReportConfig
    compute: ComputeConfig = ComputeConfig()
    tune: TuneConfig = TuneConfig()
    # The study's environments, env id -> settings: a suite lists several under `envs`,
    # a single-env study (`env`) has its one env here too. A suite's stages each work on
    # one env, through for_env.
    envs: dict[str, EnvConfig] = dataclasses.field(default_factory=dict)
    random: RandomConfig = RandomConfig()
    suite_envs: tuple[str, ...] | None = None  # the ids under `envs`, None for `env`

    @property
    def is_suite(self) -> bool:
        return self.suite_envs is not None

    def for_env(self, env_id: str | None) -> Config:
        """The single-env study of one env of a suite (its settings, its budget over every
        variant's); a single-env study is its own (env_id None or its id)."""
        if not self.is_suite:
            if env_id not in (None, self.env.id):
                raise ConfigError(
                    f"--env: got {show(env_id)}; this study has one env, {self.env.id!r}"
                )
            return self
        if env_id not in self.envs:
            raise ConfigError(
                f"--env: got {show(env_id)}; allowed: one of this suite's envs "
                f"({', '.join(self.suite_envs)})"
            )
        env = self.envs[env_id]
        train, variants = self.train, self.variants
        if env.episodes is not None:
            train = dataclasses.replace(train, episodes=env.episodes)
            variants = {
                name: dataclasses.replace(cfg, episodes=env.episodes)
                for name, cfg in variants.items()
            }
        return dataclasses.replace(
            self, env=env, train=train, variants=variants, suite_envs=None, envs={env_id: env}
        )

    def variant(self, name: str) -> TrainConfig:
        check_name("variant", name)  # before it becomes a path
        if name not in self.variants:
            raise ConfigError(
                f"variants: no variant named {name!r}; the variants in params.yaml are "
                f"{show(', '.join(sorted(self.variants)))}"
            )
        return self.variants[name]

    def search_space(self, name: str) -> dict[str, tuple]:
        """The variant's search space ({} for a variant trained exactly as written)."""
        self.variant(name)
        return self.tune.search.get(name, {})

    def selected_values(self, root: str | Path, name: str) -> dict:
        """What the select stage chose for the variant: read from its file for a tuned
        variant, {} for an untuned one (trained exactly as written)."""
        return read_selected(root, name) if self.search_space(name) else {}

    def trained_variant(self, name: str, selected: dict) -> TrainConfig:
        """The variant's train config with the values the select stage chose for it; the
        values must be one candidate of its search space ({} for an untuned variant)."""
        space = self.search_space(name)
        if set(selected) != set(space) or any(selected[k] not in space[k] for k in space):
            raise DataError(
                f"{selected_path('.', name)}: {selected} is not a candidate of "
                f"tune.search.{name} ({space or 'none'}); run `dvc repro`"
            )
        return dataclasses.replace(self.variant(name), **selected)


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _unknown_key(section: str, key: str, allowed) -> ConfigError:
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    where = f"{section}.{key}" if section else key
    return ConfigError(f"{where}: unknown key.{hint} Allowed keys: {', '.join(allowed)}")


def _type_name(kind) -> str:
    return {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        tuple: "a list",
    }[kind]


def _check_type(key: str, value: Any, kind, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if kind is tuple and isinstance(value, list):  # YAML's sequences; frozen configs hold tuples
        value = tuple(value)
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if ok and kind is float and not math.isfinite(value):
        allowed = "a finite number" + (" or null" if optional else "")
        raise ConfigError(f"{key}: got {value!r}; expected {allowed}")
    if not ok:
        allowed = _type_name(kind) + (" or null" if optional else "")
        raise ConfigError(f"{key}: got {show(value)} ({type(value).__name__}); expected {allowed}")
    return value


def _section(name: str, raw: Any, cls):
    types = field_types(cls)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: got {show(raw)}; expected a mapping of keys to values")
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


def field_types(cls) -> dict[str, tuple[type, bool]]:
    """key -> (type, whether null is allowed), read from the dataclass's own annotations:
    a key's type is declared once, beside its default."""
    hints = typing.get_type_hints(cls)
    types = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        types[field.name] = (args[0], True) if args else (hint, False)
    return types


_TRAIN_TYPES = field_types(TrainConfig)


def _require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: got {show(value)}; allowed: {allowed}")


# The widest hidden layer accepted: 512 times the article's 128. A seed holds its policy
# (and critic) with gradients, two Adam moments and a NumPy copy for acting, and each
# update keeps the hidden activations of its episodes: at this width one 500-step
# CartPole episode alone takes 0.25 GiB of activations, and the step time grows with the
# width. A wider value is almost surely a typo, and would only fail later, or hang.
MAX_HIDDEN_DIM = 65536
# Sizes that would otherwise exhaust memory or time before anything useful is written.
# Seeds: each is a process's worth of training and a row group in every table; 10,000 is
# a thousand times the default.
MAX_SEEDS = 10_000
# Episodes: curves.csv holds a row per seed and episode (1,000,000 x 10 seeds is about
# 300 MB of CSV); evaluation keeps every episode's return.
MAX_EPISODES = 1_000_000
MAX_EVAL_EPISODES = 1_000_000
# The bootstrap holds resamples x seeds floats per statistic (and per curve point in
# bands): 1,000,000 resamples, and at most 20,000,000 resampled values (160 MB) in all.
MAX_BOOTSTRAP_RESAMPLES = 1_000_000
MAX_BOOTSTRAP_VALUES = 20_000_000
# Passes over each episode per update: beyond this an update is a typo, not a setting.
MAX_UPDATE_EPOCHS = 1000
# Env steps per rollout: each seed's rollout is held as (steps, obs_dim) float32 arrays
# (several copies) and one update's activations; beyond this a rollout is a typo.
MAX_ROLLOUT_STEPS = 1_000_000


def _network_memory(hidden_dim: int) -> str:
    """A lower bound of one seed's memory for a width: the smallest network (one input,
    two actions: 4 * hidden_dim parameters) times five float32 copies (weights, gradient,
    two Adam moments, the acting copy)."""
    size = 5 * 4 * (4 * hidden_dim)
    return f"{size / 2**30:,.1f} GiB" if size >= 2**30 else f"{size / 2**20:,.1f} MiB"


def _validate_train(name: str, train: TrainConfig) -> TrainConfig:
    _require(
        train.algorithm in algorithm_names(),
        f"{name}.algorithm",
        train.algorithm,
        " | ".join(algorithm_names()) + " (the files of reinforce/algos)",
    )
    _require(
        1 <= train.episodes <= MAX_EPISODES,
        f"{name}.episodes",
        train.episodes,
        f"an integer >= 1 and <= {MAX_EPISODES:,} (curves.csv holds a row per episode)",
    )
    _require(0 < train.gamma <= 1, f"{name}.gamma", train.gamma, "a number in (0, 1]")
    _require(train.lr > 0, f"{name}.lr", train.lr, "a number > 0")
    _require(train.critic_lr > 0, f"{name}.critic_lr", train.critic_lr, "a number > 0")
    _require(
        1 <= train.hidden_dim <= MAX_HIDDEN_DIM,
        f"{name}.hidden_dim",
        train.hidden_dim,
        f"an integer >= 1 and <= {MAX_HIDDEN_DIM}"
        + (
            f"; {train.hidden_dim} hidden units would need at least "
            f"{_network_memory(train.hidden_dim)} per seed for the network's weights, "
            "gradient and Adam state alone" * (train.hidden_dim > MAX_HIDDEN_DIM)
        ),
    )
    sizes = train.hidden_sizes
    _require(
        sizes is None
        or (
            1 <= len(sizes) <= MAX_HIDDEN_LAYERS
            and all(
                isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= MAX_HIDDEN_DIM
                for h in sizes
            )
        ),
        f"{name}.hidden_sizes",
        None if sizes is None else list(sizes),
        f"null (one layer of hidden_dim units) or a list of 1 to {MAX_HIDDEN_LAYERS} integers "
        f">= 1 and <= {MAX_HIDDEN_DIM}, one per hidden layer",
    )
    _require(
        train.activation in ACTIVATIONS,
        f"{name}.activation",
        train.activation,
        " | ".join(ACTIVATIONS),
    )
    _require(train.baseline in BASELINES, f"{name}.baseline", train.baseline, " | ".join(BASELINES))
    _require(train.entropy_coef >= 0, f"{name}.entropy_coef", train.entropy_coef, "a number >= 0")
    _require(
        train.grad_clip_norm is None or train.grad_clip_norm > 0,
        f"{name}.grad_clip_norm",
        train.grad_clip_norm,
        "null or a number > 0",
    )
    _require(
        1 <= train.episodes_per_update <= train.episodes,
        f"{name}.episodes_per_update",
        train.episodes_per_update,
        f"an integer >= 1 and <= {name}.episodes",
    )
    _require(
        train.advantage in ADVANTAGES, f"{name}.advantage", train.advantage, " | ".join(ADVANTAGES)
    )
    _require(
        train.advantage != "gae" or train.baseline == "value",
        f"{name}.advantage",
        train.advantage,
        "gae only with baseline: value (GAE bootstraps from the critic)",
    )
    # GAE's deltas add rewards to the critic's values, so both must be on the scale of the
    # raw returns; normalize_advantages is the normalization that fits GAE.
    _require(
        train.advantage != "gae" or not train.normalize_returns,
        f"{name}.normalize_returns",
        train.normalize_returns,
        "false with advantage: gae (use normalize_advantages)",
    )
    _require(
        0 <= train.gae_lambda <= 1, f"{name}.gae_lambda", train.gae_lambda, "a number in [0, 1]"
    )
    _require(
        1 <= train.update_epochs <= MAX_UPDATE_EPOCHS,
        f"{name}.update_epochs",
        train.update_epochs,
        f"an integer >= 1 and <= {MAX_UPDATE_EPOCHS}",
    )
    _require(
        1 <= train.minibatches <= MAX_UPDATE_EPOCHS,
        f"{name}.minibatches",
        train.minibatches,
        f"an integer >= 1 and <= {MAX_UPDATE_EPOCHS}",
    )
    _require(
        train.clip_ratio is None or train.clip_ratio > 0,
        f"{name}.clip_ratio",
        train.clip_ratio,
        "null or a number > 0",
    )
    if train.rollout_steps is not None:
        _validate_rollouts(name, train)
    return train


def _validate_rollouts(name: str, train: TrainConfig) -> None:
    """The fixed-length rollouts of reinforce/agent/rollouts.py: GAE from the critic
    (bootstrapping the rollout's cut), minibatches of equal size, and only the keys
    that path implements."""
    _require(
        1 <= train.rollout_steps <= MAX_ROLLOUT_STEPS,
        f"{name}.rollout_steps",
        train.rollout_steps,
        f"null or an integer >= 1 and <= {MAX_ROLLOUT_STEPS:,}",
    )
    _require(
        train.advantage == "gae",
        f"{name}.advantage",
        train.advantage,
        "gae with rollout_steps (a rollout's cut is bootstrapped from the critic)",
    )
    _require(
        train.rollout_steps % train.minibatches == 0,
        f"{name}.minibatches",
        train.minibatches,
        f"a divisor of rollout_steps ({train.rollout_steps}) with rollout_steps",
    )
    _require(
        train.episodes_per_update == 1,
        f"{name}.episodes_per_update",
        train.episodes_per_update,
        "1 with rollout_steps (updates come every rollout_steps env steps)",
    )


def _validate_seeds(raw: Any, key: str = "seeds") -> tuple[int, ...]:
    allowed = "a non-empty list of distinct integers >= 0"
    _require(isinstance(raw, list) and len(raw) > 0, key, raw, allowed)
    _require(
        len(raw) <= MAX_SEEDS,
        key,
        f"{len(raw):,} seeds",
        f"at most {MAX_SEEDS:,} seeds (each is a training run and a row group of every table)",
    )
    for seed in raw:
        _require(
            isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0, key, seed, allowed
        )
    duplicates = sorted(s for s, count in Counter(raw).items() if count > 1)
    _require(not duplicates, key, raw, f"{allowed} (repeated: {show(duplicates)})")
    # numpy's SeedSequence and gymnasium's reset take any integer >= 0, but torch's
    # manual_seed is 64-bit.
    _require(max(raw) < 2**63, key, max(raw), "integers < 2**63")
    return tuple(raw)


def _validate_tune(
    raw: Any,
    seeds: tuple[int, ...],
    variants_raw: dict,
    train_raw: dict,
    variants: dict[str, TrainConfig],
) -> TuneConfig:
    if raw is None:
        return TuneConfig()
    _require(isinstance(raw, dict), "tune", raw, "a mapping with keys seeds and search")
    for key in raw:
        if key not in ("seeds", "search"):
            raise _unknown_key("tune", str(key), ("seeds", "search"))
    search_raw = raw.get("search") or {}
    _require(
        isinstance(search_raw, dict),
        "tune.search",
        search_raw,
        "a mapping of variant name -> train key -> list of candidate values",
    )
    tune_seeds = _validate_seeds(raw["seeds"], "tune.seeds") if raw.get("seeds") else ()
    if search_raw:
        _require(
            bool(tune_seeds),
            "tune.seeds",
            raw.get("seeds"),
            "a non-empty list of seeds to tune on when tune.search is set",
        )
    shared = sorted(set(tune_seeds) & set(seeds))
    _require(
        not shared,
        "tune.seeds",
        list(tune_seeds),
        f"seeds disjoint from the reporting seeds {show(list(seeds))} (both hold {show(shared)})",
    )
    search = {}
    for name, space in search_raw.items():
        check_name("tune.search", name)
        key = f"tune.search.{name}"
        _require(
            name in variants, key, name, f"a variant of params.yaml ({', '.join(sorted(variants))})"
        )
        _require(
            name != REFERENCE_VARIANT,
            key,
            space,
            f"no search space: {REFERENCE_VARIANT!r} is the untouched tutorial, the "
            "reference every variant is compared with",
        )
        _require(
            isinstance(space, dict) and len(space) > 0,
            key,
            space,
            "a non-empty mapping of train key -> list of candidate values",
        )
        overrides = variants_raw.get(name) or {}
        search[name] = {}
        for train_key, values in space.items():
            where = f"{key}.{train_key}"
            if train_key not in _TRAIN_TYPES:
                raise _unknown_key(key, str(train_key), _TRAIN_TYPES)
            _require(
                isinstance(values, list) and len(values) > 0,
                where,
                values,
                "a non-empty list of candidate values",
            )
            _require(
                train_key not in overrides,
                where,
                values,
                f"a key that variants.{name} does not also set (it sets "
                f"{train_key}: {overrides.get(train_key)!r}; remove one of the two)",
            )
            kind, optional = _TRAIN_TYPES[train_key]
            checked = []
            for value in values:
                value = _check_type(where, value, kind, optional)
                merged = {**train_raw, **overrides, train_key: value}
                _validate_train(key, _section(key, merged, TrainConfig))
                checked.append(value)
            repeated = sorted({v for v in checked if checked.count(v) > 1}, key=repr)
            _require(not repeated, where, values, f"distinct values (repeated: {repeated})")
            search[name][train_key] = tuple(checked)
    return TuneConfig(seeds=tune_seeds, search=search)


def _validate_env(env: EnvConfig, key: str = "env") -> EnvConfig:
    try:
        check_env_id(env.id)
    except ConfigError as err:
        if key == "env":
            raise
        # a suite's env is named by its key under envs, not by env.id
        raise ConfigError(str(err).replace("env.id: ", f"{key}: ", 1)) from None
    _require(env.solve_window >= 1, f"{key}.solve_window", env.solve_window, "an integer >= 1")
    return env


def _parse_env(raw: Any, key: str, env_id: str | None, check_env: bool) -> EnvConfig:
    """One env's settings (`env`, or `envs.<id>` with the id as its key), the solved
    threshold defaulting to gymnasium's spec.reward_threshold."""
    if raw is None:
        raw = {}
    if env_id is not None:
        if isinstance(raw, dict) and "id" in raw:
            raise ConfigError(f"{key}.id: unknown key; the env's id is its key under envs")
        raw = {**raw, "id": env_id} if isinstance(raw, dict) else raw
    env = _section(key, raw, EnvConfig)
    if "solved_threshold" not in raw:
        env = dataclasses.replace(env, solved_threshold=spec_reward_threshold(env.id))
    if check_env:
        env = _validate_env(env, key)
    if env.episodes is not None:
        _require(
            1 <= env.episodes <= MAX_EPISODES,
            f"{key}.episodes",
            env.episodes,
            f"an integer >= 1 and <= {MAX_EPISODES:,}, or null",
        )
    return env


def _parse_envs(raw: Any, check_env: bool) -> dict[str, EnvConfig]:
    _require(
        isinstance(raw, dict) and len(raw) > 0,
        "envs",
        raw,
        "a non-empty mapping of Gymnasium env id -> settings ({} for the defaults)",
    )
    envs = {}
    for env_id, settings in raw.items():
        check_name("envs", env_id)  # it names the env's folder of the suite
        key = f"envs.{env_id}"
        env = _parse_env(settings, key, str(env_id), check_env)
        if env.reference_score is None and env.solved_threshold is None:
            raise ConfigError(
                f"{key}.reference_score: missing; {env_id!r} has no solved threshold, so "
                "its normalized score needs a reference: a number (docs/suite.md)"
            )
        reference = env.reference_score if env.reference_score is not None else env.solved_threshold
        envs[env_id] = dataclasses.replace(env, reference_score=reference)
    return envs


def _parse_random(raw: Any, taken: set[int]) -> RandomConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"random: got {show(raw)}; expected a mapping of keys to values")
    for key in raw:
        if key not in _fields(RandomConfig):
            raise _unknown_key("random", str(key), _fields(RandomConfig))
    seeds = _validate_seeds(raw.get("seeds", list(RandomConfig.seeds)), "random.seeds")
    episodes = _check_type("random.episodes", raw.get("episodes", RandomConfig.episodes), int)
    _require(
        1 <= episodes <= MAX_EVAL_EPISODES,
        "random.episodes",
        episodes,
        f"an integer >= 1 and <= {MAX_EVAL_EPISODES:,}",
    )
    shared = sorted(set(seeds) & taken)
    _require(
        not shared,
        "random.seeds",
        list(seeds),
        f"seeds of the random policy alone (not seeds, tune.seeds or evaluation seeds); "
        f"{show(shared)} are used elsewhere",
    )
    return RandomConfig(seeds=seeds, episodes=episodes)


def _check_train_on_envs(key: str, train: TrainConfig, envs: dict) -> None:
    """A variant's train keys against the study's envs: what no training path supports
    is refused here, before any work (the stages would fail inside training)."""
    if train.rollout_steps is None:
        return
    continuous = sorted(env_id for env_id in envs if is_continuous(env_id))
    _require(
        not continuous,
        f"{key}.rollout_steps",
        train.rollout_steps,
        f"null for {', '.join(continuous)} (Box actions: the rollout schedule has the "
        "categorical head only)",
    )


def parse_config(raw: Any, check_env: bool = True, source: str = "params.yaml") -> Config:
    """Build a validated Config from the parsed YAML of params.yaml (named source)."""
    if not isinstance(raw, dict):
        what = "an empty file" if raw is None else show(raw)
        raise ConfigError(f"{source}: got {what}; expected a mapping of sections")
    sections = {
        "env",
        "envs",
        "seeds",
        "train",
        "variants",
        "evaluate",
        "report",
        "compute",
        "tune",
        "random",
    }
    for key in raw:
        if key not in sections:
            raise _unknown_key("", str(key), sections)

    if "envs" in raw:
        if "env" in raw:
            raise ConfigError(
                "env: a study has either one env (env) or a suite (envs), not both; "
                "move env's settings under envs.<id>"
            )
        envs = _parse_envs(raw["envs"], check_env)
        suite_envs = tuple(envs)
        env = envs[suite_envs[0]]
    else:
        env = _parse_env(raw.get("env"), "env", None, check_env)
        envs, suite_envs = {env.id: env}, None
    seeds = _validate_seeds(raw.get("seeds", list(range(10))))

    train_raw = raw.get("train") or {}
    train = _validate_train("train", _section("train", train_raw, TrainConfig))

    variants_raw = raw.get("variants")
    if variants_raw is None:
        variants_raw = {"article": {}}
    _require(
        isinstance(variants_raw, dict) and len(variants_raw) > 0,
        "variants",
        variants_raw,
        "a non-empty mapping of variant name -> overrides of train keys",
    )
    variants = {}
    for name, overrides in variants_raw.items():
        check_name("variants", name)
        key = f"variants.{name}"
        if overrides is None:
            overrides = {}
        _require(
            isinstance(overrides, dict),
            key,
            overrides,
            "a mapping of train keys to values ({} for the train defaults)",
        )
        merged = {**train_raw, **overrides}
        for override in overrides:
            if override not in _TRAIN_TYPES:
                raise _unknown_key(key, str(override), _TRAIN_TYPES)
        variants[name] = _validate_train(key, _section(key, merged, TrainConfig))
        if check_env:
            _check_train_on_envs(key, variants[name], envs)

    evaluate = _section("evaluate", raw.get("evaluate"), EvaluateConfig)
    _require(
        1 <= evaluate.episodes <= MAX_EVAL_EPISODES,
        "evaluate.episodes",
        evaluate.episodes,
        f"an integer >= 1 and <= {MAX_EVAL_EPISODES:,}",
    )
    _require(
        evaluate.seed_offset >= 0, "evaluate.seed_offset", evaluate.seed_offset, "an integer >= 0"
    )
    _require(
        evaluate.policy in EVAL_POLICIES,
        "evaluate.policy",
        evaluate.policy,
        " | ".join(EVAL_POLICIES),
    )
    tune = _validate_tune(raw.get("tune"), seeds, variants_raw, train_raw, variants)
    training_seeds = set(seeds) | set(tune.seeds)
    overlap = sorted(training_seeds & {evaluate.seed_offset + s for s in training_seeds})
    _require(
        not overlap,
        "evaluate.seed_offset",
        evaluate.seed_offset,
        f"an offset whose evaluation seeds (seed_offset + seed) avoid the training seeds"
        f" (seeds and tune.seeds); {show(overlap)} would be used for both",
    )

    report = _section("report", raw.get("report"), ReportConfig)
    _require(0 < report.ci < 1, "report.ci", report.ci, "a number in (0, 1)")
    _require(
        1 <= report.bootstrap_resamples <= MAX_BOOTSTRAP_RESAMPLES,
        "report.bootstrap_resamples",
        report.bootstrap_resamples,
        f"an integer >= 1 and <= {MAX_BOOTSTRAP_RESAMPLES:,}",
    )
    most_seeds = max(len(seeds), len(tune.seeds))
    _require(
        report.bootstrap_resamples * most_seeds <= MAX_BOOTSTRAP_VALUES,
        "report.bootstrap_resamples",
        report.bootstrap_resamples,
        f"at most {MAX_BOOTSTRAP_VALUES // most_seeds:,} with {most_seeds} seeds "
        f"(the bootstrap holds resamples x seeds values: at most {MAX_BOOTSTRAP_VALUES:,})",
    )
    _require(
        report.bootstrap_seed >= 0,
        "report.bootstrap_seed",
        report.bootstrap_seed,
        "an integer >= 0",
    )
    _require(
        report.smoothing_window >= 1,
        "report.smoothing_window",
        report.smoothing_window,
        "an integer >= 1",
    )

    compute = _section("compute", raw.get("compute"), ComputeConfig)
    _require(compute.backend in BACKENDS, "compute.backend", compute.backend, " | ".join(BACKENDS))
    _require(compute.workers >= 1, "compute.workers", compute.workers, "an integer >= 1")
    _require(
        compute.ray_address is None or compute.ray_address.strip() != "",
        "compute.ray_address",
        compute.ray_address,
        "null (a local Ray for each stage) or a cluster address such as 'head:6379'",
    )
    _require(
        compute.seeds_per_task >= 1,
        "compute.seeds_per_task",
        compute.seeds_per_task,
        "an integer >= 1",
    )

    evaluation_seeds = {evaluate.seed_offset + s for s in training_seeds}
    # Only a suite plays the random policy: a single-env study's seeds may use its
    # default seeds, unless the study sets `random` itself.
    taken = training_seeds | evaluation_seeds if "envs" in raw or "random" in raw else set()
    random = _parse_random(raw.get("random"), taken)

    return Config(
        env=env,
        seeds=seeds,
        train=train,
        variants=variants,
        evaluate=evaluate,
        report=report,
        compute=compute,
        tune=tune,
        envs=envs,
        random=random,
        suite_envs=suite_envs,
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key written twice in one mapping, as DVC does
    (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {show(key)}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: what, and where."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return f"{problem}{where}"


def read_params(path: str | Path) -> Any:
    """The parsed YAML of a params file, every way it cannot be read as one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; expected a params file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be params") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None


def load_config(path: str | Path = "params.yaml", check_env: bool = True) -> Config:
    raw = read_params(path)
    try:
        return parse_config(raw, check_env=check_env, source=str(path))
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be params") from None


def tuning_results_path(root: str | Path, name: str) -> Path:
    """Where tune@<variant> writes its candidates' results on the tuning seeds."""
    return paths.results_path(root, name)


def selected_path(root: str | Path, name: str) -> Path:
    """Where the select stage writes the values it chose for a variant."""
    return paths.selected_path(root, name)


def read_selected(root: str | Path, name: str) -> dict:
    """The values the select stage chose for the variant ({} when it is not tuned)."""
    path = selected_path(root, name)
    try:
        return json.loads(path.read_text())["values"]
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` (stage select) to make it") from None
    except (ValueError, KeyError, TypeError):
        raise DataError(f"{path}: not a selection file; run `dvc repro` to remake it") from None


def changed_keys(train: TrainConfig, defaults: TrainConfig) -> dict[str, Any]:
    """The train keys a variant sets differently from the train defaults."""
    return {
        f.name: getattr(train, f.name)
        for f in dataclasses.fields(TrainConfig)
        if getattr(train, f.name) != getattr(defaults, f.name)
    }
