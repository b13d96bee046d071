"""Tuning on tuning seeds: every candidate of a search space trained and evaluated.

The protocol (docs/report.md, "Tuning"):

    tune@<variant>   every candidate of the variant's search space is trained on
                     tune.seeds and evaluated as the report evaluates (evaluate.*):
                     tuning/search/<variant>/results.csv, a row per candidate and seed
    select           the selection rule (reinforce/agent/selection.py) picks one
                     candidate per tuned variant:
                     tuning/selected/<variant>.json (every variant has one; an untuned
                     variant's is empty), tuning/candidates.csv
    train@<variant>  trains the variant with its selected values on the reporting seeds

Tuning seeds and reporting seeds are disjoint (config.py checks it), so no reported
number comes from a seed that anything was chosen on.

The selection rule is stats.summarize_candidates (stats.SELECTION_RULE in words).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

import pandas as pd

from reinforce.agent.evaluate import evaluate_seeds
from reinforce.agent.selection import candidates
from reinforce.agent.train import train_seeds
from reinforce.analysis import stats
from reinforce.compute.backends import LocalBackend, RayBackend
from reinforce.compute.workers import Progress, Report
from reinforce.io.config import Config, TrainConfig
from reinforce.io.errors import ConfigError
from reinforce.io.outputs import CURVE_COLUMNS, EVAL_COLUMNS
from reinforce.sim.envs import check_env_id


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
