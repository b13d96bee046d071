"""Across the environments of a suite study: normalized scores and their aggregates, the
way rliable (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice")
aggregates tasks, and the suite's claims.

A run is one (env, variant, seed). Its normalized score is

    (score - random) / (reference - random)

with score the seed's mean evaluation return, random the mean return of the env's uniformly
random policy (measured by the pipeline on its own seeds) and reference the env's
`reference_score` (its solved threshold unless set): 0 is the random policy, 1 the
reference. The aggregates run over env x seed:

- IQM: the 25% trimmed mean of every run's normalized score, pooled over envs
  (rliable's `aggregate_iqm`); mean: the mean over envs of the env's mean over seeds
  (rliable's `aggregate_mean`);
- the performance profile: for each tau, the mean over envs of the fraction of the env's
  runs whose normalized score is above tau (rliable's run-score distribution);
- the average probability of improvement: per env P(X > Y) + P(X = Y) / 2 over pairs of a
  run of X and a run of Y (Mann-Whitney's U / (n m)), averaged over envs;
- CIs: percentile intervals of a stratified bootstrap, which resamples the runs of each
  env independently and keeps the envs fixed (rliable's `StratifiedBootstrap`; two
  variants are resampled independently of each other, `StratifiedIndependentBootstrap`).

Seeds are runs of one env: resampling them across envs would mix envs with different
difficulty into one pool. Envs are fixed, not resampled: the CIs say what other seeds on
these envs would give, not what other envs would.

Randomness comes from stats.make_rng (the report's bootstrap seed and the names of what is
resampled), so a number depends only on its own data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from reinforce.analysis import claims, stats
from reinforce.io.errors import DataError

BATCH = 500  # bootstrap resamples evaluated at once (memory of a profile's taus x runs)
PERMUTATION_EPS = 1e-14  # as scipy.stats.permutation_test: ties within rounding count


@dataclass(frozen=True)
class EnvSettings:
    """What the suite needs of an env (the config's per-env settings have these names)."""

    id: str
    solved_threshold: float | None  # None: gymnasium gives no threshold, no "solved"
    solve_window: int
    reference_score: float  # the score that normalizes to 1


# A suite's scores: per env (in study order) one array of per-seed values.
Strata = Sequence[np.ndarray]


def normalized_score(score, random: float, reference: float, env: str = "") -> np.ndarray:
    """(score - random) / (reference - random); a DataError unless the reference lies above
    the random policy's mean return: at it nothing could be normalized by it, and below it
    every normalized score would be inverted (a better policy scoring lower), silently."""
    if not (math.isfinite(random) and math.isfinite(reference)) or reference == random:
        raise DataError(
            f"{env or 'env'}: the random policy's mean return ({random:g}) and the "
            f"reference score ({reference:g}) must be finite and differ to normalize by them"
        )
    if reference < random:
        raise DataError(
            f"envs.{env or '<env>'}.reference_score: got {reference:g}, below the random "
            f"policy's mean return {random:g}: every normalized score would be inverted (a "
            "better policy scoring lower); allowed: a reference above the random policy's "
            "return, e.g. the best return there is (docs/suite.md)"
        )
    return (np.asarray(score, dtype=float) - random) / (reference - random)


# --------------------------------------------------------------------------------------
# estimators over strata (each array (..., runs of the env): batches along leading axes)


def aggregate_iqm(strata: Strata):
    """The 25% trimmed mean of every run, envs pooled (rliable's aggregate_iqm)."""
    return stats.iqm(np.concatenate([np.asarray(s, dtype=float) for s in strata], axis=-1))


def aggregate_mean(strata: Strata):
    """The mean over envs of each env's mean over runs (rliable's aggregate_mean)."""
    return np.mean([np.mean(s, axis=-1) for s in strata], axis=0)


AGGREGATES: dict[str, Callable] = {"iqm": aggregate_iqm, "mean": aggregate_mean}


def average_p_improve(strata_x: Strata, strata_y: Strata):
    """Mean over envs of P(X > Y) + P(X = Y) / 2 (rliable's probability_of_improvement)."""
    return np.mean([stats.prob_improvement(x, y) for x, y in zip(strata_x, strata_y)], axis=0)


def run_score_distribution(strata: Strata, taus):
    """For each tau, the mean over envs of the fraction of runs above tau (strictly, as
    rliable's run_score_deviation). Returns (..., len(taus))."""
    taus = np.asarray(taus, dtype=float)
    fractions = [
        np.mean(np.asarray(s, dtype=float)[..., None, :] > taus[:, None], axis=-1) for s in strata
    ]
    return np.mean(fractions, axis=0)


def iqm_difference(strata_x: Strata, strata_y: Strata):
    return aggregate_iqm(strata_x) - aggregate_iqm(strata_y)


def p_improve_shift(strata_x: Strata, strata_y: Strata):
    """Average P(improve) - 0.5: 0 when X and Y do not differ (the permutation test's null)."""
    return average_p_improve(strata_x, strata_y) - 0.5


# --------------------------------------------------------------------------------------
# the stratified bootstrap and the stratified permutation test


def _as_strata(samples: Sequence[Strata]) -> list[list[np.ndarray]]:
    return [[np.asarray(s, dtype=float) for s in sample] for sample in samples]


def stratified_ci(
    samples: Sequence[Strata],
    statistic: Callable,
    settings: stats.BootstrapSettings,
    *names: str,
):
    """Percentile CI of statistic(*samples) under a stratified bootstrap: every env of every
    sample resampled (with replacement, its own run count) independently of the others.

    Written by hand: scipy.stats.bootstrap resamples each sample as one pool and has no
    strata. Returns (low, high) as floats or arrays (a statistic with an output axis, e.g.
    a profile over taus); (None, None) when no sample has an env with two runs (nothing
    to resample)."""
    samples = _as_strata(samples)
    if not any(s.shape[-1] >= 2 for sample in samples for s in sample):
        return None, None
    rng = stats.make_rng(settings.seed, *names)
    # every index drawn before any statistic runs: the numbers do not depend on BATCH
    indices = [
        [rng.integers(0, s.shape[-1], size=(settings.resamples, s.shape[-1])) for s in sample]
        for sample in samples
    ]
    distribution = []
    for start in range(0, settings.resamples, BATCH):
        part = slice(start, start + BATCH)
        resampled = [
            [s[idx[part]] for s, idx in zip(sample, sample_idx)]
            for sample, sample_idx in zip(samples, indices)
        ]
        distribution.append(np.asarray(statistic(*resampled), dtype=float))
    distribution = np.concatenate(distribution, axis=0)
    alpha = (1 - settings.ci) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN slices: NaN, returned as is
        low, high = np.nanpercentile(distribution, [100 * alpha, 100 * (1 - alpha)], axis=0)
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high


def stratified_permutation_test(
    strata_x: Strata,
    strata_y: Strata,
    statistic: Callable,
    settings: stats.BootstrapSettings,
    *names: str,
) -> dict:
    """Two-sided permutation test of statistic(x, y) whose permutations relabel runs as X
    or Y within each env only (each env keeps its own runs and its own counts).

    Under the null the two variants' runs of one env are exchangeable; runs of different
    envs are not (their scores differ by the env), so a test that pooled them across envs
    would mix the envs' differences into the noise. scipy.stats.permutation_test permutes
    one pool and has no strata; this follows its conventions: `settings.resamples` random
    relabelings, p = (hits + 1) / (resamples + 1) on each side, doubled, at most 1, with
    ties within a relative 1e-14 counted as hits. None when every env's runs are all
    equal (no relabeling can change anything)."""
    xs, ys = _as_strata([strata_x, strata_y])
    observed = float(statistic(xs, ys))
    pooled = [np.concatenate([x, y]) for x, y in zip(xs, ys)]
    if all(np.all(p == p[0]) for p in pooled) or not math.isfinite(observed):
        return {"statistic": observed if math.isfinite(observed) else None, "p": None}
    rng = stats.make_rng(settings.seed, *names, "permutation")
    relabeled = [rng.permuted(np.tile(p, (settings.resamples, 1)), axis=1) for p in pooled]
    null = []
    for start in range(0, settings.resamples, BATCH):
        part = slice(start, start + BATCH)
        px = [r[part, : len(x)] for r, x in zip(relabeled, xs)]
        py = [r[part, len(x) :] for r, x in zip(relabeled, xs)]
        null.append(np.asarray(statistic(px, py), dtype=float))
    null = np.concatenate(null)
    gamma = abs(PERMUTATION_EPS * observed)
    greater = (np.sum(null >= observed - gamma) + 1) / (settings.resamples + 1)
    less = (np.sum(null <= observed + gamma) + 1) / (settings.resamples + 1)
    return {"statistic": observed, "p": float(min(1.0, 2 * min(greater, less)))}


# --------------------------------------------------------------------------------------
# the suite's numbers


def profile_taus(scores: Mapping[str, Strata], points: int = 201) -> np.ndarray:
    """Thresholds from min(0, lowest run) to max(1, highest run), so the random policy (0)
    and the reference (1) are always on the axis."""
    every = np.concatenate([np.asarray(s, dtype=float) for v in scores.values() for s in v])
    low, high = min(0.0, float(every.min())), max(1.0, float(every.max()))
    pad = 0.03 * (high - low)
    return np.linspace(low - pad, high + pad, points)


def aggregates(scores: Mapping[str, Strata], settings: stats.BootstrapSettings) -> dict[str, dict]:
    """Per variant: IQM and mean of the normalized scores over env x seed, with CIs."""
    out = {}
    for name, strata in scores.items():
        entry = {"runs": int(sum(len(s) for s in strata))}
        for estimator, function in AGGREGATES.items():
            low, high = stratified_ci((strata,), function, settings, name, "suite", estimator)
            entry[estimator] = {"value": float(function(strata)), "ci_low": low, "ci_high": high}
        out[name] = entry
    return out


def performance_profiles(
    scores: Mapping[str, Strata], taus, settings: stats.BootstrapSettings
) -> dict[str, dict]:
    """Per variant: the run-score distribution at each tau with its pointwise CI band."""
    out = {}
    for name, strata in scores.items():
        low, high = stratified_ci(
            (strata,),
            lambda s: run_score_distribution(s, taus),
            settings,
            name,
            "suite",
            "profile",
        )
        out[name] = {
            "tau": np.asarray(taus, dtype=float),
            "fraction": run_score_distribution(strata, taus),
            "ci_low": low,
            "ci_high": high,
        }
    return out


def compare(
    x: Strata, y: Strata, settings: stats.BootstrapSettings, name: str, reference: str
) -> dict:
    """Variant x against the reference y over the suite: the difference in aggregate IQM and
    the average P(improve), each with its stratified bootstrap CI and the p of a
    stratified permutation test of no difference."""
    out = {}
    # the permutation statistic is 0 under no difference; the effect is in its own units
    for key, statistic, value in (
        ("iqm_difference", iqm_difference, iqm_difference),
        ("p_improve", p_improve_shift, average_p_improve),
    ):
        low, high = stratified_ci((x, y), value, settings, name, reference, "suite", key)
        test = stratified_permutation_test(x, y, statistic, settings, name, reference, key)
        out[key] = {"value": float(value(x, y)), "ci_low": low, "ci_high": high, "p": test["p"]}
    return out


SUITE_TESTS = (
    ("iqm_difference", "IQM difference", "stratified permutation (IQM difference)"),
    ("p_improve", "P(improve)", "stratified permutation (average P(improve))"),
)


def claim_rows(comparisons: Mapping[str, dict], alpha: float = stats.ALPHA) -> list[dict]:
    """A row per test of every variant against the reference; one Holm family over all of
    them (the suite's family: the per-env claims keep their own per-env families)."""
    rows = []
    for name, comparison in comparisons.items():
        for key, effect, test in SUITE_TESTS:
            c = comparison[key]
            rows.append(
                {
                    "variant": name,
                    "metric": "normalized_score",
                    "test": test,
                    "effect": effect if key == "iqm_difference" else "P(improve)",
                    "effect_value": c["value"],
                    "effect_ci_low": c["ci_low"],
                    "effect_ci_high": c["ci_high"],
                    "p": c["p"],
                }
            )
    claims.holm_family(rows, alpha=alpha)
    for row in rows:
        if row["significant"]:
            row["verdict"] = f"established: {claims.direction(row)}"
        elif row["p"] is None:
            row["verdict"] = "no test: no variance in either variant"
        else:
            row["verdict"] = "not established"
    return rows


def per_env_table(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    reference: str,
    settings: stats.BootstrapSettings,
) -> list[dict]:
    """Per env and variant: the IQM of its normalized scores over seeds with the ordinary
    bootstrap CI (one env: no strata), and P(improve) over the reference with its CI.
    scores: {variant: {env: per-seed normalized scores}}."""
    rows = []
    envs = list(next(iter(scores.values())))
    for env in envs:
        y = np.asarray(scores[reference][env], dtype=float)
        for name, per_env in scores.items():
            x = np.asarray(per_env[env], dtype=float)
            iqm = stats.estimate(x, "iqm", settings, env, name, "normalized")
            row = {
                "env": env,
                "variant": name,
                "seeds": int(len(x)),
                "iqm": iqm["iqm"],
                "iqm_ci_low": iqm["iqm_ci_low"],
                "iqm_ci_high": iqm["iqm_ci_high"],
                "p_improve": None,
                "p_improve_ci_low": None,
                "p_improve_ci_high": None,
                "mann_whitney_p": None,
            }
            if name != reference:
                p = stats.p_improve(x, y, settings, env, name, reference, "normalized")
                row.update(
                    p_improve=p["value"],
                    p_improve_ci_low=p["ci_low"],
                    p_improve_ci_high=p["ci_high"],
                    mann_whitney_p=stats.mann_whitney_test(x, y)["p"],
                )
            rows.append(row)
    return rows


def suite_statistics(
    scores: Mapping[str, Mapping[str, np.ndarray]],
    reference: str,
    settings: stats.BootstrapSettings,
) -> dict:
    """Everything across envs. scores: {variant: {env: per-seed normalized scores}}, every
    variant with the same envs in the same order."""
    strata = {
        name: [np.asarray(v, dtype=float) for v in per_env.values()]
        for name, per_env in scores.items()
    }
    envs = [list(per_env) for per_env in scores.values()]
    if any(e != envs[0] for e in envs):
        raise DataError(f"the variants' envs differ: {envs}")
    taus = profile_taus(strata)
    comparisons = {
        name: compare(strata[name], strata[reference], settings, name, reference)
        for name in strata
        if name != reference
    }
    rows = claim_rows(comparisons)
    return {
        "tests": {
            "reference": reference,
            "alpha": stats.ALPHA,
            "correction": "holm",
            "family_size": sum(row["p"] is not None for row in rows),
            "family": "the two suite tests of every variant against the reference",
            "resamples": settings.resamples,
            "ci": settings.ci,
        },
        "aggregates": aggregates(strata, settings),
        "profiles": performance_profiles(strata, taus, settings),
        "comparisons": comparisons,
        "claims": rows,
        "per_env": per_env_table(scores, reference, settings),
    }
