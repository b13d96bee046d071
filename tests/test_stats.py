"""The statistics of the aggregate stage, against hand-computed values, and its edge cases."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from reinforce.analysis import stats
from reinforce.analysis.stats import BootstrapSettings

FAST = BootstrapSettings(ci=0.95, resamples=2000, seed=0)


# --------------------------------------------------------------------------------------
# estimators


def test_iqm_hand_computed():
    # n=8: trim_mean cuts int(0.25*8)=2 values from each end -> mean(3, 4, 5, 6)
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)
    # outliers at both ends do not move it: sorted middle 4 of 8 are 1, 2, 3, 100
    assert stats.iqm(np.array([1000.0, 0, 0, 1, 2, 3, 100, 100])) == pytest.approx(26.5)
    # n=11: cuts 2 from each end -> mean(3..9) = 6
    assert stats.iqm(np.array([*range(1, 11), 1000.0])) == pytest.approx(6.0)
    # n < 4 cuts nothing: the mean
    assert stats.iqm(np.array([1.0, 2.0, 6.0])) == pytest.approx(3.0)


def test_prob_improvement_hand_computed():
    separated_hi, separated_lo = np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0, 3.0])
    assert stats.prob_improvement(separated_hi, separated_lo) == 1.0
    assert stats.prob_improvement(separated_lo, separated_lo) == 0.5
    assert stats.prob_improvement(separated_lo, separated_hi) == 0.0
    # pairs (1,2): loss, (3,2): win -> 0.5; (2,2): tie counts half, (3,2): win -> 0.75
    assert stats.prob_improvement(np.array([1.0, 3.0]), np.array([2.0])) == 0.5
    assert stats.prob_improvement(np.array([2.0, 3.0]), np.array([2.0])) == 0.75


def test_p_improve_ci_on_separated_identical_reversed():
    hi, lo = np.array([400.0, 450, 500, 480]), np.array([10.0, 20, 30, 25, 15])
    assert stats.p_improve(hi, lo, FAST, "x") == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert stats.p_improve(lo, hi, FAST, "x") == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    same = stats.p_improve(lo, lo, FAST, "x")
    assert same["value"] == 0.5
    assert same["ci_low"] < 0.5 < same["ci_high"]


def test_bootstrap_ci_contains_estimate_and_narrows_with_more_seeds():
    rng = np.random.default_rng(42)
    widths = []
    for n in (5, 20, 80):
        values = rng.normal(100.0, 20.0, size=n)
        out = stats.summarize(values, FAST, "v", "final_return")
        for name in stats.ESTIMATORS:
            assert out[f"{name}_ci_low"] <= out[name] <= out[f"{name}_ci_high"]
        widths.append(out["iqm_ci_high"] - out["iqm_ci_low"])
    assert widths[0] > widths[1] > widths[2]


def test_bootstrap_is_reproducible_and_keyed_by_name():
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    a = stats.summarize(values, FAST, "article", "final_return")
    assert a == stats.summarize(values, FAST, "article", "final_return")
    other = stats.summarize(values, FAST, "lr-1e-3", "final_return")
    assert a["iqm"] == other["iqm"] and a != other  # same data, independent draws


def test_bootstrap_ci_follows_confidence_level():
    values = np.random.default_rng(0).normal(size=30)
    wide = stats.summarize(values, BootstrapSettings(0.99, 2000, 0), "v")
    narrow = stats.summarize(values, BootstrapSettings(0.5, 2000, 0), "v")
    width = {k: o["mean_ci_high"] - o["mean_ci_low"] for k, o in (("w", wide), ("n", narrow))}
    assert width["w"] > width["n"]


def test_single_seed_gives_undefined_ci_without_crash():
    out = stats.summarize(np.array([321.0]), FAST, "v")
    assert out["iqm"] == out["mean"] == out["median"] == 321.0
    assert out["iqm_ci_low"] is None and out["iqm_ci_high"] is None
    p = stats.p_improve(np.array([5.0]), np.array([1.0, 2.0]), FAST, "v")
    assert p == {"value": 1.0, "ci_low": None, "ci_high": None}


def test_constant_data_gives_point_ci_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = stats.summarize(np.full(7, 500.0), FAST, "v")
        p = stats.p_improve(np.full(4, 500.0), np.full(5, 500.0), FAST, "v")
    for name in stats.ESTIMATORS:
        assert out[name] == out[f"{name}_ci_low"] == out[f"{name}_ci_high"] == 500.0
    assert p == {"value": 0.5, "ci_low": 0.5, "ci_high": 0.5}


def test_band_and_profile_shapes():
    smooth = np.tile(np.linspace(0, 100, 1000), (6, 1)) + np.arange(6)[:, None]
    band = stats.iqm_band(smooth, FAST, "v", max_points=250)
    assert band["episode"][0] == 1 and band["episode"][-1] == 1000
    assert len(band["episode"]) <= 251
    assert np.all(band["ci_low"] <= band["iqm"] + 1e-9)
    assert np.all(band["iqm"] <= band["ci_high"] + 1e-9)
    frac, low, high = stats.performance_profile([1.0, 2.0, 3.0, 4.0], [0.0, 2.5, 5.0], FAST)
    assert list(frac) == [1.0, 0.5, 0.0]  # score >= threshold
    assert low[0] == high[0] == 1.0 and low[2] == high[2] == 0.0


# --------------------------------------------------------------------------------------
# tests, effect size, power

X = np.array([1.0, 2.0, 3.0, 4.0])
Y = np.array([2.0, 4.0, 6.0, 8.0, 10.0])


def test_welch_hand_computed_and_against_scipy():
    from scipy import stats as sps

    # means 2.5 and 6, sample variances 5/3 and 10
    se = math.sqrt((5 / 3) / 4 + 10 / 5)
    t = (2.5 - 6) / se
    df = se**4 / (((5 / 3) / 4) ** 2 / 3 + (10 / 5) ** 2 / 4)  # Welch-Satterthwaite
    p = 2 * sps.t.sf(abs(t), df)
    out = stats.welch_test(X, Y)
    assert t == pytest.approx(-2.251436, abs=1e-6)
    assert out["t"] == pytest.approx(t, rel=1e-12)
    assert out["p"] == pytest.approx(p, rel=1e-10)
    reference = sps.ttest_ind(X, Y, equal_var=False)
    assert (out["t"], out["p"]) == (float(reference.statistic), float(reference.pvalue))


def test_mann_whitney_hand_computed_and_against_scipy():
    from scipy import stats as sps

    x, y = np.array([5.0, 3.0, 3.0, 9.0]), np.array([1.0, 3.0, 4.0])
    # pairs x > y: 5 beats 1,3,4; each 3 beats 1 and ties 3; 9 beats all -> 3+1.5+1.5+3
    out = stats.mann_whitney_test(x, y)
    assert out["u"] == 9.0
    assert out["u"] / (len(x) * len(y)) == stats.prob_improvement(x, y)
    assert out["p"] == float(sps.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    # no ties, small samples: scipy's exact p; 4 vs 5 fully separated: 2 / C(9, 4)
    assert stats.mann_whitney_test(X + 100, Y)["p"] == pytest.approx(2 / math.comb(9, 4))


def test_holm_hand_computed_over_every_p_value():
    def comparison(p_welch, p_mwu):
        return {"welch": {"t": 1.0, "p": p_welch}, "mann_whitney": {"u": 1.0, "p": p_mwu}}

    comparisons = {
        "a": comparison(0.01, 0.04),
        "b": comparison(0.03, 0.2),
        "c": comparison(None, 0.5),
    }
    assert stats.holm(comparisons) == 5
    # sorted 0.01, 0.03, 0.04, 0.2, 0.5 times 5, 4, 3, 2, 1, then the running maximum
    assert comparisons["a"]["welch"]["p_holm"] == pytest.approx(0.05)
    assert comparisons["b"]["welch"]["p_holm"] == pytest.approx(0.12)
    assert comparisons["a"]["mann_whitney"]["p_holm"] == pytest.approx(0.12)
    assert comparisons["b"]["mann_whitney"]["p_holm"] == pytest.approx(0.4)
    assert comparisons["c"]["mann_whitney"]["p_holm"] == pytest.approx(0.5)
    assert comparisons["c"]["welch"]["p_holm"] is None
    assert comparisons["c"]["welch"]["significant"] is None
    assert [comparisons[k]["welch"]["significant"] for k in "ab"] == [False, False]
    from statsmodels.stats.multitest import multipletests

    _, reference, _, _ = multipletests([0.01, 0.04, 0.03, 0.2, 0.5], method="holm")
    got = [
        comparisons["a"]["welch"]["p_holm"],
        comparisons["a"]["mann_whitney"]["p_holm"],
        comparisons["b"]["welch"]["p_holm"],
        comparisons["b"]["mann_whitney"]["p_holm"],
        comparisons["c"]["mann_whitney"]["p_holm"],
    ]
    assert got == pytest.approx(list(reference))
    single = {"a": comparison(0.01, None)}
    assert stats.holm(single) == 1 and single["a"]["welch"]["p_holm"] == 0.01
    assert single["a"]["welch"]["significant"] is True


def test_hedges_g_hand_computed_with_reproducible_ci():
    sd = math.sqrt((3 * 5 / 3 + 4 * 10) / 7)
    g = (2.5 - 6) / sd * (1 - 3 / (4 * 9 - 9))
    assert stats.pooled_sd(X, Y) == pytest.approx(sd)
    assert g == pytest.approx(-1.227, abs=1e-3)
    assert stats.hedges_g(X, Y) == pytest.approx(g)
    out = stats.effect_size(X, Y, FAST, "v", "article")
    assert out["value"] == pytest.approx(g)
    assert out["ci_low"] < g < out["ci_high"] < 0
    assert out == stats.effect_size(X, Y, FAST, "v", "article")
    assert out != stats.effect_size(X, Y, FAST, "w", "article")
    # batches: one g per row, NaN where a row has no spread
    rows = stats.hedges_g(np.stack([X, np.ones(4)]), np.stack([Y, np.ones(5)]))
    assert rows[0] == pytest.approx(g) and np.isnan(rows[1])


def _power(effect: float, n1: int, n2: int, alpha: float = 0.05) -> float:
    """Power of the two-sided pooled t-test from scipy's noncentral t (the reference)."""
    from scipy import stats as sps

    df = n1 + n2 - 2
    nc = effect * math.sqrt(n1 * n2 / (n1 + n2))
    crit = sps.t.ppf(1 - alpha / 2, df)
    return sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)


def test_power_statement_against_statsmodels_and_the_noncentral_t():
    from statsmodels.stats.power import TTestIndPower

    rng = np.random.default_rng(1)
    x, y = rng.normal(400, 80, 10), rng.normal(300, 120, 10)
    out = stats.power_statement(x, y)
    sd = math.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / 2)  # equal n
    assert out["pooled_sd"] == pytest.approx(sd)
    mde = TTestIndPower().solve_power(effect_size=None, nobs1=10, alpha=0.05, power=0.8, ratio=1.0)
    assert out["min_detectable_effect"] == pytest.approx(mde, rel=1e-9)
    assert out["min_detectable_difference"] == pytest.approx(mde * sd, rel=1e-9)
    assert _power(out["min_detectable_effect"], 10, 10) == pytest.approx(0.8, abs=1e-6)
    d = (x.mean() - y.mean()) / sd
    assert out["observed_effect"] == pytest.approx(d)
    n = out["seeds_needed"]
    assert _power(abs(d), n, n) >= 0.8 > _power(abs(d), n - 1, n - 1)
    # unequal seed counts: the ratio goes to statsmodels
    uneven = stats.power_statement(x, y[:5])
    assert uneven["min_detectable_effect"] == pytest.approx(
        TTestIndPower().solve_power(effect_size=None, nobs1=10, alpha=0.05, power=0.8, ratio=0.5),
        rel=1e-9,
    )
    assert _power(uneven["min_detectable_effect"], 10, 5) == pytest.approx(0.8, abs=1e-6)


def test_seeds_needed_known_values_and_limits():
    # Cohen's table: d = 0.5 -> 64 per group, d = 0.8 -> 26, d = 0.2 -> 394
    assert [stats.seeds_needed(d) for d in (0.5, 0.8, 0.2)] == [64, 26, 394]
    assert stats.seeds_needed(6.0) == stats.seeds_needed(50.0) == 2  # 2 seeds suffice
    assert stats.seeds_needed(1e-12) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats.seeds_needed(20.0)


def test_comparison_edge_cases_give_none_never_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = stats.compare(np.array([5.0]), Y, FAST, "v")
        equal = stats.compare(np.full(4, 7.0), np.full(3, 7.0), FAST, "v")
        same_mean = stats.compare(np.array([1.0, 3.0]), np.array([0.0, 4.0]), FAST, "v")
    assert one["welch"] == {"t": None, "p": None}
    assert one["hedges_g"] == {"value": None, "ci_low": None, "ci_high": None}
    assert set(one["power"].values()) == {None}
    assert one["mann_whitney"]["u"] == 2.0  # 5 beats 2 and 4
    assert equal["welch"] == {"t": None, "p": None}
    assert equal["mann_whitney"] == {"u": None, "p": None}
    assert equal["power"]["pooled_sd"] == 0.0
    assert equal["power"]["min_detectable_effect"] is not None  # depends on n only
    assert equal["power"]["min_detectable_difference"] is None
    assert same_mean["mean_difference"] == 0.0 and same_mean["welch"]["t"] == 0.0
    assert same_mean["power"]["observed_effect"] == 0.0
    assert same_mean["power"]["seeds_needed"] is None
    for out in (one, equal, same_mean):
        assert all(
            v is None or math.isfinite(v)
            for v in stats.flatten(out).values()
            if not isinstance(v, bool)
        )


# --------------------------------------------------------------------------------------
# solving


def test_episodes_to_solve_hand_computed():
    # window 2: averages over episodes (1,2)=0, (2,3)=5, (3,4)=10 -> solved at episode 4
    assert stats.episodes_to_solve([0, 0, 10, 10, 10], window=2, threshold=10) == 4
    assert stats.episodes_to_solve([10, 10], window=2, threshold=10) == 2
    assert stats.episodes_to_solve([0, 9, 9, 9], window=2, threshold=10) is None
    assert stats.episodes_to_solve([500] * 5, window=10, threshold=10) is None  # too short


def test_median_episodes_to_solve_counts_unsolved_as_never():
    assert stats.median_episodes_to_solve([100, 300]) == 200
    assert stats.median_episodes_to_solve([100, 200, None]) == 200
    assert stats.median_episodes_to_solve([100, None, None]) is None
    assert stats.median_episodes_to_solve([100, 200, None, None]) is None
    assert stats.median_episodes_to_solve([]) is None


def test_trailing_mean_hand_computed():
    out = stats.trailing_mean(np.array([[2.0, 4.0, 6.0, 8.0]]), window=2)
    assert out.tolist() == [[2.0, 3.0, 5.0, 7.0]]


# --------------------------------------------------------------------------------------
# the aggregate stage on synthetic runs


def write_params(
    root: Path,
    variants: dict,
    window: int = 5,
    threshold: float = 100.0,
    resamples: int = 500,
    eval_episodes: int = 100,
) -> None:
    lines = [
        f"env: {{id: CartPole-v1, solved_threshold: {threshold}, solve_window: {window}}}",
        "seeds: [0, 1, 2]",
        "train: {episodes: 20}",
        f"evaluate: {{episodes: {eval_episodes}}}",
        "variants:",
    ]
    lines += [f"  {name}: {json.dumps(overrides)}" for name, overrides in variants.items()]
    lines += [
        f"report: {{ci: 0.95, bootstrap_resamples: {resamples}, bootstrap_seed: 0, "
        "smoothing_window: 3}"
    ]
    (root / "params.yaml").write_text("\n".join(lines) + "\n")


def write_runs(
    root: Path, variant: str, curves: dict[int, list[float]], finals: dict[int, list[float]]
) -> None:
    train, ev = root / "runs" / variant / "train", root / "runs" / variant / "eval"
    train.mkdir(parents=True, exist_ok=True)
    ev.mkdir(parents=True, exist_ok=True)
    rows = ["seed,episode,return,length,loss"]
    for seed, returns in sorted(curves.items()):
        rows += [f"{seed},{e},{r},{int(r)},0.5" for e, r in enumerate(returns, start=1)]
    (train / "curves.csv").write_text("\n".join(rows) + "\n")
    rows = ["seed,episode,return"]
    for seed, returns in sorted(finals.items()):
        rows += [f"{seed},{e},{r}" for e, r in enumerate(returns, start=1)]
    (ev / "eval.csv").write_text("\n".join(rows) + "\n")
    (train / "environment.json").write_text('{"python": "3.11", "torch": "test"}\n')


@pytest.fixture(autouse=True)
def _runs_as_written(monkeypatch):
    # These runs are written by hand to reach the statistics' edge cases (one seed beside
    # three, two evaluation episodes); the pipeline cannot make them, and aggregate's check
    # of runs/ against params.yaml (reinforce/io/inputs.py) is tested in tests/test_safety.py.
    monkeypatch.setattr("reinforce.analysis.stats.check_runs", lambda *args: None)


def aggregate(root: Path) -> dict:
    """Run the stage; return the per-variant full statistics (reports/statistics.json),
    after checking that metrics.json is exactly their headline."""
    from stages import aggregate as stage

    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert stage.main([]) == 0
    finally:
        os.chdir(cwd)
    full = read_json(root / stats.STATISTICS_PATH)
    assert read_json(root / "metrics.json") == stats.headline(full)
    return full["variants"]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in {path.name}"))


def test_aggregate_metric_names_and_values(tmp_path):
    write_params(tmp_path, {"article": {}, "lr-1e-3": {"lr": 0.001}})
    ramp = [float(10 * e) for e in range(1, 21)]  # moving avg over 5 reaches 100 at ep 12
    write_runs(
        tmp_path,
        "article",
        {0: ramp, 1: ramp, 2: [1.0] * 20},
        {0: [200.0, 200.0], 1: [100.0, 300.0], 2: [5.0, 7.0]},
    )
    write_runs(
        tmp_path,
        "lr-1e-3",
        {0: [1.0] * 20, 1: [2.0] * 20, 2: [3.0] * 20},
        {0: [1.0], 1: [2.0], 2: [3.0]},
    )
    metrics = aggregate(tmp_path)
    # what reinforce/analysis adds (tests/test_analysis.py) is left out here
    a, b = (
        {k: v for k, v in metrics[name].items() if k not in ("time_to_solve", "cost", "claims")}
        for name in ("article", "lr-1e-3")
    )
    for entry in (a, b):
        entry["final_return"] = {
            k: v for k, v in entry["final_return"].items() if k != "at_ceiling"
        }
    assert sorted(stats.flatten(a)) == sorted(
        [
            "seeds",
            "solve_rate",
            "episodes_to_solve.median",
            "episodes_to_solve.solved_seeds",
            *[
                f"{m}.{e}{s}"
                for m in ("final_return", "auc")
                for e in stats.ESTIMATORS
                for s in ("", "_ci_low", "_ci_high")
            ],
        ]
    )
    comparison = [
        f"comparison.{k}"
        for k in (
            "mean_difference",
            "welch.t",
            "welch.p",
            "welch.p_holm",
            "welch.significant",
            "mann_whitney.u",
            "mann_whitney.p",
            "mann_whitney.p_holm",
            "mann_whitney.significant",
            "hedges_g.value",
            "hedges_g.ci_low",
            "hedges_g.ci_high",
            "power.pooled_sd",
            "power.min_detectable_effect",
            "power.min_detectable_difference",
            "power.observed_effect",
            "power.seeds_needed",
        )
    ]
    assert sorted(stats.flatten(b)) == sorted(
        [*stats.flatten(a), "p_improve.value", "p_improve.ci_low", "p_improve.ci_high", *comparison]
    )
    headline = read_json(tmp_path / "metrics.json")
    assert headline["article"] == {
        "iqm": a["final_return"]["iqm"],
        "iqm_low": a["final_return"]["iqm_ci_low"],
        "iqm_high": a["final_return"]["iqm_ci_high"],
        "solve_rate": a["solve_rate"],
        "episodes_to_solve": 12.0,
        "n_seeds": 3,
        "steps_to_solve": 780.0,
    }
    tests = read_json(tmp_path / stats.STATISTICS_PATH)["tests"]
    family = tests.pop("family")
    # one family: final return and sample efficiency (2 tests each), time to solve in
    # episodes and steps, solve rate; but no log-rank in steps: every lr-1e-3 seed is
    # censored (at 20, 40, 60 steps) before the first article seed solves (780)
    assert tests == {
        "reference": "article",
        "alpha": 0.05,
        "power": 0.8,
        "correction": "holm",
        "family_size": 6,
        "ceiling": 500.0,
    }
    assert "every test" in family
    assert a["seeds"] == 3
    assert a["final_return"]["mean"] == pytest.approx((200 + 200 + 6) / 3, abs=1e-6)
    assert a["final_return"]["median"] == 200.0
    assert a["solve_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert a["episodes_to_solve"] == {"median": 12.0, "solved_seeds": 2}
    assert a["auc"]["median"] == 105.0  # mean of 10..200
    assert b["p_improve"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    seeds = (tmp_path / "reports/tables/seeds.csv").read_text().splitlines()
    assert (
        seeds[0] == "variant,seed,final_return,auc,solved,episodes_to_solve,"
        "best_moving_average,episodes,env_steps,env_steps_to_solve,"
        "gradient_steps,gradient_steps_to_solve"
    )
    # steps: lengths 10, 20, ..., 120 through episode 12: 780; one gradient step an episode
    assert seeds[1] == "article,0,200.0,105.0,true,12,180.0,20,2100,780,20,12"
    # unsolved: kept, empty episode and steps to solve
    assert seeds[3] == "article,2,6.0,1.0,false,,1.0,20,20,,20,"
    summary = (tmp_path / "reports/tables/summary.csv").read_text().splitlines()
    assert summary[0].startswith("variant,seeds,final_return.iqm,")
    assert [line.split(",")[0] for line in summary[1:]] == ["article", "lr-1e-3"]


def test_aggregate_edge_cases_one_seed_unsolved_constant(tmp_path):
    write_params(tmp_path, {"article": {}, "one-seed": {"lr": 0.1}, "flat": {"lr": 0.2}})
    write_runs(
        tmp_path,
        "article",
        {s: [1.0 + s] * 20 for s in range(3)},
        {s: [10.0 + s] for s in range(3)},
    )  # no seed solves
    write_runs(tmp_path, "one-seed", {0: [500.0] * 20}, {0: [500.0, 499.0]})
    write_runs(
        tmp_path, "flat", {s: [42.0] * 20 for s in range(3)}, {s: [42.0] * 4 for s in range(3)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = aggregate(tmp_path)
    art, one, flat = metrics["article"], metrics["one-seed"], metrics["flat"]
    assert art["solve_rate"] == 0.0
    assert art["episodes_to_solve"] == {"median": None, "solved_seeds": 0}
    assert one["seeds"] == 1 and one["solve_rate"] == 1.0
    assert one["final_return"]["iqm"] == 499.5
    assert one["final_return"]["iqm_ci_low"] is None
    assert one["p_improve"] == {"value": 1.0, "ci_low": None, "ci_high": None}
    assert one["episodes_to_solve"]["median"] == 5.0
    f = flat["final_return"]
    assert f["iqm"] == f["iqm_ci_low"] == f["iqm_ci_high"] == 42.0
    assert flat["p_improve"]["value"] == 1.0
    # one seed: no Welch, no effect size, no power; Mann-Whitney is defined (and weak)
    c = one["comparison"]
    assert c["welch"] == {"t": None, "p": None, "p_holm": None, "significant": None}
    assert c["hedges_g"] == {"value": None, "ci_low": None, "ci_high": None}
    assert set(c["power"].values()) == {None}
    assert c["mann_whitney"]["u"] == 3.0 and c["mann_whitney"]["p_holm"] is not None
    # a constant variant against a varying reference: every number defined
    c = flat["comparison"]
    assert c["mean_difference"] == 31.0
    assert None not in stats.flatten(c).values()
    assert metrics["article"].get("comparison") is None
    headline = read_json(tmp_path / "metrics.json")
    assert headline["article"]["episodes_to_solve"] is None  # all unsolved
    assert headline["one-seed"]["iqm_low"] is None
    # the family: Welch of flat, Mann-Whitney of both
    # final return: Mann-Whitney of one-seed, both tests of flat; sample efficiency the
    # same; log-rank in episodes for one-seed only (no seed of flat or article solves; in
    # steps every article seed is censored before one-seed solves); both Fisher tests
    assert read_json(tmp_path / stats.STATISTICS_PATH)["tests"]["family_size"] == 9
    seeds = (tmp_path / "reports/tables/seeds.csv").read_text()
    assert "one-seed,0,499.5" in seeds
    assert len(seeds.splitlines()) == 1 + 3 + 1 + 3  # unsolved seeds never dropped


def test_aggregate_all_equal_values(tmp_path):
    write_params(tmp_path, {"article": {}, "same": {"lr": 0.1}, "higher": {"lr": 0.2}})
    for name, value in (("article", 42.0), ("same", 42.0), ("higher", 50.0)):
        write_runs(
            tmp_path, name, {s: [1.0] * 20 for s in range(3)}, {s: [value] * 2 for s in range(3)}
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = aggregate(tmp_path)
    same, higher = metrics["same"]["comparison"], metrics["higher"]["comparison"]
    assert same["mean_difference"] == 0.0
    assert same["welch"]["p"] is None and same["mann_whitney"]["p"] is None
    assert same["hedges_g"]["value"] is None
    assert same["power"]["pooled_sd"] == 0.0
    assert same["power"]["min_detectable_difference"] is None
    assert same["power"]["seeds_needed"] is None and same["power"]["observed_effect"] is None
    # constant but different: no standard error for Welch; every pair ordered for MWU
    assert higher["welch"]["p"] is None and higher["hedges_g"]["value"] is None
    assert higher["mann_whitney"]["u"] == 9.0 and 0 < higher["mann_whitney"]["p"] < 1
    # the family is every test of the report (tests/test_analysis.py), not this one alone
    assert higher["mann_whitney"]["p_holm"] >= higher["mann_whitney"]["p"]
    text = (tmp_path / stats.STATISTICS_PATH).read_text()
    assert "NaN" not in text and "Infinity" not in text


def test_chosen_values_go_into_both_json_files(tmp_path):
    from reinforce.io.config import load_config

    write_params(tmp_path, {"article": {}, "tuned": {"lr": 0.5}})
    for v in ("article", "tuned"):
        write_runs(tmp_path, v, {0: [1.0] * 20, 1: [2.0] * 20}, {0: [1.0], 1: [2.0]})
    config = load_config(tmp_path / "params.yaml", check_env=False)
    plain = stats.aggregate_outputs(config, tmp_path)
    out = stats.aggregate_outputs(config, tmp_path, chosen={"tuned": {"lr": 0.5 / 3}})
    headline = json.loads(out["metrics.json"])
    assert headline["tuned"]["chosen"] == {"lr": 0.166667}
    assert "chosen" not in headline["article"]
    assert json.loads(out[stats.STATISTICS_PATH])["variants"]["tuned"]["chosen"] == {"lr": 0.166667}
    assert "chosen.lr" in out["reports/tables/summary.csv"].splitlines()[0]
    assert json.loads(plain["metrics.json"]) == {
        name: {k: v for k, v in entry.items() if k != "chosen"} for name, entry in headline.items()
    }


def test_aggregate_is_byte_deterministic(tmp_path):
    write_params(tmp_path, {"article": {}, "b": {"lr": 0.5}})
    rng = np.random.default_rng(3)
    for v in ("article", "b"):
        write_runs(
            tmp_path,
            v,
            {s: list(rng.integers(1, 200, 20).astype(float)) for s in range(3)},
            {s: list(rng.integers(1, 500, 3).astype(float)) for s in range(3)},
        )
    aggregate(tmp_path)
    files = [
        "metrics.json",
        stats.STATISTICS_PATH,
        "reports/tables/summary.csv",
        "reports/tables/seeds.csv",
    ]
    first = {f: (tmp_path / f).read_bytes() for f in files}
    aggregate(tmp_path)
    assert first == {f: (tmp_path / f).read_bytes() for f in files}


def test_reference_is_article_or_first_variant(tmp_path):
    assert stats.reference_variant(["x", "article", "y"]) == "article"
    assert stats.reference_variant(["x", "y"]) == "x"
    write_params(tmp_path, {"base": {}, "other": {"lr": 0.5}})
    for v in ("base", "other"):
        write_runs(tmp_path, v, {0: [1.0] * 20, 1: [2.0] * 20}, {0: [1.0], 1: [2.0]})
    metrics = aggregate(tmp_path)
    assert "p_improve" not in metrics["base"] and "p_improve" in metrics["other"]


def test_missing_run_is_a_clear_error(tmp_path, capsys):
    from stages import aggregate as stage

    write_params(tmp_path, {"article": {}, "ghost": {"lr": 0.5}})
    write_runs(tmp_path, "article", {0: [1.0] * 20}, {0: [1.0]})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert stage.main([]) == 1
    finally:
        os.chdir(cwd)
    assert "runs/ghost/train/curves.csv: not found" in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()


def test_json_has_no_nan_and_fixed_rounding():
    text = stats.metrics_json({"v": {"a": 1 / 3, "b": None, "c": -0.0, "d": np.float64(2.5)}})
    assert json.loads(text) == {"v": {"a": 0.333333, "b": None, "c": 0.0, "d": 2.5}}
    assert "NaN" not in text and math.isfinite(json.loads(text)["v"]["a"])
