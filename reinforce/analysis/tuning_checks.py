"""What a tuning study says about its choice, read from tuning/search/<variant>/results.csv:
warnings about a chosen value on the edge of its grid or range (the best may lie beyond
it) and about trials tied on the criterion (the tie-breaker chose), and each searched
key's importance (Optuna's PED-ANOVA). Printed by the select stage and written into the
report; the files train reads (tuning/selected/) are left exactly as they are."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reinforce.analysis import stats
from reinforce.io.config import Range, TrainConfig, allows, tuning_results_path
from reinforce.io.errors import DataError
from reinforce.io.inputs import read_tuning_results

# A chosen value within this fraction of its range's width from a bound is on its edge.
EDGE = 0.05
IMPORTANCE_METHOD = (
    "PED-ANOVA (Optuna's PedAnovaImportanceEvaluator with its defaults: how much each "
    "key's distribution in the top 10% of the trials, at least 2, differs from its "
    "distribution over all of them, a pruned trial ranked below every complete one; "
    "normalized to sum to 1)"
)


def read_results(path: str | Path, keys: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """results.csv of tune@<variant>, through the one finite-value reader
    (inputs.read_tuning_results: its columns, every number finite), and its seeds exactly
    the tuning seeds (a reporting seed in it would mean a choice made on a reported seed).
    Floats are read back exactly (written as repr), so a chosen value is the trained one."""
    frame = read_tuning_results(path, keys)
    found = sorted(int(s) for s in frame["seed"].unique())
    if found != sorted(seeds) or (frame.groupby("trial")["seed"].nunique() != len(seeds)).any():
        raise DataError(
            f"{path}: seeds {found}, but every trial must hold exactly the tuning seeds "
            f"(tune.seeds: {sorted(seeds)}); run `dvc repro`"
        )
    return frame


def read_variant(config, name: str, root: str | Path = ".") -> pd.DataFrame:
    return read_results(
        tuning_results_path(root, name), list(config.search_space(name)), config.tune.seeds
    )


def summarize(config, name: str, results: pd.DataFrame) -> pd.DataFrame:
    """stats.summarize_trials of one tuned variant's results, by params.yaml's criterion."""
    return stats.summarize_trials(results, list(config.search_space(name)), config.tune.criterion)


def _short(value):
    """A value as a warning shows it: a float to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else value


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


def next_range(spec: Range, upper: bool, allowed=None) -> Range | None:
    """The range moved past its chosen edge by half its width (a ratio for a log range;
    whole steps for a stepped one), or by a half, a quarter, ... of that where
    allowed(value) refuses it (the key's own limits: gae_lambda <= 1, clip_ratio > 0);
    None when the key allows nothing beyond the bound."""
    bound = spec.high if upper else spec.low
    sign = 1 if upper else -1
    step = spec.step if spec.step is not None and not (spec.integer and spec.step == 1) else None
    for halvings in range(12):
        shrink = 0.5**halvings
        if spec.log:
            target = bound * ((spec.high / spec.low) ** (0.5 * shrink)) ** sign
        elif step is not None:
            count = max(1, math.ceil((spec.high - spec.low) / 2 * shrink / step))
            target = bound + sign * count * step
        else:
            target = bound + sign * (spec.high - spec.low) / 2 * shrink
        if spec.integer:
            target = int(math.ceil(target) if upper else math.floor(target))
        elif step is None:
            target = _round(target, False)
        if target == bound:
            return None
        if allowed is None or allowed(target):
            low, high = (spec.low, target) if upper else (target, spec.high)
            return Range(low, high, spec.log, spec.step, spec.integer)
    return None


def _range_yaml(spec: Range) -> str:
    extra = ", log: true" if spec.log else ""
    if spec.step is not None and not (spec.integer and spec.step == 1):
        extra += f", step: {spec.step:g}"
    return f"{{low: {spec.low:g}, high: {spec.high:g}{extra}}}"


def edge_warning(name: str, key: str, spec, value, train: TrainConfig | None) -> str | None:
    """A warning when the chosen value lies on the edge of its grid (its smallest or
    largest listed value) or within EDGE of a bound of its range; it suggests the grid or
    range to try next, unless the key allows nothing beyond the bound (train: the variant)."""
    if isinstance(spec, Range):
        where = spec.fraction(value)
        if EDGE < where < 1 - EDGE:
            return None
        upper = where >= 1 - EDGE
        bound = spec.high if upper else spec.low
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        head = (
            f"{name}: the chosen {key}={shown} lies within {EDGE:.0%} of the "
            f"{'upper' if upper else 'lower'} bound of its range ({spec.describe()}"
            f"{', on the log scale' if spec.log else ''})"
        )
        wider = next_range(
            spec, upper, None if train is None else (lambda v: allows(train, key, v))
        )
        if wider is None:
            return f"{head}; {key} allows nothing beyond {bound:g}, so the search cannot extend"
        return (
            f"{head}: the best may lie beyond it; try tune.search.{name}.{key}: "
            f"{_range_yaml(wider)}"
        )
    values = list(spec)
    if not _numeric(values) or value not in (min(values), max(values)):
        return None
    side = "largest" if value == max(values) else "smallest"
    return (
        f"{name}: the chosen {key}={value} is the {side} value of its grid "
        f"{sorted(values)}: the best may lie beyond it; try tune.search.{name}.{key}: "
        f"{next_grid(key, values, value)}"
    )


def grid_warnings(
    name: str,
    space: dict,
    table: pd.DataFrame,
    criterion: str = "mean-return",
    train: TrainConfig | None = None,
) -> list[str]:
    """The warnings for one tuned variant, from stats.summarize_trials' table."""
    warnings = []
    chosen = table[table["chosen"]].iloc[0]
    complete = table[table["state"] == "complete"]
    top = complete["value"].max()
    tied = complete[complete["value"] == top]
    label = ", ".join(f"{k}={_short(plain_value(chosen[k]))}" for k in space)
    if len(tied) > 1:
        medians = tied["median_episodes_to_solve"]
        by = (
            "trial order (they tie on median episodes to solve too)"
            if medians.nunique(dropna=False) < len(medians)
            and (medians == chosen["median_episodes_to_solve"]).sum() > 1
            else "the tie-breaker (median episodes to solve)"
        )
        firmer = (
            "the criterion saturates here: more tuning seeds or a criterion that does not "
            '(tune.criterion: mean-return; docs/report.md, "Tuning warnings") would make '
            "the choice firmer"
            if criterion == "final-return"
            else "more tuning seeds would make the choice firmer"
        )
        warnings.append(
            f"{name}: {len(tied)} of {len(complete)} complete trials tie on the criterion "
            f"(IQM {top:g} of the {stats.CRITERION_NAMES[criterion]} on the tuning seeds), "
            f"so {by} chose {label}; {firmer}"
        )
    for key, spec in space.items():
        line = edge_warning(name, key, spec, plain_value(chosen[key]), train)
        if line:
            warnings.append(line)
    return warnings


def variant_warnings(config, name: str, results: pd.DataFrame) -> list[str]:
    return grid_warnings(
        name,
        config.search_space(name),
        summarize(config, name, results),
        config.tune.criterion,
        config.variant(name),
    )


def selection_warnings(config, root: str | Path = ".") -> list[str]:
    """Every tuned variant's warnings, from tuning/search/<variant>/results.csv."""
    out = []
    for name in config.variants:
        if config.search_space(name):
            out += variant_warnings(config, name, read_variant(config, name, root))
    return out


def distributions(space: dict) -> dict:
    """Optuna's distribution of each searched key: a Range's, or the listed values as a
    categorical choice (a grid's axis too: the grid's trials are enqueued in order)."""
    import optuna

    out = {}
    for key, spec in space.items():
        if isinstance(spec, Range):
            kind = (
                optuna.distributions.IntDistribution
                if spec.integer
                else optuna.distributions.FloatDistribution
            )
            out[key] = kind(spec.low, spec.high, log=spec.log, step=spec.step)
        else:
            out[key] = optuna.distributions.CategoricalDistribution(list(spec))
    return out


def importances(space: dict, table: pd.DataFrame) -> dict[str, float] | None:
    """Each searched key's importance over every trial (IMPORTANCE_METHOD), from the trial
    table alone, so the same results give the same numbers; None when there is nothing to
    compare (a single key, or fewer than 3 trials that differ).

    Pruning leaves few complete trials (often 2 of 8), too few to compare keys on. So a
    pruned trial counts too, ranked below every complete trial (the pruner judged it worse
    at a rung), the pruned among themselves by their value so far (mean_return_iqm): only
    this order matters to PED-ANOVA, which compares the top trials with all of them."""
    if len(space) < 2 or len(table) < 3:
        return None
    complete = table["state"] == "complete"
    values = table["value"].where(complete).astype(float)
    floor = float(values.min()) if complete.any() else 0.0
    if not complete.all():
        so_far = table["mean_return_iqm"].where(~complete).astype(float).rank(method="min")
        values = values.where(complete, floor - 1.0 - (so_far.max() - so_far))
    if values.nunique() < 2:
        return None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = distributions(space)
    study = optuna.create_study(direction="maximize")
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={key: plain_value(row[key]) for key in space},
                distributions=dists,
                value=float(value),
            )
            for (_, row), value in zip(table.iterrows(), values)
        ]
    )
    found = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
    )
    return {key: stats.round_floats(float(found.get(key, 0.0))) for key in space}


def plain_value(value):
    """A value read back from a results.csv as the plain Python value params.yaml holds
    (NumPy scalars unwrapped, an empty cell, e.g. grad_clip_norm: null, as None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
