"""The suite's aggregates (reinforce/analysis/suite.py) against rliable 1.2.0 on a small
fixture: point estimates exactly, stratified bootstrap CIs within Monte-Carlo error."""

import importlib
from unittest import mock

import numpy as np
import pandas.util._decorators as pandas_decorators
import pytest
import rliable.metrics as metrics  # requirements-dev.txt pins it (numpy and scipy only)
from scipy import stats as sps

from reinforce.analysis import stats, suite
from reinforce.io.errors import DataError


def _import_rliable_library():
    """rliable.library imports arch 7.x (rliable 1.2.0 refuses arch 8), whose one use of
    pandas' private deprecate_kwarg (a plot method's renamed keyword) predates the warning
    class that pandas 3 made its first argument: give it that class while arch loads. The
    bootstrap code the tests use never meets the decorator."""
    original = pandas_decorators.deprecate_kwarg

    def old_style(*args, **kwargs):
        if args and isinstance(args[0], str):
            return original(FutureWarning, *args, **kwargs)
        return original(*args, **kwargs)

    with mock.patch.object(pandas_decorators, "deprecate_kwarg", old_style):
        return importlib.import_module("rliable.library")


rly = _import_rliable_library()

RUNS, TASKS = 6, 3
SETTINGS = stats.BootstrapSettings(ci=0.95, resamples=20_000, seed=0)


@pytest.fixture
def scores():
    """Two variants, runs x tasks as rliable takes them; a task with ties (rounded)."""
    rng = np.random.default_rng(7)
    x = rng.normal([0.9, 0.5, 0.2], 0.3, size=(RUNS, TASKS))
    y = rng.normal([0.7, 0.5, 0.0], 0.3, size=(RUNS, TASKS))
    x[:, 2], y[:, 2] = np.round(x[:, 2], 1), np.round(y[:, 2], 1)
    return x, y


def strata(matrix):
    return [matrix[:, task] for task in range(matrix.shape[1])]


def test_point_estimates_are_rliables(scores):
    x, y = scores
    assert suite.aggregate_iqm(strata(x)) == pytest.approx(metrics.aggregate_iqm(x), abs=1e-15)
    assert suite.aggregate_mean(strata(x)) == pytest.approx(metrics.aggregate_mean(x), abs=1e-15)
    assert suite.average_p_improve(strata(x), strata(y)) == pytest.approx(
        metrics.probability_of_improvement(x, y), abs=1e-15
    )
    taus = np.linspace(-0.5, 1.5, 41)
    profiles, _ = rly.create_performance_profile({"x": x}, taus, reps=10)
    # the same fractions; ours averages per env, theirs pools runs: rounding apart
    np.testing.assert_allclose(
        suite.run_score_distribution(strata(x), taus), profiles["x"], rtol=0, atol=1e-15
    )


def test_p_improve_of_identical_variants_is_one_half(scores):
    x, _ = scores
    assert suite.average_p_improve(strata(x), strata(x)) == 0.5
    assert metrics.probability_of_improvement(x, x) == 0.5


def _rliable_ci(data, function, reps=20_000):
    _, intervals = rly.get_interval_estimates(
        {"k": data}, function, reps=reps, random_state=np.random.RandomState(3)
    )
    return intervals["k"]


def test_aggregate_cis_agree_with_rliables_stratified_bootstrap(scores):
    x, _ = scores
    theirs = _rliable_ci(
        x, lambda s: np.array([metrics.aggregate_iqm(s), metrics.aggregate_mean(s)])
    )
    for column, function in enumerate((suite.aggregate_iqm, suite.aggregate_mean)):
        low, high = suite.stratified_ci((strata(x),), function, SETTINGS, "x")
        # Monte-Carlo error of a 2.5% quantile over 20,000 resamples: well under 0.01 here
        assert low == pytest.approx(theirs[0, column], abs=0.01)
        assert high == pytest.approx(theirs[1, column], abs=0.01)


@pytest.mark.slow  # rliable's own bootstrap, thousands of resamples, beside ours
def test_p_improve_ci_agrees_with_rliables_independent_stratified_bootstrap(scores):
    x, y = scores
    theirs = _rliable_ci(
        [x, y], lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps=5_000
    )
    low, high = suite.stratified_ci(
        (strata(x), strata(y)), suite.average_p_improve, SETTINGS, "x", "y"
    )
    assert low == pytest.approx(theirs[0, 0], abs=0.02)
    assert high == pytest.approx(theirs[1, 0], abs=0.02)


def test_profile_band_agrees_with_rliables(scores):
    x, _ = scores
    taus = np.linspace(-0.5, 1.5, 21)
    _, bands = rly.create_performance_profile({"x": x}, taus, reps=5_000)
    settings = stats.BootstrapSettings(resamples=5_000)
    low, high = suite.stratified_ci(
        (strata(x),), lambda s: suite.run_score_distribution(s, taus), settings, "x"
    )
    # fractions move in steps of 1 / (runs x tasks); a quantile may sit one step over
    step = 1 / (RUNS * TASKS)
    assert np.max(np.abs(low - bands["x"][0])) <= step + 1e-12
    assert np.max(np.abs(high - bands["x"][1])) <= step + 1e-12


def test_the_bootstrap_resamples_within_each_env_only():
    """Env 0 always 0, env 1 always 1: any resample within envs keeps the mean at 0.5,
    where a bootstrap pooling the envs would move it."""
    constant = [np.zeros(5), np.ones(5)]
    low, high = suite.stratified_ci((constant,), suite.aggregate_mean, SETTINGS, "c")
    assert low == high == 0.5


def test_ragged_envs_are_strata_of_their_own_size():
    strata_x = [np.array([0.0, 1.0, 2.0]), np.array([5.0, 6.0])]
    assert suite.aggregate_mean(strata_x) == pytest.approx((1.0 + 5.5) / 2)
    assert suite.aggregate_iqm(strata_x) == pytest.approx(sps.trim_mean([0, 1, 2, 5, 6], 0.25))


def test_one_env_permutation_p_matches_scipys_exact_test():
    """With one env the stratified test is the ordinary one: scipy's exact p (every
    relabeling of 5 + 5 runs) within the Monte-Carlo error of ours."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.8, 0.3, 5), rng.normal(0.3, 0.3, 5)
    exact = sps.permutation_test(
        (x, y),
        lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
        permutation_type="independent",
        vectorized=True,
        n_resamples=np.inf,
    ).pvalue
    ours = suite.stratified_permutation_test(
        [x], [y], lambda a, b: np.mean(a[0], axis=-1) - np.mean(b[0], axis=-1), SETTINGS, "t"
    )["p"]
    assert ours == pytest.approx(exact, abs=0.01)


def test_the_permutation_test_relabels_within_envs():
    """X beats Y by 0.1 in each env, while the envs differ by 10: within-env relabeling
    finds the shift; a pooled relabeling would drown it in the envs' difference."""
    base = np.linspace(0, 0.05, 6)
    xs = [base + 0.1, base + 10.1]
    ys = [base, base + 10.0]
    result = suite.stratified_permutation_test(xs, ys, suite.p_improve_shift, SETTINGS, "s")
    assert result["statistic"] == 0.5  # every run of X beats every run of Y in its env
    assert result["p"] < 0.01


def test_no_variance_means_no_test():
    same = [np.ones(4), np.zeros(4)]
    assert suite.stratified_permutation_test(same, same, suite.iqm_difference, SETTINGS, "n") == {
        "statistic": 0.0,
        "p": None,
    }


def test_claims_are_one_holm_family_with_verdicts(scores):
    x, y = scores
    by_env = {
        "article": {f"env{t}": y[:, t] for t in range(TASKS)},
        "better": {f"env{t}": x[:, t] + 1.0 for t in range(TASKS)},
        "same": {f"env{t}": y[:, t] for t in range(TASKS)},
    }
    settings = stats.BootstrapSettings(resamples=2_000)
    result = suite.suite_statistics(by_env, "article", settings)
    rows = {(r["variant"], r["effect"]): r for r in result["claims"]}
    assert result["tests"]["family_size"] == 4
    assert rows[("better", "P(improve)")]["effect_value"] == 1.0
    assert rows[("better", "IQM difference")]["verdict"] == "established: higher"
    assert rows[("same", "IQM difference")]["effect_value"] == 0.0
    assert rows[("same", "IQM difference")]["verdict"] == "not established"
    ps = sorted(r["p"] for r in result["claims"])
    holm = sorted(r["p_holm"] for r in result["claims"])
    assert holm[0] == pytest.approx(min(1.0, 4 * ps[0]))
    agg = result["aggregates"]["better"]["iqm"]
    assert agg["value"] == pytest.approx(metrics.aggregate_iqm(x + 1.0))
    assert agg["ci_low"] <= agg["value"] <= agg["ci_high"]
    per_env = [r for r in result["per_env"] if r["variant"] == "better"]
    assert [r["p_improve"] for r in per_env] == [1.0, 1.0, 1.0]


def test_normalized_score_and_a_reference_at_chance():
    assert suite.normalized_score([25.0, 500.0], 25.0, 500.0).tolist() == [0.0, 1.0]
    with pytest.raises(DataError, match="Pendulum-v1"):
        suite.normalized_score([1.0], -100.0, -100.0, "Pendulum-v1")
