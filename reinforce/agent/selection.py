"""The selection: each tuned variant's trial, chosen from its results on the tuning seeds.

select (stages/select.py) reads tuning/search/<variant>/results.csv, which tune@<variant>
(reinforce/agent/tuning.py) wrote, and writes tuning/selected/<variant>.json and
tuning/candidates.csv by the rule stats.summarize_trials (stats.selection_rule in words).
It reads nothing else: no reporting seed's output (runs/) is ever opened, and a
results.csv holding any seed but the tuning seeds is refused. Apart from tuning.py so
that select imports no training code: neither torch, Optuna nor the compiled kernels, and
none of them among its DVC deps.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reinforce.analysis import stats
from reinforce.analysis.tuning_checks import plain_value, read_variant, summarize
from reinforce.io import paths
from reinforce.io.config import Config, tuning_results_path
from reinforce.io.errors import DataError
from reinforce.io.outputs import atomic_directory, json_text, write_atomic

SUMMARY_COLUMNS = [
    "variant",
    "trial",
    "values",
    "state",
    "episodes",
    "value",
    "mean_return_iqm",
    "solve_rate",
    "median_episodes_to_solve",
    "chosen",
]


def candidates(space: dict[str, Sequence]) -> list[dict]:
    """Every combination of the search space's values, the first key varying slowest."""
    keys = list(space)
    return [dict(zip(keys, values)) for values in itertools.product(*space.values())]


def candidate_label(values: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def expected_trials(config: Config, name: str) -> int:
    """How many trials tune@<variant> runs: the grid's combinations, or tune.trials."""
    if config.tune.sampler == "grid":
        return len(candidates(config.search_space(name)))
    return config.tune.trials


def selection(config: Config, root: str | Path = ".") -> tuple[dict[str, dict], pd.DataFrame]:
    """({variant: its selected train values ({} for an untuned variant)}, the summary of
    every tuned variant's trials)."""
    chosen, frames = {}, []
    for name in config.variants:
        space = config.search_space(name)
        chosen[name] = {}
        if not space:
            continue
        table = summarize(config, name, read_variant(config, name, root))
        expected = expected_trials(config, name)
        if len(table) != expected or not table["chosen"].any():
            raise DataError(
                f"{tuning_results_path(root, name)}: {len(table)} trials "
                f"({int((table['state'] == 'complete').sum())} complete), but tune.search."
                f"{name} with tune.sampler {config.tune.sampler} has {expected}: run `dvc repro`"
            )
        row = table[table["chosen"]].iloc[0]
        chosen[name] = {key: plain_value(row[key]) for key in space}
        labels = [
            candidate_label({k: plain_value(r[k]) for k in space}) for _, r in table.iterrows()
        ]
        frames.append(table.assign(variant=name, values=labels)[SUMMARY_COLUMNS])
    summary = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SUMMARY_COLUMNS)
    )
    return chosen, summary


def selected_json(name: str, values: dict, config: Config) -> str:
    """The file train@<variant> reads: only what decides its training, so that a change
    elsewhere in the search leaves it (and the variant's training) untouched."""
    record = {"variant": name, "values": values}
    if values:
        record["rule"] = stats.selection_rule(config.tune.criterion)
        record["tuning_seeds"] = list(config.tune.seeds)
    return json_text(record, str(paths.selected_path(".", name)))


def write_selection(config: Config, root: str | Path = ".") -> dict[str, dict]:
    """Write tuning/selected/<variant>.json for every variant and tuning/candidates.csv."""
    chosen, summary = selection(config, root)
    with atomic_directory(Path(root) / paths.SELECTED) as tmp:
        for name, values in chosen.items():
            write_atomic(tmp / f"{name}.json", selected_json(name, values, config))
    write_atomic(Path(root) / paths.CANDIDATES, stats.table_csv(summary))
    return chosen
