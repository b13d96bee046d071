"""Tuning on tuning seeds: the candidates of a search space, their results, the choice.

The protocol (docs/report.md, "Tuning"):

    tune@<variant>   every candidate of the variant's search space is trained on
                     tune.seeds and evaluated as the report evaluates (evaluate.*):
                     tuning/search/<variant>/results.csv, a row per candidate and seed
    select           the selection rule below picks one candidate per tuned variant:
                     tuning/selected/<variant>.json (every variant has one; an untuned
                     variant's is empty), tuning/candidates.csv
    train@<variant>  trains the variant with its selected values on the reporting seeds

Tuning seeds and reporting seeds are disjoint (config.py checks it), so no reported
number comes from a seed that anything was chosen on.

The selection rule is stats.summarize_candidates (stats.SELECTION_RULE in words).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from reinforce.agent.evaluate import evaluate_seeds
from reinforce.agent.train import train_seeds
from reinforce.analysis import stats
from reinforce.compute.backends import LocalBackend, RayBackend
from reinforce.compute.workers import Progress, Report
from reinforce.io import paths
from reinforce.io.config import Config, TrainConfig, tuning_results_path
from reinforce.io.errors import ConfigError, DataError
from reinforce.io.outputs import (
    CURVE_COLUMNS,
    EVAL_COLUMNS,
    atomic_directory,
    write_atomic,
)
from reinforce.sim.envs import check_env_id

RESULT_COLUMNS = ("candidate", "seed", "final_return", "episodes_to_solve")


def candidates(space: dict[str, Sequence]) -> list[dict]:
    """Every combination of the search space's values, the first key varying slowest."""
    keys = list(space)
    return [dict(zip(keys, values)) for values in itertools.product(*space.values())]


def candidate_label(values: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def tune_variant(
    config: Config,
    name: str,
    backend: LocalBackend | RayBackend | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """Train and evaluate every candidate of the variant's search space on tune.seeds.

    Returns a row per candidate and seed: candidate (1-based, in candidates() order),
    one column per searched key, seed, final_return (mean evaluation return, as the
    report's) and episodes_to_solve (empty when the seed never solved).

    The backend's work items are the candidates: each runs all tuning seeds side by side
    in one process, training then evaluation, and the workers share the candidates. (One
    candidate at a time over the workers split a few tuning seeds between processes,
    unevenly, and waited for the slowest at every candidate.) A seed's results do not
    depend on where it runs, so the rows are the same bytes either way."""
    space = config.search_space(name)
    if not space:
        raise ConfigError(
            f"tune.search: no search space for variant {name!r}; variants "
            f"with one: {', '.join(sorted(config.tune.search)) or 'none'}"
        )
    options = candidates(space)
    configs = [dataclasses.replace(config.variant(name), **values) for values in options]
    total = sum(cfg.episodes for cfg in configs) * len(config.tune.seeds)
    groups = (backend or LocalBackend(1)).map(
        partial(tune_candidates, config, configs, options),
        list(range(1, len(options) + 1)),
        Progress(
            f"{label or f'tune@{name}'}: {len(options)} candidates x "
            f"{len(config.tune.seeds)} seeds",
            total,
        ),
    )
    rows = sorted(
        (row for group in groups for row in group),
        key=lambda row: (row["candidate"], config.tune.seeds.index(row["seed"])),
    )
    return pd.DataFrame(rows).astype({"episodes_to_solve": "Int64"})


def tune_candidates(
    config: Config,
    configs: Sequence[TrainConfig],
    options: Sequence[dict],
    indices: Sequence[int],
    report: Report,
) -> list[dict]:
    """Candidates `indices` (1-based) in this process, one after the other, each on all
    tuning seeds side by side: trained (report() once per training episode), then
    evaluated as the report evaluates (evaluate.*). Rows as tune_variant's."""
    env, seeds = config.env, list(config.tune.seeds)
    obs_dim, n_actions = check_env_id(env.id)
    rows = []
    for index in indices:
        curve_rows, checkpoints, _ = train_seeds(
            configs[index - 1], env.id, obs_dim, n_actions, seeds, report
        )
        evaluation = evaluate_seeds(
            checkpoints, env.id, config.evaluate, seeds, lambda episode_return: None
        )
        finals = (
            pd.DataFrame(evaluation, columns=list(EVAL_COLUMNS)).groupby("seed")["return"].mean()
        )
        curves = pd.DataFrame(curve_rows, columns=list(CURVE_COLUMNS)).pivot(
            index="seed", columns="episode", values="return"
        )
        for seed in seeds:
            solved_at = stats.episodes_to_solve(
                curves.loc[seed].to_numpy(), env.solve_window, env.solved_threshold
            )
            rows.append(
                {
                    "candidate": index,
                    **options[index - 1],
                    "seed": seed,
                    "final_return": float(finals[seed]),
                    "episodes_to_solve": solved_at,
                }
            )
    return rows


def read_results(path: str | Path, keys: Sequence[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found; run `dvc repro` to make it")
    frame = pd.read_csv(path)
    missing = [c for c in (*RESULT_COLUMNS, *keys) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing columns {missing}; its search space in "
            "params.yaml changed since it was made: run `dvc repro`"
        )
    return frame.astype({"episodes_to_solve": "Int64"})


def selection(config: Config, root: str | Path = ".") -> tuple[dict[str, dict], pd.DataFrame]:
    """({variant: its selected train values ({} for an untuned variant)}, the summary of
    every tuned variant's candidates)."""
    chosen, tables = {}, []
    for name in config.variants:
        space = config.search_space(name)
        chosen[name] = {}
        if not space:
            continue
        table = stats.summarize_candidates(
            read_results(tuning_results_path(root, name), list(space)), list(space)
        )
        expected = len(candidates(space))
        if len(table) != expected:
            raise DataError(
                f"{tuning_results_path(root, name)}: {len(table)} candidates, but "
                f"tune.search.{name} has {expected}: run `dvc repro`"
            )
        row = table[table["chosen"]].iloc[0]
        chosen[name] = {key: _plain(row[key]) for key in space}
        tables.append(table.assign(variant=name))
    columns = [
        "variant",
        "candidate",
        "values",
        "seeds",
        "final_return_iqm",
        "solve_rate",
        "median_episodes_to_solve",
        "chosen",
    ]
    summary = pd.DataFrame(columns=columns)
    if tables:
        frames = []
        for table in tables:
            keys = [c for c in table.columns if c not in columns]
            table = table.assign(
                values=[
                    candidate_label({k: _plain(r[k]) for k in keys}) for _, r in table.iterrows()
                ]
            )
            frames.append(table[columns])
        summary = pd.concat(frames, ignore_index=True)
    return chosen, summary


def selected_json(name: str, values: dict, config: Config) -> str:
    """The file train@<variant> reads: only what decides its training, so that a change
    elsewhere in the search leaves it (and the variant's training) untouched."""
    record = {"variant": name, "values": values}
    if values:
        record["rule"] = stats.SELECTION_RULE
        record["tuning_seeds"] = list(config.tune.seeds)
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def write_selection(config: Config, root: str | Path = ".") -> dict[str, dict]:
    """Write tuning/selected/<variant>.json for every variant and tuning/candidates.csv."""
    chosen, summary = selection(config, root)
    with atomic_directory(Path(root) / paths.SELECTED) as tmp:
        for name, values in chosen.items():
            write_atomic(tmp / f"{name}.json", selected_json(name, values, config))
    write_atomic(Path(root) / paths.CANDIDATES, stats.table_csv(summary))
    return chosen


def _plain(value):
    """A value read back from results.csv as the plain Python value params.yaml holds
    (numpy scalars unwrapped, an empty cell, e.g. grad_clip_norm: null, as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
