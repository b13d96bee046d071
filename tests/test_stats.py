"""The statistics of the aggregate stage, against hand-computed values, and its edge cases."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from reinforce import stats
from reinforce.stats import BootstrapSettings

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


def write_params(root: Path, variants: dict, window: int = 5, threshold: float = 100.0,
                 resamples: int = 500) -> None:
    lines = [f"env: {{id: CartPole-v1, solved_threshold: {threshold}, solve_window: {window}}}",
             "seeds: [0, 1, 2]", "train: {episodes: 20}", "variants:"]
    lines += [f"  {name}: {json.dumps(overrides)}" for name, overrides in variants.items()]
    lines += [f"report: {{ci: 0.95, bootstrap_resamples: {resamples}, bootstrap_seed: 0, "
              "smoothing_window: 3}"]
    (root / "params.yaml").write_text("\n".join(lines) + "\n")


def write_runs(root: Path, variant: str, curves: dict[int, list[float]],
               finals: dict[int, list[float]]) -> None:
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


def aggregate(root: Path) -> dict:
    from stages import aggregate as stage

    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert stage.main([]) == 0
    finally:
        os.chdir(cwd)
    return json.loads((root / "metrics.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))


def test_aggregate_metric_names_and_values(tmp_path):
    write_params(tmp_path, {"article": {}, "lr-1e-3": {"lr": 0.001}})
    ramp = [float(10 * e) for e in range(1, 21)]  # moving avg over 5 reaches 100 at ep 12
    write_runs(tmp_path, "article", {0: ramp, 1: ramp, 2: [1.0] * 20},
               {0: [200.0, 200.0], 1: [100.0, 300.0], 2: [5.0, 7.0]})
    write_runs(tmp_path, "lr-1e-3", {0: [1.0] * 20, 1: [2.0] * 20, 2: [3.0] * 20},
               {0: [1.0], 1: [2.0], 2: [3.0]})
    metrics = aggregate(tmp_path)
    a, b = metrics["article"], metrics["lr-1e-3"]
    assert sorted(stats.flatten(a)) == sorted([
        "seeds", "solve_rate", "episodes_to_solve.median", "episodes_to_solve.solved_seeds",
        *[f"{m}.{e}{s}" for m in ("final_return", "auc") for e in stats.ESTIMATORS
          for s in ("", "_ci_low", "_ci_high")]])
    assert sorted(stats.flatten(b)) == sorted(
        [*stats.flatten(a), "p_improve.value", "p_improve.ci_low", "p_improve.ci_high"])
    assert a["seeds"] == 3
    assert a["final_return"]["mean"] == pytest.approx((200 + 200 + 6) / 3, abs=1e-6)
    assert a["final_return"]["median"] == 200.0
    assert a["solve_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert a["episodes_to_solve"] == {"median": 12.0, "solved_seeds": 2}
    assert a["auc"]["median"] == 105.0  # mean of 10..200
    assert b["p_improve"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    seeds = (tmp_path / "reports/tables/seeds.csv").read_text().splitlines()
    assert seeds[0] == "variant,seed,final_return,auc,solved,episodes_to_solve," \
                       "best_moving_average,episodes"
    assert seeds[1] == "article,0,200.0,105.0,true,12,180.0,20"
    assert seeds[3] == "article,2,6.0,1.0,false,,1.0,20"  # unsolved: kept, empty episode
    summary = (tmp_path / "reports/tables/summary.csv").read_text().splitlines()
    assert summary[0].startswith("variant,seeds,final_return.iqm,")
    assert [line.split(",")[0] for line in summary[1:]] == ["article", "lr-1e-3"]


def test_aggregate_edge_cases_one_seed_unsolved_constant(tmp_path):
    write_params(tmp_path, {"article": {}, "one-seed": {"lr": 0.1}, "flat": {"lr": 0.2}})
    write_runs(tmp_path, "article", {s: [1.0 + s] * 20 for s in range(3)},
               {s: [10.0 + s] for s in range(3)})  # no seed solves
    write_runs(tmp_path, "one-seed", {0: [500.0] * 20}, {0: [500.0, 499.0]})
    write_runs(tmp_path, "flat", {s: [42.0] * 20 for s in range(3)},
               {s: [42.0] * 4 for s in range(3)})
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
    seeds = (tmp_path / "reports/tables/seeds.csv").read_text()
    assert "one-seed,0,499.5" in seeds
    assert len(seeds.splitlines()) == 1 + 3 + 1 + 3  # unsolved seeds never dropped


def test_aggregate_is_byte_deterministic(tmp_path):
    write_params(tmp_path, {"article": {}, "b": {"lr": 0.5}})
    rng = np.random.default_rng(3)
    for v in ("article", "b"):
        write_runs(tmp_path, v, {s: list(rng.integers(1, 200, 20).astype(float)) for s in range(3)},
                   {s: list(rng.integers(1, 500, 3).astype(float)) for s in range(3)})
    aggregate(tmp_path)
    files = ["metrics.json", "reports/tables/summary.csv", "reports/tables/seeds.csv"]
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
