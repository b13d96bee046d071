"""Warnings about a tuning choice: a chosen value on the edge of its grid (the best may lie
beyond it) and candidates tied on the primary criterion (the tie-breaker chose), with the
grid to try next. Printed by the select stage and written into the report; the files
train reads (tuning/selected/) are left exactly as they are."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reinforce.analysis import stats
from reinforce.io.config import tuning_results_path
from reinforce.io.inputs import read_tuning_results


def _numeric(values: Sequence) -> bool:
    return (
        all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        and len(set(values)) >= 2
    )


def _geometric(key: str, values: Sequence[float]) -> bool:
    """Learning rates and any positive grid spanning a factor of 4 or more grow by ratios."""
    return min(values) > 0 and (key.endswith("lr") or max(values) / min(values) >= 4)


def _round(value: float, integer: bool) -> float | int:
    if integer:
        return int(round(value))
    return float(f"{value:.3g}")


def next_grid(key: str, values: Sequence, chosen) -> list | None:
    """Four values centred on the chosen edge: its inner neighbour, itself and two beyond,
    one grid step apart (a ratio for geometric grids, a difference otherwise). None when
    the chosen value is inside the grid."""
    grid = sorted(set(values))
    integer = all(isinstance(v, int) for v in grid)
    if chosen == grid[-1]:
        inner, edge, sign = grid[-2], grid[-1], 1
    elif chosen == grid[0]:
        inner, edge, sign = grid[1], grid[0], -1
    else:
        return None
    if _geometric(key, grid):
        ratio = edge / inner
        beyond = [edge * ratio, edge * ratio**2]
    else:
        step = edge - inner
        beyond = [edge + step, edge + 2 * step]
    if integer and sign < 0:
        beyond = [v for v in beyond if v >= 1] or beyond
    out = [inner, edge, *beyond]
    return sorted({_round(v, integer) for v in out})


def grid_warnings(name: str, space: dict[str, Sequence], table: pd.DataFrame) -> list[str]:
    """The warnings for one tuned variant, from stats.summarize_candidates' table."""
    warnings = []
    chosen = table[table["chosen"]].iloc[0]
    top = table["final_return_iqm"].max()
    tied = table[table["final_return_iqm"] == top]
    label = ", ".join(f"{k}={plain_value(chosen[k])}" for k in space)
    if len(tied) > 1:
        medians = tied["median_episodes_to_solve"]
        by = (
            "the listed order (they tie on median episodes to solve too)"
            if medians.nunique(dropna=False) < len(medians)
            and (medians == chosen["median_episodes_to_solve"]).sum() > 1
            else "the tie-breaker (median episodes to solve)"
        )
        warnings.append(
            f"{name}: {len(tied)} of {len(table)} candidates tie on the primary criterion "
            f"(final-return IQM {top:g} on the tuning seeds), so {by} chose {label}; the "
            "criterion saturates here: more tuning seeds or a criterion that does not "
            '(docs/report.md, "Tuning warnings") would make the choice firmer'
        )
    for key, values in space.items():
        values = list(values)
        value = plain_value(chosen[key])
        if not _numeric(values) or value not in (min(values), max(values)):
            continue
        side = "largest" if value == max(values) else "smallest"
        suggestion = next_grid(key, values, value)
        warnings.append(
            f"{name}: the chosen {key}={value} is the {side} value of its grid "
            f"{sorted(values)}: the best may lie beyond it; try tune.search.{name}.{key}: "
            f"{suggestion}"
        )
    return warnings


def selection_warnings(config, root: str | Path = ".") -> list[str]:
    """Every tuned variant's warnings, from tuning/search/<variant>/results.csv."""
    out = []
    for name in config.variants:
        space = config.search_space(name)
        if not space:
            continue
        results = read_tuning_results(tuning_results_path(root, name), list(space))
        out += grid_warnings(name, space, stats.summarize_candidates(results, list(space)))
    return out


def plain_value(value):
    """A value read back from a results.csv as the plain Python value params.yaml holds
    (NumPy scalars unwrapped, an empty cell, e.g. grad_clip_norm: null, as None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
