"""reinforce/analysis: Kaplan-Meier and log-rank against hand-computed values and scipy,
ceiling detection, cost, the one Holm family, the claims of a small aggregate, and the
tuning warnings."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from reinforce.analysis import claims, measures, survival, tuning_checks
from reinforce.analysis.stats import summarize_trials
from reinforce.io.config import TrainConfig
from tests.test_stats import write_params, write_runs

Z95 = sps.norm.ppf(0.975)


# --------------------------------------------------------------------------------------
# Kaplan-Meier


def test_kaplan_meier_with_ties_and_censoring_by_hand():
    # 7 seeds: solves at 127, 150, 165, 165 (a tie), 200; two censored at their budget 300
    km = survival.kaplan_meier(
        [127, 150, 165, 165, 200, 300, 300], [True, True, True, True, True, False, False]
    )
    # S: 6/7; 6/7 * 5/6 = 5/7; 5/7 * 3/5 = 3/7 (two of five at risk); 3/7 * 2/3 = 2/7
    assert km["time"] == [0.0, 127.0, 150.0, 165.0, 200.0, 300.0]
    assert km["solved"] == pytest.approx([0, 1 / 7, 2 / 7, 4 / 7, 5 / 7, 5 / 7])
    assert km["median"] == 165.0  # S first <= 1/2 at 165
    assert km["solved_seeds"] == 5 and km["seeds"] == 7
    # the band: Greenwood's variance on the log-log scale, by hand at t = 127 and 165
    for index, s, terms in (
        (1, 6 / 7, [1 / (7 * 6)]),
        (3, 3 / 7, [1 / (7 * 6), 1 / (6 * 5), 2 / (5 * 3)]),
    ):
        se = math.sqrt(sum(terms)) / abs(math.log(s))
        low, high = s ** math.exp(Z95 * se), s ** math.exp(-Z95 * se)
        assert km["ci_low"][index] == pytest.approx(1 - high)
        assert km["ci_high"][index] == pytest.approx(1 - low)


def test_kaplan_meier_matches_scipy_and_the_usual_median_without_censoring():
    times = [3.0, 1.0, 4.0, 2.0]
    km = survival.kaplan_meier(times, [True] * 4)
    assert km["solved"] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert km["median"] == 2.5 == np.median(times)  # exactly 1/2 at 2: midpoint to 3
    with pytest.warns(RuntimeWarning):  # undefined at the last solve, as below
        band = sps.ecdf(times).sf.confidence_interval(0.95, method="log-log")
    assert km["ci_low"][1:3] == pytest.approx(1 - band.high.probabilities[:2])
    # at the last solve no seed is at risk: the band is the estimate itself
    assert km["ci_low"][-1] == km["ci_high"][-1] == 1.0
    odd = survival.kaplan_meier([5, 1, 9], [True] * 3)
    assert odd["median"] == 5.0


def test_kaplan_meier_all_censored_and_a_single_seed():
    none = survival.kaplan_meier([1000, 1000, 300], [False, False, False])
    assert none["solved"] == [0.0, 0.0, 0.0]
    assert none["median"] is None and none["median_ci_low"] is None
    assert none["ci_low"] == none["ci_high"] == [0.0, 0.0, 0.0]
    one = survival.kaplan_meier([42], [True])
    assert one["solved"] == [0.0, 1.0] and one["median"] == 42.0
    assert one["ci_low"] is None and one["median_ci_low"] is None
    lone = survival.kaplan_meier([42], [False])
    assert lone["solved"] == [0.0, 0.0] and lone["median"] is None


def test_median_ci_inverts_the_band():
    km = survival.kaplan_meier(list(range(10, 110, 10)), [True] * 10)
    assert km["median"] == 55.0
    assert km["median_ci_low"] <= km["median"] <= km["median_ci_high"]
    # the lower edge of the CI is the first time the band's upper edge of solved >= 1/2
    k = next(i for i, v in enumerate(km["ci_high"]) if v >= 0.5)
    assert km["median_ci_low"] == km["time"][k]


# --------------------------------------------------------------------------------------
# log-rank


def test_logrank_by_hand():
    # x solves at 1 and 3, y at 2 and 4. At 1: 4 at risk (2 x), E_x = 1/2, V = 1/4;
    # at 2: 3 (1 x), E_x = 1/3, V = 2/9; at 3: 2 (1 x), E_x = 1/2, V = 1/4; at 4: no x.
    result = survival.logrank([1, 3], [True, True], [2, 4], [True, True])
    z = (2 - (1 / 2 + 1 / 3 + 1 / 2)) / math.sqrt(1 / 4 + 2 / 9 + 1 / 4)
    assert result["statistic"] == pytest.approx(z)
    assert result["p"] == pytest.approx(2 * sps.norm.sf(z))
    # positive: x solves sooner; swapped, the sign flips and p stays
    swapped = survival.logrank([2, 4], [True, True], [1, 3], [True, True])
    assert swapped["statistic"] == pytest.approx(-z) and swapped["p"] == pytest.approx(result["p"])


def test_logrank_with_ties_and_censoring_is_scipys():
    x_t, x_s = [127, 150, 165, 165, 200, 210, 220, 230, 233, 160], [True] * 10
    y_t = [300, 400, 455, 500, 165, 700, 800, 1000, 1000, 1000]
    y_s = [True] * 7 + [False] * 3
    result = survival.logrank(x_t, x_s, y_t, y_s)
    expected = sps.logrank(
        sps.CensoredData(uncensored=x_t), sps.CensoredData(uncensored=y_t[:7], right=y_t[7:])
    )
    assert result == {
        "statistic": pytest.approx(expected.statistic),
        "p": pytest.approx(expected.pvalue),
    }
    assert result["statistic"] > 0 and result["p"] < 0.001


def test_logrank_undefined_without_solves_or_overlap():
    assert survival.logrank([5, 6], [False, False], [5, 9], [False, False]) == {
        "statistic": None,
        "p": None,
    }
    # every y seed censored before the only solve: no one of y at risk, no variance
    assert survival.logrank([100], [True], [5, 6], [False, False])["p"] is None
    single = survival.logrank([5], [True], [6], [True])
    assert single["p"] == pytest.approx(sps.chi2.sf(1.0, 1))  # z = 1 by hand


def test_min_detectable_hazard_ratio_schoenfeld():
    hr = survival.min_detectable_hazard_ratio(17, 0.5)
    assert math.log(hr) ** 2 * 17 * 0.25 == pytest.approx((Z95 + sps.norm.ppf(0.8)) ** 2)
    assert survival.min_detectable_hazard_ratio(0, 0.5) is None


# --------------------------------------------------------------------------------------
# ceiling, cost, solve rate, Holm


def test_ceiling_is_gymnasiums_time_limit_for_cartpole():
    gymnasium = pytest.importorskip("gymnasium")
    for env_id, ceiling in claims.CEILINGS.items():
        assert gymnasium.spec(env_id).max_episode_steps == ceiling
    assert claims.return_ceiling("Acrobot-v1") is None


def test_ceiling_detection():
    note = claims.ceiling_note([500.0] * 10, [500.0] * 7 + [9.4, 79.4, 67.7], 500.0)
    assert note == {"ceiling": 500.0, "at_ceiling": [10, 7], "seeds": [10, 10], "bound": True}
    assert not claims.ceiling_note([500.0] * 4 + [300.0] * 6, [500.0] * 10, 500.0)["bound"]
    assert claims.ceiling_note([500.0] * 5 + [1.0] * 5, [500.0] * 5, 500.0)["bound"]  # half
    assert not claims.ceiling_note([500.0] * 3, [500.0] * 3, None)["bound"]


def test_gradient_steps_follow_the_update_rule():
    ppo = TrainConfig(update_epochs=8, minibatches=4)
    # per update: 8 epochs x 4 minibatches, but only 3 non-empty ones for 3 transitions
    assert measures.gradient_steps([10, 20, 3], ppo).tolist() == [32, 64, 88]
    batched = TrainConfig(episodes_per_update=2)
    # updates after episode 2 and after the last one
    assert measures.gradient_steps([1, 2, 3], batched).tolist() == [0, 1, 2]
    assert measures.gradient_steps([4, 4], TrainConfig()).tolist() == [1, 2]


def test_solve_rate_comparison():
    out = claims.solve_rate_comparison(10, 10, 7, 10)
    # Fisher by hand: the 3 failures all in y or all in x, C(10, 3) / C(20, 3) each
    assert out["fisher"]["p"] == pytest.approx(2 * math.comb(10, 3) / math.comb(20, 3))
    assert out["difference"]["value"] == pytest.approx(0.3)
    assert out["difference"]["ci_low"] < 0 < 0.3 < out["difference"]["ci_high"]
    assert out["power"]["seeds_needed"] > 10
    same = claims.solve_rate_comparison(5, 5, 5, 5)
    assert same["fisher"]["p"] == 1.0 and same["power"]["seeds_needed"] is None


def test_holm_runs_over_the_whole_family():
    rows = [
        {"variant": "a", "metric": "time_to_solve", "test": "logrank", "p": 0.01},
        {"variant": "a", "metric": "solve_rate", "test": "fisher", "p": 0.04},
        {"variant": "b", "metric": "solve_rate", "test": "fisher", "p": 0.03},
        {"variant": "b", "metric": "time_to_solve", "test": "logrank", "p": None},
    ]
    assert claims.holm_family(rows) == 3
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone: 0.06 for both
    assert [r["p_holm"] for r in rows[:3]] == pytest.approx([0.03, 0.06, 0.06])
    assert rows[3]["p_holm"] is None
    assert [r["significant"] for r in rows] == [True, False, False, None]


# --------------------------------------------------------------------------------------
# the aggregate, end to end on small runs


def test_claims_of_a_faster_variant(tmp_path, monkeypatch):
    write_params(
        tmp_path, {"article": {}, "fast": {"lr": 0.02}}, window=5, threshold=100.0, eval_episodes=1
    )
    slow = {s: [float(min(200, 10 * e + s)) for e in range(1, 21)] for s in range(3)}
    fast = {s: [float(min(200, 40 * e + s)) for e in range(1, 21)] for s in range(3)}
    write_runs(tmp_path, "article", slow, {s: [500.0] for s in range(3)})
    write_runs(tmp_path, "fast", fast, {s: [500.0] for s in range(3)})
    from stages import aggregate as stage

    monkeypatch.chdir(tmp_path)
    assert stage.main([]) == 0
    full = json.loads((tmp_path / "reports/statistics.json").read_text())
    rows = full["claims"]
    assert [(r["metric"], r["test"]) for r in rows] == [
        (m, t) for m, _, tests in claims.METRICS for t in tests
    ]
    assert full["tests"]["family_size"] == sum(r["p"] is not None for r in rows)
    by = {(r["metric"], r["test"]): r for r in rows}
    # final return: every seed of both at the cap, 500
    assert by["final_return", "mann_whitney"]["verdict"].startswith(
        "cannot separate: both at the cap (500) on 3/3 and 3/3 seeds"
    )
    assert by["time_to_solve", "logrank"]["effect_value"] < 0
    fast_entry = full["variants"]["fast"]
    assert (
        fast_entry["time_to_solve"]["episodes"]["median"]
        < full["variants"]["article"]["time_to_solve"]["episodes"]["median"]
    )
    # the final-return comparisons carry the family's corrected p
    assert (
        fast_entry["comparison"]["mann_whitney"]["p_holm"]
        == by["final_return", "mann_whitney"]["p_holm"]
    )
    assert fast_entry["cost"]["gradient_steps_per_seed"] == 20.0
    csv = pd.read_csv(tmp_path / "reports/tables/claims.csv")
    assert list(csv.columns) == list(claims.CLAIM_COLUMNS) and len(csv) == len(rows)
    headline = json.loads((tmp_path / "metrics.json").read_text())
    assert headline["fast"]["steps_to_solve"] == fast_entry["time_to_solve"]["env_steps"]["median"]


# --------------------------------------------------------------------------------------
# tuning warnings


def candidates_table(rows) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {"trial": c, "state": "complete", "episodes": 10, "lr": lr, "seed": s,
             "mean_return": f, "final_return": f, "episodes_to_solve": e}
            for c, lr, s, f, e in rows
        ]
    )  # fmt: skip
    return summarize_trials(frame.astype({"episodes_to_solve": "Int64"}), ["lr"], "final-return")


def test_tie_and_edge_of_grid_warnings():
    space = {"lr": (0.0005, 0.001, 0.002, 0.003)}
    table = candidates_table(
        [
            (c + 1, lr, s, 500.0, 200 - 10 * c + s)
            for c, lr in enumerate(space["lr"])
            for s in range(3)
        ]
    )
    assert table.loc[table["chosen"], "lr"].item() == 0.003
    warnings = tuning_checks.grid_warnings("ac", space, table, "final-return")
    assert len(warnings) == 2
    assert "4 of 4 complete trials tie on the criterion (IQM 500 of the final return" in warnings[0]
    assert "tie-breaker (median episodes to solve) chose lr=0.003" in warnings[0]
    assert "the chosen lr=0.003 is the largest value of its grid" in warnings[1]
    assert "[0.002, 0.003, 0.0045, 0.00675]" in warnings[1]


def test_no_warning_inside_the_grid_with_a_clear_winner():
    space = {"lr": (0.001, 0.01, 0.1)}
    table = candidates_table(
        [(1, 0.001, 0, 100.0, None), (2, 0.01, 0, 500.0, 150), (3, 0.1, 0, 20.0, None)]
    )
    assert tuning_checks.grid_warnings("v", space, table) == []


def test_next_grid():
    assert tuning_checks.next_grid("lr", [0.002, 0.005, 0.01, 0.02], 0.002) == [
        0.00032,
        0.0008,
        0.002,
        0.005,
    ]
    assert tuning_checks.next_grid("update_epochs", [2, 4, 6], 6) == [4, 6, 8, 10]
    assert tuning_checks.next_grid("lr", [0.1, 0.2, 0.3], 0.2) is None


def test_select_prints_the_warnings_and_writes_the_same_selection(tmp_path, capsys, monkeypatch):
    import yaml

    from stages import select as stage

    params = {
        "env": {"id": "CartPole-v1", "solved_threshold": 475, "solve_window": 5},
        "seeds": [0],
        "variants": {"article": {"lr": 0.01}, "tuned": {"baseline": "value"}},
        "tune": {
            "seeds": [10, 11],
            "criterion": "final-return",
            "search": {"tuned": {"lr": [0.001, 0.01, 0.1]}},
        },
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    folder = tmp_path / "tuning" / "search" / "tuned"
    folder.mkdir(parents=True)
    (folder / "results.csv").write_text(
        "trial,state,episodes,lr,seed,mean_return,final_return,episodes_to_solve\n"
        "0,complete,9,0.001,10,90,500.0,90\n0,complete,9,0.001,11,90,500.0,80\n"
        "1,complete,9,0.01,10,90,500.0,120\n1,complete,9,0.01,11,90,500.0,130\n"
        "2,complete,9,0.1,10,9,20.0,\n2,complete,9,0.1,11,9,30.0,\n"
    )
    monkeypatch.chdir(tmp_path)
    assert stage.main([]) == 0
    out = capsys.readouterr().out
    assert "; tuned: lr=0.001" in out
    assert "select: warning: tuned: 2 of 3 complete trials tie" in out
    assert "select: warning: tuned: the chosen lr=0.001 is the smallest value" in out
    assert json.loads((tmp_path / "tuning/selected/tuned.json").read_text())["values"] == {
        "lr": 0.001
    }
    assert "warning" not in (tmp_path / "tuning/selected/tuned.json").read_text()


def test_censoring_in_steps_that_flatters_a_claim_does_not_establish_it():
    # the reference's unsolved seeds stopped at 20 and 30 steps, before the last solve (400)
    early = claims.censored_early([100, 200, 400], [1, 1, 1], [20, 30, 150, 900], [0, 0, 1, 0])
    assert early == {"variant": 0, "reference": 2}  # 900 is after the last solve
    assert claims.censored_early([5], [0], [7], [0]) == {"variant": 0, "reference": 0}

    def verdict_for(statistic: float) -> str:
        row = {
            "variant": "v",
            "metric": "steps_to_solve",
            "test": "logrank",
            "effect_value": 1.0,
            "statistic": statistic,
            "p": 1e-4,
            "significant": True,
        }
        statistics = {
            "tests": {"reference": "article"},
            "variants": {"v": {"claims": {"steps_to_solve": {"censored_early": early}}}},
        }
        return claims.verdict(row, statistics)

    # "solves later" is what the reference's early censoring flatters: not established
    assert verdict_for(-3.0).startswith("not established: 2 unsolved seed(s) of article")
    # "solves sooner" holds although the bias worked against it
    assert verdict_for(3.0) == "established: solves sooner"
