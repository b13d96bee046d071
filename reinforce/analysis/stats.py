"""Aggregates across seeds: IQM, mean, median with percentile bootstrap CIs, solve rate,
episodes-to-solve, probability of improvement and the area under the learning curve; and,
for each variant against the reference, Welch's t-test and Mann-Whitney U (Holm-corrected
over every p-value of the report), Hedges' g with a bootstrap CI, and a power statement.

Every random draw comes from a numpy Generator made from `report.bootstrap_seed` and the
names of what is being resampled (variant, metric), so a number depends only on its own
data: adding a variant or reordering params.yaml does not move any other variant's CI.

Undefined values are None (null in metrics.json), never NaN:
- a CI over a single seed (there is nothing to resample);
- the median episodes-to-solve when half or more of the seeds never solved;
- a test, effect size or power number that its data cannot define: fewer than two seeds
  (Welch, Hedges' g, power), zero variance in both variants (Welch, Hedges' g, power), the
  same value on every seed of both variants (Mann-Whitney), no difference in mean (the
  seeds needed to detect it).
Degenerate data (all seeds equal) gives a point CI, because every resample is the same.

Two outputs: metrics.json, the headline DVC metrics file (a few numbers per variant, so
`dvc exp show` stays readable), and reports/statistics.json, everything.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

# statsmodels sets its warning filters when this module is first imported, which
# solve_power otherwise does lazily, inside our catch_warnings, overriding its "ignore"
from statsmodels.tools import sm_exceptions  # noqa: F401

from reinforce import seeding
from reinforce.analysis.schema import HEADLINE
from reinforce.io import paths
from reinforce.io.config import REFERENCE_VARIANT
from reinforce.io.errors import DataError
from reinforce.io.inputs import check_runs, read_json, read_table
from reinforce.io.outputs import CURVE_COLUMNS, EVAL_COLUMNS, flatten, json_text

ESTIMATORS = ("iqm", "mean", "median")
DECIMALS = 6  # every number written to metrics.json and tables is rounded to this
ALPHA = 0.05  # significance level of the tests and of the power statement
POWER = 0.8  # the power the power statement asks for
STATISTICS_PATH = paths.STATISTICS


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
    return seeding.bootstrap_rng(seed, *names)


@dataclass(frozen=True)
class BootstrapSettings:
    ci: float = 0.95
    resamples: int = 10_000
    seed: int = 0

    @classmethod
    def from_config(cls, report) -> BootstrapSettings:
        return cls(ci=report.ci, resamples=report.bootstrap_resamples, seed=report.bootstrap_seed)


def bootstrap_ci(
    samples: Sequence,
    statistic: Callable,
    settings: BootstrapSettings,
    *names: str,
    batch: int | None = None,
):
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
            samples,
            statistic,
            n_resamples=settings.resamples,
            batch=batch,
            vectorized=True,
            paired=False,
            axis=-1,
            confidence_level=settings.ci,
            method="percentile",
            rng=make_rng(settings.seed, *names),
        )
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
# tests, effect size and power of a variant against the reference


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def welch_test(x, y) -> dict:
    """Welch's unequal-variance t-test of mean(x) = mean(y), two-sided (scipy).

    None without a standard error: fewer than two seeds in either sample, or both samples
    constant (scipy would give NaN, or an infinite t with p = 0)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2 or (_constant(x) and _constant(y)):
        return {"t": None, "p": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # precision warnings on nearly equal data
        result = sps.ttest_ind(x, y, equal_var=False, alternative="two-sided")
    t, p = _finite(result.statistic), _finite(result.pvalue)
    return {"t": t, "p": p} if t is not None and p is not None else {"t": None, "p": None}


def mann_whitney_test(x, y) -> dict:
    """Mann-Whitney U test, two-sided (scipy's defaults: exact p for small samples without
    ties, else the normal approximation with tie and continuity corrections). U counts the
    pairs in which x wins, ties half: U / (len(x) len(y)) is P(improve).

    None when every seed of both samples has the same value: no pair is ordered."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0 or len(y) == 0 or _constant(np.concatenate([x, y])):
        return {"u": None, "p": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sps.mannwhitneyu(x, y, alternative="two-sided")
    u, p = _finite(result.statistic), _finite(result.pvalue)
    return {"u": u, "p": p} if u is not None and p is not None else {"u": None, "p": None}


def pooled_sd(x, y, axis: int = -1):
    """sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2)), sample variances (ddof 1)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = x.shape[axis], y.shape[axis]
    ss = (n1 - 1) * np.var(x, axis=axis, ddof=1) + (n2 - 1) * np.var(y, axis=axis, ddof=1)
    return np.sqrt(ss / (n1 + n2 - 2))


def hedges_g(x, y, axis: int = -1):
    """(mean(x) - mean(y)) / pooled sd, times the small-sample correction
    1 - 3 / (4 (n1 + n2) - 9). NaN where the pooled sd is 0 (works on batches)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.shape[axis] + y.shape[axis]
    sd = pooled_sd(x, y, axis=axis)
    diff = np.mean(x, axis=axis) - np.mean(y, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), np.nan)
    return d * (1 - 3 / (4 * n - 9))


def effect_size(x, y, settings: BootstrapSettings, *names: str) -> dict:
    """Hedges' g with a percentile bootstrap CI (seeds of both samples resampled
    independently). Resamples whose pooled sd is 0 have no g and are left out of the CI.
    None with fewer than two seeds in either sample or zero variance in both."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return {"value": None, "ci_low": None, "ci_high": None}
    value = _finite(hedges_g(x, y))
    if value is None:
        return {"value": None, "ci_low": None, "ci_high": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN resamples: no CI, below
        low, high = bootstrap_ci((x, y), hedges_g, settings, *names, "hedges_g")
    return {
        "value": value,
        "ci_low": None if low is None else _finite(low),
        "ci_high": None if high is None else _finite(high),
    }


def power_statement(x, y, alpha: float = ALPHA, power: float = POWER) -> dict:
    """What the seeds can detect, for a two-sided two-sample t-test at alpha with the given
    power (statsmodels' TTestIndPower, which assumes one common sd: the pooled sd of x, y).

    - min_detectable_effect: the smallest |mean difference| / sd detectable with len(x)
      and len(y) seeds; min_detectable_difference: that times the pooled sd, in return.
    - observed_effect: Cohen's d of the data; seeds_needed: the seeds per variant (the
      same number for both) that detect it (Colas et al. 2018, "How many random seeds?").
    None where undefined: fewer than two seeds, a pooled sd of 0, no observed difference.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out = {
        "pooled_sd": None,
        "min_detectable_effect": None,
        "min_detectable_difference": None,
        "observed_effect": None,
        "seeds_needed": None,
    }
    if len(x) < 2 or len(y) < 2:
        return out
    analysis = TTestIndPower()
    sd = float(pooled_sd(x, y))
    out["pooled_sd"] = sd
    out["min_detectable_effect"] = _solve_power(
        analysis, effect_size=None, nobs1=len(x), ratio=len(y) / len(x), alpha=alpha, power=power
    )
    if sd == 0:
        return out
    if out["min_detectable_effect"] is not None:
        out["min_detectable_difference"] = out["min_detectable_effect"] * sd
    d = float(np.mean(x) - np.mean(y)) / sd
    out["observed_effect"] = d
    if d != 0:
        out["seeds_needed"] = seeds_needed(abs(d), alpha, power)
    return out


def seeds_needed(effect: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds per variant for a two-sided t-test to detect `effect` (in sd) with `power`.
    At least 2 (a t-test needs them): an effect that 2 seeds already detect gives 2, where
    statsmodels' root finder, bounded below by 2, finds no root. None when it finds none
    (an effect so small that the seeds needed overflow)."""
    analysis = TTestIndPower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # statsmodels' power is NaN for 2 seeds and effects beyond about 10 sd; power only
        # grows with the effect, so the power at 8 sd bounds theirs from below
        at_two = analysis.power(
            effect_size=min(effect, 8.0), nobs1=2, alpha=alpha, ratio=1.0, alternative="two-sided"
        )
    if math.isfinite(at_two) and at_two >= power:
        return 2
    needed = _solve_power(
        analysis, effect_size=effect, nobs1=None, ratio=1.0, alpha=alpha, power=power
    )
    return None if needed is None else max(2, math.ceil(needed))


def _solve_power(analysis: TTestIndPower, **kwargs) -> float | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: checked below
        try:
            value = analysis.solve_power(alternative="two-sided", **kwargs)
        except (ValueError, RuntimeError, ArithmeticError):
            return None
    value = np.asarray(value, dtype=float).item()
    return value if math.isfinite(value) and value > 0 else None


def compare(x, y, settings: BootstrapSettings, *names: str) -> dict:
    """Variant x against the reference y on per-seed final returns: the difference in
    mean, both tests (raw p; holm() adds the corrected ones), Hedges' g with CI, power."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return {
        "mean_difference": float(np.mean(x) - np.mean(y)),
        "welch": welch_test(x, y),
        "mann_whitney": mann_whitney_test(x, y),
        "hedges_g": effect_size(x, y, settings, *names),
        "power": power_statement(x, y),
    }


TESTS = ("welch", "mann_whitney")


def holm(comparisons: dict[str, dict], alpha: float = ALPHA) -> int:
    """Add p_holm and significant to every test of every comparison, in place.

    The family is every p-value of the report: both tests of every variant against the
    reference. Tests without a p-value (None) are not in it and get None. Returns the
    family's size."""
    keys = [
        (name, test)
        for name, c in comparisons.items()
        for test in TESTS
        if c[test]["p"] is not None
    ]
    adjusted = []
    if keys:
        _, adjusted, _, _ = multipletests(
            [comparisons[n][t]["p"] for n, t in keys], alpha=alpha, method="holm"
        )
    for c in comparisons.values():
        for test in TESTS:
            c[test]["p_holm"] = None
            c[test]["significant"] = None
    for (name, test), p in zip(keys, adjusted):
        comparisons[name][test]["p_holm"] = float(p)
        comparisons[name][test]["significant"] = bool(p < alpha)
    return len(keys)


# --------------------------------------------------------------------------------------
# learning curves


def moving_average(returns, window: int) -> np.ndarray:
    """Mean of each full window of `window` consecutive episodes (length n - window + 1)."""
    returns = np.asarray(returns, dtype=float)
    if len(returns) < window:
        return np.empty(0)
    return np.lib.stride_tricks.sliding_window_view(returns, window).mean(axis=-1)


def episodes_to_solve(returns, window: int, threshold: float | None) -> int | None:
    """The first episode (1-based) at which the mean return of the last `window` episodes
    reaches threshold, or None if it never does (fewer than `window` episodes never do;
    nor does any on an env without a threshold, None)."""
    if threshold is None:
        return None
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


def iqm_band(
    smoothed: np.ndarray, settings: BootstrapSettings, *names: str, max_points: int = 250
) -> dict:
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
    curves: pd.DataFrame  # seed, episode, return, length, loss
    evaluation: pd.DataFrame  # seed, episode, return
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
    return read_table(path, columns)  # reinforce/io/inputs.py: every way a file can be off


def read_variant(runs_dir: str | Path, name: str) -> VariantRuns:
    base = Path(runs_dir) / name
    curves = _read_csv(base / "train" / paths.CURVES_FILE, CURVE_COLUMNS)
    evaluation = _read_csv(base / "eval" / paths.EVAL_FILE, EVAL_COLUMNS)
    env_path = base / "train" / "environment.json"
    environment = read_json(env_path) if env_path.exists() else {}
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
        rows.append(
            {
                "variant": run.name,
                "seed": seed,
                "final_return": float(finals[seed]),
                "auc": float(np.mean(curve)),
                "solved": solved_at is not None,
                "episodes_to_solve": solved_at,
                "best_moving_average": float(averages.max()) if len(averages) else None,
                "episodes": int(curve.shape[0]),
            }
        )
    return pd.DataFrame(rows)


def aggregate(
    runs: dict[str, VariantRuns],
    solve_window: int,
    solved_threshold: float | None,
    settings: BootstrapSettings,
) -> tuple[dict, pd.DataFrame]:
    """(the full statistics: {"tests": what the comparisons share, "variants": per
    variant}, the per-seed table of all variants)."""
    tables = {name: seed_table(run, solve_window, solved_threshold) for name, run in runs.items()}
    reference = reference_variant(list(runs))
    ref_final = tables[reference]["final_return"].to_numpy()
    variants, comparisons = {}, {}
    for name, table in tables.items():
        final = table["final_return"].to_numpy()
        solved = [None if pd.isna(v) else int(v) for v in table["episodes_to_solve"]]
        entry = {
            "seeds": int(len(table)),
            "final_return": summarize(final, settings, name, "final_return"),
            "auc": summarize(table["auc"].to_numpy(), settings, name, "auc"),
            # null on an env without a solved threshold: there is no "solved" to count
            "solve_rate": (
                None
                if solved_threshold is None
                else float(np.mean([v is not None for v in solved]))
            ),
            "episodes_to_solve": {
                "median": median_episodes_to_solve(solved),
                "solved_seeds": int(sum(v is not None for v in solved)),
            },
        }
        if name != reference:
            entry["p_improve"] = p_improve(final, ref_final, settings, name, reference)
            entry["comparison"] = comparisons[name] = compare(
                final, ref_final, settings, name, reference
            )
        variants[name] = entry
    family = holm(comparisons)
    tests = {
        "reference": reference,
        "alpha": ALPHA,
        "power": POWER,
        "correction": "holm",
        "family_size": family,
    }
    seeds = pd.concat(list(tables.values()), ignore_index=True)
    return round_floats({"tests": tests, "variants": variants}), seeds


def headline(statistics: dict, chosen: dict[str, dict] | None = None) -> dict:
    """metrics.json: per variant the HEADLINE numbers of the full statistics, and the
    hyperparameters the tuning chose for it (`chosen`, only variants that were tuned)."""
    out = {}
    for name, entry in statistics["variants"].items():
        row = {}
        for key, path in HEADLINE.items():
            value = entry
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None or path[0] in entry:  # absent: not computed (no extend)
                row[key] = value
        if chosen and chosen.get(name):
            row["chosen"] = dict(chosen[name])
        out[name] = row
    return round_floats(out)


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


# --------------------------------------------------------------------------------------
# output text (fixed formatting: the same numbers give the same bytes)


def metrics_json(metrics: dict, name: str = paths.METRICS) -> str:
    """The text of the JSON output `name`: rounded, strict (reinforce/io/outputs.json_text)."""
    return json_text(round_floats(metrics), name)


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


def aggregate_outputs(
    config,
    root: str | Path = ".",
    chosen: dict[str, dict] | None = None,
    extend: Callable | None = None,
) -> dict[str, str]:
    """Read runs/ of every variant in params.yaml; return {relative path: text} for
    metrics.json (the headline), reports/statistics.json (everything) and
    reports/tables/*.csv. `chosen`: {variant: {train key: value}} of the tuned variants,
    written beside their numbers in both JSON files. `extend(statistics, seeds, runs,
    chosen) -> (statistics, seeds)`: the analyses above this module (reinforce.analysis)
    add theirs before anything is written."""
    runs = read_runs(Path(root) / paths.RUNS, list(config.variants))
    check_runs(runs, config, root)  # against params.yaml: seeds, episode counts
    settings = BootstrapSettings.from_config(config.report)
    statistics, seeds = aggregate(
        runs, config.env.solve_window, config.env.solved_threshold, settings
    )
    if chosen is None:  # the values the select stage chose for the tuned variants
        chosen = {
            name: config.selected_values(root, name) for name in runs if config.search_space(name)
        }
    for name, values in chosen.items():
        if values and name in statistics["variants"]:
            statistics["variants"][name]["chosen"] = round_floats(dict(values))
    if extend is not None:
        statistics, seeds = extend(statistics, seeds, runs, chosen)
    seeds = seeds.astype({"episodes_to_solve": "Int64"})
    return {
        paths.METRICS: metrics_json(headline(statistics, chosen), paths.METRICS),
        STATISTICS_PATH: metrics_json(statistics, STATISTICS_PATH),
        f"{paths.TABLES}/summary.csv": table_csv(
            summary_table({name: statistics["variants"][name] for name in runs})
        ),
        f"{paths.TABLES}/seeds.csv": table_csv(seeds),
    }


# --------------------------------------------------------------------------------------
# tuning: the selection rule

# What each tuning criterion measures on one tuning seed (results.csv's column), in words.
CRITERION_COLUMNS = {"mean-return": "mean_return", "final-return": "final_return"}
CRITERION_WORDS = {
    "mean-return": "mean training return over the budget (sample efficiency: the area under "
    "the learning curve, which keeps separating trials that all end at the return cap)",
    "final-return": "final return (the mean of the evaluation episodes, as the report "
    "measures it; it saturates at a return cap)",
}


CRITERION_NAMES = {"mean-return": "mean training return over the budget",
                   "final-return": "final return"}  # fmt: skip


def selection_rule(criterion: str) -> str:
    """The rule summarize_trials applies, in words (the report and selected/*.json say it)."""
    return (
        f"the highest IQM over the tuning seeds of each seed's "
        f"{CRITERION_NAMES[criterion]}, among the trials that ran their full budget (not "
        "pruned); ties (equal after rounding) go to the lowest median episodes-to-solve, "
        "unsolved seeds counted as never, then to the earliest trial"
    )


def trial_value(values) -> float:
    """A trial's criterion (and intermediate) value: the IQM over the tuning seeds, rounded
    as every table's numbers are, so the tune stage and select see the same number."""
    return round_floats(float(iqm(np.asarray(values, dtype=float))))


def summarize_trials(results: pd.DataFrame, keys: Sequence[str], criterion: str) -> pd.DataFrame:
    """A row per trial (results.csv of tune@<variant>): its values, state, the episodes it
    trained, its criterion value (the IQM over the tuning seeds), solve rate and median
    episodes-to-solve, and whether the rule (selection_rule) chose it."""
    column = CRITERION_COLUMNS[criterion]
    rows = []
    for index, group in results.groupby("trial", sort=True):
        solved = [None if pd.isna(v) else int(v) for v in group["episodes_to_solve"]]
        values = group[column].to_numpy(dtype=float)
        complete = group["state"].iloc[0] == "complete"
        if complete and np.isnan(values).any():
            raise DataError(
                f"trial {int(index)}: no {column} on every tuning seed, but the trial is "
                f"complete and tune.criterion is {criterion}; run `dvc repro --force` for "
                "its tune stage"
            )
        rows.append(
            {
                "trial": int(index),
                **{key: group[key].iloc[0] for key in keys},
                "state": group["state"].iloc[0],
                "episodes": int(group["episodes"].iloc[0]),
                "seeds": len(group),
                # a pruned trial has no value: it did not train the budget
                "value": trial_value(values) if complete else math.nan,
                "mean_return_iqm": trial_value(group["mean_return"]),
                "solve_rate": round_floats(float(np.mean([v is not None for v in solved]))),
                "median_episodes_to_solve": median_episodes_to_solve(solved),
            }
        )
    table = pd.DataFrame(rows)

    def rank(row) -> tuple:
        median = row["median_episodes_to_solve"]
        return (
            -row["value"],
            math.inf if median is None or pd.isna(median) else median,
            row["trial"],
        )

    complete = [row for row in table.to_dict("records") if row["state"] == "complete"]
    best = min(complete, key=rank)["trial"] if complete else None
    table["chosen"] = table["trial"] == best
    return table
