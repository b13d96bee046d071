"""Aggregates across seeds: IQM, mean, median with percentile bootstrap CIs, solve rate,
episodes-to-solve, probability of improvement and the area under the learning curve.

Every random draw comes from a numpy Generator made from `report.bootstrap_seed` and the
names of what is being resampled (variant, metric), so a number depends only on its own
data: adding a variant or reordering params.yaml does not move any other variant's CI.

Undefined values are None (null in metrics.json), never NaN:
- a CI over a single seed (there is nothing to resample);
- the median episodes-to-solve when half or more of the seeds never solved.
Degenerate data (all seeds equal) gives a point CI, because every resample is the same.
"""

from __future__ import annotations

import json
import math
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from reinforce.errors import DataError

CURVE_COLUMNS = ("seed", "episode", "return", "length", "loss")
EVAL_COLUMNS = ("seed", "episode", "return")
REFERENCE_VARIANT = "article"
ESTIMATORS = ("iqm", "mean", "median")
DECIMALS = 6  # every number written to metrics.json and tables is rounded to this




# --------------------------------------------------------------------------------------
# estimators


def iqm(x, axis: int = -1):
    """Interquartile mean: the mean of the middle 50% (scipy's 25% trimmed mean).

    trim_mean cuts int(0.25 * n) values from each end, so for n < 4 it is the mean.
    """
    return sps.trim_mean(x, 0.25, axis=axis)


def mean(x, axis: int = -1):
    return np.mean(x, axis=axis)


def median(x, axis: int = -1):
    return np.median(x, axis=axis)


STATISTICS: dict[str, Callable] = {"iqm": iqm, "mean": mean, "median": median}


def prob_improvement(x, y, axis: int = -1):
    """P(X > Y) + P(X = Y) / 2 over all pairs of a seed of X and a seed of Y.

    1.0: every seed of X beats every seed of Y; 0.5: no difference; 0.0: the reverse.
    Works on batches: x (..., n), y (..., m) along the last axis (what bootstrap passes).
    """
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    y = np.moveaxis(np.asarray(y, dtype=float), axis, -1)
    xs, ys = x[..., :, None], y[..., None, :]
    return np.mean(xs > ys, axis=(-2, -1)) + 0.5 * np.mean(xs == ys, axis=(-2, -1))


# --------------------------------------------------------------------------------------
# bootstrap


def make_rng(seed: int, *names: str) -> np.random.Generator:
    """A Generator that depends on seed and the names only (stable across processes)."""
    key = tuple(zlib.crc32(name.encode()) for name in names)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class BootstrapSettings:
    ci: float = 0.95
    resamples: int = 10_000
    seed: int = 0

    @classmethod
    def from_config(cls, report) -> "BootstrapSettings":
        return cls(ci=report.ci, resamples=report.bootstrap_resamples,
                   seed=report.bootstrap_seed)


def bootstrap_ci(samples: Sequence, statistic: Callable, settings: BootstrapSettings,
                 *names: str, batch: int | None = None):
    """Percentile bootstrap CI of statistic(*samples, axis=-1), resampling the last axis.

    Returns (low, high) as floats, or arrays of them when the samples have leading
    dimensions (one CI per row, e.g. per episode). Returns (None, None) when any sample
    has fewer than two observations: one seed gives no interval. Rows whose bootstrap
    distribution is constant (e.g. all seeds equal) get a point interval; scipy's NaN or
    warnings on degenerate data never reach the caller.
    """
    samples = tuple(np.asarray(s, dtype=float) for s in samples)
    if any(s.shape[-1] < 2 for s in samples):
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DegenerateDataWarning, RuntimeWarning on NaN
        result = sps.bootstrap(
            samples, statistic, n_resamples=settings.resamples, batch=batch,
            vectorized=True, paired=False, axis=-1, confidence_level=settings.ci,
            method="percentile", rng=make_rng(settings.seed, *names))
    low = np.asarray(result.confidence_interval.low, dtype=float)
    high = np.asarray(result.confidence_interval.high, dtype=float)
    # scipy's percentile interval is NaN if the distribution holds NaN; with finite data
    # it cannot, but guard anyway: fall back to the distribution's own range
    distribution = np.asarray(result.bootstrap_distribution, dtype=float)
    bad = ~(np.isfinite(low) & np.isfinite(high))
    if np.any(bad):
        alpha = (1 - settings.ci) / 2
        low = np.where(bad, np.nanquantile(distribution, alpha, axis=-1), low)
        high = np.where(bad, np.nanquantile(distribution, 1 - alpha, axis=-1), high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def estimate(values, name: str, settings: BootstrapSettings, *names: str) -> dict:
    """{name: value, name_ci_low: ..., name_ci_high: ...} for one estimator over seeds."""
    values = np.asarray(values, dtype=float)
    value = float(STATISTICS[name](values))
    low, high = bootstrap_ci((values,), STATISTICS[name], settings, *names, name)
    return {name: value, f"{name}_ci_low": low, f"{name}_ci_high": high}


def summarize(values, settings: BootstrapSettings, *names: str) -> dict:
    """IQM, mean and median over seeds, each with its CI."""
    out = {}
    for name in ESTIMATORS:
        out.update(estimate(values, name, settings, *names))
    return out


def p_improve(x, y, settings: BootstrapSettings, *names: str) -> dict:
    """Probability that a seed of x beats a seed of y, with a bootstrap CI over seeds of
    both (resampled independently: seeds of two variants are different runs)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    value = float(prob_improvement(x, y))
    low, high = bootstrap_ci((x, y), prob_improvement, settings, *names, "p_improve")
    return {"value": value, "ci_low": low, "ci_high": high}


# --------------------------------------------------------------------------------------
# learning curves


def moving_average(returns, window: int) -> np.ndarray:
    """Mean of each full window of `window` consecutive episodes (length n - window + 1)."""
    returns = np.asarray(returns, dtype=float)
    if len(returns) < window:
        return np.empty(0)
    return np.lib.stride_tricks.sliding_window_view(returns, window).mean(axis=-1)


def episodes_to_solve(returns, window: int, threshold: float) -> int | None:
    """The first episode (1-based) at which the mean return of the last `window` episodes
    reaches threshold, or None if it never does (fewer than `window` episodes never do)."""
    averages = moving_average(returns, window)
    hits = np.flatnonzero(averages >= threshold)
    return int(hits[0]) + window if len(hits) else None


def median_episodes_to_solve(values: Sequence[int | None]) -> float | None:
    """Median over all seeds, unsolved seeds counted as never (infinity).

    None when the median is itself 'never', i.e. half or more of the seeds did not solve.
    """
    if not values:
        return None
    finite = np.array([math.inf if v is None else float(v) for v in values])
    result = float(np.median(finite))
    return result if math.isfinite(result) else None


def trailing_mean(curves: np.ndarray, window: int) -> np.ndarray:
    """Smooth each row with the mean of the last `window` episodes (fewer at the start)."""
    curves = np.asarray(curves, dtype=float)
    csum = np.cumsum(np.pad(curves, [(0, 0)] * (curves.ndim - 1) + [(1, 0)]), axis=-1)
    n = curves.shape[-1]
    ends = np.arange(1, n + 1)
    starts = np.maximum(ends - window, 0)
    return (csum[..., ends] - csum[..., starts]) / (ends - starts)


def curve_grid(episodes: int, max_points: int = 250) -> np.ndarray:
    """0-based indices of the episodes where CI bands are computed (first and last always)."""
    step = max(1, math.ceil(episodes / max_points))
    grid = np.arange(0, episodes, step)
    if grid[-1] != episodes - 1:
        grid = np.append(grid, episodes - 1)
    return grid


def iqm_band(smoothed: np.ndarray, settings: BootstrapSettings, *names: str,
             max_points: int = 250) -> dict:
    """IQM across seeds of smoothed curves (seeds x episodes) with a pointwise CI band on
    a grid of at most max_points episodes. CI arrays are None for a single seed."""
    grid = curve_grid(smoothed.shape[1], max_points)
    data = smoothed[:, grid].T  # episodes x seeds: resample seeds
    low, high = bootstrap_ci((data,), iqm, settings, *names, "iqm_band", batch=500)
    return {"episode": grid + 1, "iqm": iqm(data), "ci_low": low, "ci_high": high}


def performance_profile(scores, thresholds, settings: BootstrapSettings, *names: str):
    """Fraction of seeds whose score is at least each threshold, with pointwise CIs.

    At least, not above: with a capped return (CartPole's 500) the seeds that reach the cap
    stay visible at the cap."""
    scores = np.asarray(scores, dtype=float)
    above = (scores[None, :] >= np.asarray(thresholds, dtype=float)[:, None]).astype(float)
    low, high = bootstrap_ci((above,), mean, settings, *names, "profile")
    return above.mean(axis=-1), low, high


# --------------------------------------------------------------------------------------
# reading a variant's runs


@dataclass
class VariantRuns:
    name: str
    curves: pd.DataFrame        # seed, episode, return, length, loss
    evaluation: pd.DataFrame    # seed, episode, return
    environment: dict

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.evaluation["seed"].unique())

    def final_returns(self) -> pd.Series:
        """Per seed: the mean return of its evaluation episodes."""
        return self.evaluation.groupby("seed")["return"].mean().sort_index()

    def curve_matrix(self) -> tuple[list[int], np.ndarray]:
        """(seeds, seeds x episodes array of training returns)."""
        table = self.curves.pivot(index="seed", columns="episode", values="return")
        table = table.sort_index().sort_index(axis=1)
        if table.isna().any().any():
            raise DataError(f"{self.name}: seeds of curves.csv have different episode counts")
        return [int(s) for s in table.index], table.to_numpy(dtype=float)


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: not found; run `dvc repro` to make it")
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; expected {list(columns)}")
    if frame.empty:
        raise DataError(f"{path}: no rows")
    if frame[list(columns)].isna().any().any():
        raise DataError(f"{path}: empty or non-numeric values")
    return frame


def read_variant(runs_dir: str | Path, name: str) -> VariantRuns:
    base = Path(runs_dir) / name
    curves = _read_csv(base / "train" / "curves.csv", CURVE_COLUMNS)
    evaluation = _read_csv(base / "eval" / "eval.csv", EVAL_COLUMNS)
    env_path = base / "train" / "environment.json"
    environment = json.loads(env_path.read_text()) if env_path.exists() else {}
    missing = sorted(set(evaluation["seed"]) - set(curves["seed"]))
    if missing:
        raise DataError(f"{base}: seeds {missing} are evaluated but have no training curve")
    return VariantRuns(name, curves, evaluation, environment)


def read_runs(runs_dir: str | Path, variants: Sequence[str]) -> dict[str, VariantRuns]:
    return {name: read_variant(runs_dir, name) for name in variants}


def reference_variant(variants: Sequence[str]) -> str:
    return REFERENCE_VARIANT if REFERENCE_VARIANT in variants else list(variants)[0]


# --------------------------------------------------------------------------------------
# the aggregate


def seed_table(run: VariantRuns, solve_window: int, solved_threshold: float) -> pd.DataFrame:
    """One row per seed: final return, AUC, solved, episodes-to-solve, best moving avg."""
    finals = run.final_returns()
    seeds, curves = run.curve_matrix()
    rows = []
    for seed, curve in zip(seeds, curves):
        if seed not in finals.index:
            continue
        solved_at = episodes_to_solve(curve, solve_window, solved_threshold)
        averages = moving_average(curve, solve_window)
        rows.append({
            "variant": run.name,
            "seed": seed,
            "final_return": float(finals[seed]),
            "auc": float(np.mean(curve)),
            "solved": solved_at is not None,
            "episodes_to_solve": solved_at,
            "best_moving_average": float(averages.max()) if len(averages) else None,
            "episodes": int(curve.shape[0]),
        })
    return pd.DataFrame(rows)


def aggregate(runs: dict[str, VariantRuns], solve_window: int, solved_threshold: float,
              settings: BootstrapSettings) -> tuple[dict, pd.DataFrame]:
    """(metrics keyed by variant, the per-seed table of all variants)."""
    tables = {name: seed_table(run, solve_window, solved_threshold)
              for name, run in runs.items()}
    reference = reference_variant(list(runs))
    ref_final = tables[reference]["final_return"].to_numpy()
    metrics = {}
    for name, table in tables.items():
        final = table["final_return"].to_numpy()
        solved = [None if pd.isna(v) else int(v) for v in table["episodes_to_solve"]]
        entry = {
            "seeds": int(len(table)),
            "final_return": summarize(final, settings, name, "final_return"),
            "auc": summarize(table["auc"].to_numpy(), settings, name, "auc"),
            "solve_rate": float(np.mean([v is not None for v in solved])),
            "episodes_to_solve": {
                "median": median_episodes_to_solve(solved),
                "solved_seeds": int(sum(v is not None for v in solved)),
            },
        }
        if name != reference:
            entry["p_improve"] = p_improve(final, ref_final, settings, name, reference)
        metrics[name] = entry
    seeds = pd.concat(list(tables.values()), ignore_index=True)
    return round_floats(metrics), seeds


def round_floats(value):
    """Round every float to DECIMALS, so the JSON text is fixed by the numbers' values."""
    if isinstance(value, dict):
        return {k: round_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v) for v in value]
    if isinstance(value, (float, np.floating)):
        value = round(float(value), DECIMALS)
        return 0.0 if value == 0 else value  # no "-0.0"
    if isinstance(value, np.integer):
        return int(value)
    return value


def summary_table(metrics: dict) -> pd.DataFrame:
    """One row per variant, one column per metric (the flattened metrics.json)."""
    rows = []
    for name, entry in metrics.items():
        row = {"variant": name}
        row.update(flatten(entry))
        rows.append(row)
    return pd.DataFrame(rows)


def flatten(entry: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in entry.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# --------------------------------------------------------------------------------------
# output text (fixed formatting: the same numbers give the same bytes)


def metrics_json(metrics: dict) -> str:
    return json.dumps(round_floats(metrics), indent=2, sort_keys=True) + "\n"


def format_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return ""
        return repr(round_floats(float(value)))
    text = str(value)
    return f'"{text}"' if any(c in text for c in ',"\n') else text


def table_csv(frame: pd.DataFrame) -> str:
    """CSV with fixed number formatting: ints as ints, floats rounded, missing empty."""
    lines = [",".join(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append(",".join(format_cell(None if _missing(v) else v) for v in row))
    return "\n".join(lines) + "\n"


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def aggregate_outputs(config, root: str | Path = ".") -> dict[str, str]:
    """Read runs/ of every variant in params.yaml; return {relative path: text} for
    metrics.json and reports/tables/*.csv."""
    runs = read_runs(Path(root) / "runs", list(config.variants))
    settings = BootstrapSettings.from_config(config.report)
    metrics, seeds = aggregate(runs, config.env.solve_window, config.env.solved_threshold,
                               settings)
    for name in runs:  # the values the tuning chose, beside the numbers they gave
        if config.search_space(name):
            metrics[name]["chosen"] = config.selected_values(root, name)
    seeds = seeds.astype({"episodes_to_solve": "Int64"})
    return {
        "metrics.json": metrics_json(metrics),
        "reports/tables/summary.csv": table_csv(summary_table(
            {name: metrics[name] for name in runs})),
        "reports/tables/seeds.csv": table_csv(seeds),
    }


# --------------------------------------------------------------------------------------
# tuning: the selection rule

SELECTION_RULE = ("the highest final-return IQM over the tuning seeds; ties (equal after "
                  "rounding, e.g. several candidates at the return cap) go to the lowest "
                  "median episodes-to-solve, unsolved seeds counted as never, then to the "
                  "candidate listed first")


def summarize_candidates(results: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """A row per candidate: its values, final-return IQM, solve rate and median
    episodes-to-solve over the tuning seeds, and whether the rule chose it."""
    rows = []
    for index, group in results.groupby("candidate", sort=True):
        solved = [None if pd.isna(v) else int(v) for v in group["episodes_to_solve"]]
        rows.append({
            "candidate": int(index),
            **{key: group[key].iloc[0] for key in keys},
            "seeds": len(group),
            "final_return_iqm": round_floats(float(iqm(group["final_return"]))),
            "solve_rate": round_floats(float(np.mean([v is not None for v in solved]))),
            "median_episodes_to_solve": median_episodes_to_solve(solved),
        })
    table = pd.DataFrame(rows)

    def rank(row) -> tuple:
        median = row["median_episodes_to_solve"]
        return (-row["final_return_iqm"],
                math.inf if median is None or pd.isna(median) else median,
                row["candidate"])

    best = min(table.to_dict("records"), key=rank)["candidate"]
    table["chosen"] = table["candidate"] == best
    return table
