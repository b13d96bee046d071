"""Time-to-solve as censored survival data: the Kaplan-Meier fraction of seeds solved
against training time, its median with a CI, and the log-rank test.

A seed that never solved is not "never": it is right-censored at its own budget (the
episodes, or the environment steps, it trained for), so that a variant trained for 300
episodes and one trained for 1000 are compared on what each run could have shown.

scipy.stats does the estimation (ecdf on CensoredData: Kaplan-Meier with Greenwood's
variance) and the test (logrank), rather than code of our own.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

BAND_METHOD = "log-log"  # stays inside [0, 1], better coverage than linear at 10 seeds


def censored(times: Sequence[float], solved: Sequence[bool]) -> sps.CensoredData:
    """Solved seeds observed at their time, unsolved ones right-censored at theirs."""
    times = np.asarray(times, dtype=float)
    solved = np.asarray(solved, dtype=bool)
    if times.shape != solved.shape or times.ndim != 1 or not len(times):
        raise ValueError("times and solved: one value per seed, at least one seed")
    return sps.CensoredData(uncensored=times[solved], right=times[~solved])


def kaplan_meier(times: Sequence[float], solved: Sequence[bool], confidence: float = 0.95) -> dict:
    """The Kaplan-Meier fraction of seeds solved by each time, with a pointwise band.

    Returns {"time": [t0 = 0, every distinct time of a seed], "solved": fraction solved
    by then, "ci_low"/"ci_high": the band (None with one seed: there is no variance),
    "median": the first time at which half the seeds have solved (None if never),
    "median_ci_low"/"median_ci_high": the times at which the band's edges cross one half
    (the pointwise band inverted, as R's survfit does; high None when the band never
    gets there), "solved_seeds", "seeds"}.

    The band is scipy's Greenwood interval on the log-log scale; where it is undefined
    (no seed solved yet, or every seed at risk has solved) it is the estimate itself.
    """
    times = np.asarray(times, dtype=float)
    solved = np.asarray(solved, dtype=bool)
    result = sps.ecdf(censored(times, solved))
    grid = result.sf.quantiles
    survival = result.sf.probabilities
    out = {
        "time": [0.0, *grid.tolist()],
        "solved": [0.0, *(1 - survival).tolist()],
        "ci_low": None,
        "ci_high": None,
        "solved_seeds": int(solved.sum()),
        "seeds": int(len(times)),
    }
    out["median"] = _first_time(grid, survival)
    out["median_ci_low"] = out["median_ci_high"] = None
    if len(times) < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Greenwood's 0/0 where survival is 0 or 1
        band = result.sf.confidence_interval(confidence, method=BAND_METHOD)
    low = np.where(np.isfinite(band.low.probabilities), band.low.probabilities, survival)
    high = np.where(np.isfinite(band.high.probabilities), band.high.probabilities, survival)
    out["ci_low"] = [0.0, *(1 - high).tolist()]  # fraction solved: 1 - survival
    out["ci_high"] = [0.0, *(1 - low).tolist()]
    out["median_ci_low"] = _first_time(grid, low)
    out["median_ci_high"] = _first_time(grid, high)
    return out


def _first_time(grid: np.ndarray, survival: np.ndarray) -> float | None:
    """The first time at which the survival curve is at or below one half; where it is
    exactly one half, the midpoint to its next drop (R's survfit rule, which makes the
    median of uncensored times the usual median)."""
    hits = np.flatnonzero(survival <= 0.5 + 1e-12)
    if not len(hits):
        return None
    first = hits[0]
    if abs(survival[first] - 0.5) <= 1e-12:
        drops = np.flatnonzero(survival[first + 1 :] < survival[first] - 1e-12)
        if len(drops):
            return float((grid[first] + grid[first + 1 + drops[0]]) / 2)
    return float(grid[first])


def logrank(x_times, x_solved, y_times, y_solved) -> dict:
    """scipy's two-sided log-rank test of x against y. statistic: (solves of x - solves
    expected of x under no difference) / sd, so positive means x solves sooner.
    None when it cannot be computed: no seed of either variant ever solved."""
    if not (np.any(x_solved) or np.any(y_solved)):
        return {"statistic": None, "p": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sps.logrank(censored(x_times, x_solved), censored(y_times, y_solved))
    statistic, p = float(result.statistic), float(result.pvalue)
    if not (math.isfinite(statistic) and math.isfinite(p)):
        return {"statistic": None, "p": None}
    return {"statistic": statistic, "p": p}


def min_detectable_hazard_ratio(
    events: int, share: float, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """The smallest hazard ratio (> 1) a two-sided log-rank test at alpha detects with the
    given power after `events` solves in all, `share` of the seeds in one arm (Schoenfeld
    1981: events = (z_{1-alpha/2} + z_power)^2 / (share (1 - share) log(HR)^2)). None
    without events."""
    if events < 1 or not 0 < share < 1:
        return None
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    return float(math.exp(z / math.sqrt(events * share * (1 - share))))
