"""The tuning protocol: search spaces on tuning seeds, the selection rule, and the DVC
stages that rerun only what a search-space edit touches."""

import copy
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from reinforce.agent.selection import candidates, selection
from reinforce.agent.tuning import results_csv, tune_variant, write_study
from reinforce.analysis.stats import summarize_trials
from reinforce.analysis.tuning_checks import grid_warnings, importances, read_results
from reinforce.compute.backends import LocalBackend
from reinforce.io.config import Range, parse_config, read_selected
from reinforce.io.errors import DataError
from tests.conftest import assert_refused, make_project, run, tiny_params


def results(rows, state="complete"):
    """Synthetic tune results: (trial, lr, seed, value, episodes_to_solve); the value is
    both the mean training return and the final return."""
    frame = pd.DataFrame(
        [
            {
                "trial": t,
                "state": state if not isinstance(state, dict) else state.get(t, "complete"),
                "episodes": 10,
                "lr": lr,
                "seed": s,
                "mean_return": v,
                "final_return": v,
                "episodes_to_solve": e,
            }
            for t, lr, s, v, e in rows
        ]
    )
    return frame.astype({"episodes_to_solve": "Int64"})


def chosen_lr(table) -> float:
    return float(table.loc[table["chosen"], "lr"].iloc[0])


def test_candidates_are_the_grid_first_key_slowest():
    assert candidates({"lr": [0.1, 0.2], "critic_lr": [1, 2]}) == [
        {"lr": 0.1, "critic_lr": 1},
        {"lr": 0.1, "critic_lr": 2},
        {"lr": 0.2, "critic_lr": 1},
        {"lr": 0.2, "critic_lr": 2},
    ]
    assert candidates({"lr": [0.5]}) == [{"lr": 0.5}]


def test_rule_picks_the_highest_criterion_iqm_among_complete_trials():
    rows = [
        (0, 0.01, 10, 100.0, None),
        (0, 0.01, 11, 120.0, None),
        (1, 0.02, 10, 300.0, 50),
        (1, 0.02, 11, 250.0, None),
        (2, 0.05, 10, 200.0, 40),
        (2, 0.05, 11, 220.0, 45),
        (3, 0.07, 10, 900.0, 5),
        (3, 0.07, 11, 900.0, 5),
    ]
    table = summarize_trials(results(rows, state={3: "pruned"}), ["lr"], "mean-return")
    assert table["value"].tolist()[:3] == [110.0, 275.0, 210.0]
    assert math.isnan(table["value"].iloc[3])  # a pruned trial has no value ...
    assert chosen_lr(table) == 0.02 and table["chosen"].sum() == 1  # ... and is never chosen


def test_the_criterion_decides_which_column_is_read():
    frame = results([(0, 0.01, 10, 1.0, None), (1, 0.02, 10, 2.0, None)])
    frame["final_return"] = [5.0, 3.0]
    assert chosen_lr(summarize_trials(frame, ["lr"], "mean-return")) == 0.02
    assert chosen_lr(summarize_trials(frame, ["lr"], "final-return")) == 0.01


def test_ties_go_to_the_faster_solver_then_to_the_earliest_trial():
    tied = summarize_trials(
        results(
            [
                (0, 0.01, 10, 500.0, 400),
                (0, 0.01, 11, 500.0, 420),
                (1, 0.02, 10, 500.0, 150),
                (1, 0.02, 11, 500.0, 210),
                (2, 0.05, 10, 500.0, 150),
                (2, 0.05, 11, 500.0, 210),
            ]
        ),
        ["lr"],
        "final-return",
    )
    assert tied["median_episodes_to_solve"].tolist() == [410.0, 180.0, 180.0]
    assert chosen_lr(tied) == 0.02
    # a seed that never solved counts as never: the trial that solved both wins
    never = summarize_trials(
        results(
            [
                (0, 0.01, 10, 500.0, 100),
                (0, 0.01, 11, 500.0, None),
                (1, 0.02, 10, 500.0, 400),
                (1, 0.02, 11, 500.0, 400),
            ]
        ),
        ["lr"],
        "final-return",
    )
    assert chosen_lr(never) == 0.02


def test_a_tiny_real_search_picks_the_candidate_that_learns():
    params = tiny_params()
    params["train"]["episodes"] = 60
    params["env"].update(solve_window=10, solved_threshold=40)
    params["tune"].update(seeds=[10, 11, 12], search={"value-baseline": {"lr": [1e-6, 0.03]}})
    config = parse_config(params)
    found = tune_variant(config, "value-baseline").results
    assert sorted(found["seed"].unique()) == [10, 11, 12]  # tuning seeds only
    assert set(found["seed"]).isdisjoint(config.seeds)
    assert found["trial"].tolist() == [0, 0, 0, 1, 1, 1]  # the grid, in its order
    assert found["final_return"].isna().all()  # mean-return: no evaluation needed
    table = summarize_trials(found, ["lr"], "mean-return")
    assert chosen_lr(table) == 0.03
    assert table.loc[table["chosen"], "value"].iloc[0] == table["value"].max()


# ------------------------------------------------ samplers, distributions, pruners


def searched(tune: dict, space: dict, episodes: int = 12, **train) -> dict:
    params = tiny_params()
    params["train"]["episodes"] = episodes
    params["train"].update(train)
    params["tune"].update(tune, search={"value-baseline": space})
    return params


SPACE = {
    "lr": {"low": 1e-6, "high": 0.05, "log": True},
    "critic_lr": {"low": 0.005, "high": 0.02, "step": 0.005},
    "hidden_dim": {"low": 8, "high": 24, "step": 8},
    "entropy_coef": {"choices": [0.0, 0.01]},
}


def test_each_distribution_draws_values_of_its_kind():
    params = searched({"sampler": "random", "trials": 4, "batch": 4}, SPACE, episodes=3)
    config = parse_config(params)
    space = config.search_space("value-baseline")
    assert space["lr"] == Range(1e-6, 0.05, log=True)
    assert space["hidden_dim"] == Range(8, 24, step=8, integer=True)
    assert space["entropy_coef"] == (0.0, 0.01)
    search = tune_variant(config, "value-baseline")
    trials = search.results.drop_duplicates("trial")
    assert len(trials) == 4 and (trials["state"] == "complete").all()
    assert trials["lr"].between(1e-6, 0.05).all() and trials["lr"].nunique() == 4
    assert set(trials["critic_lr"]) <= {0.005, 0.01, 0.015, 0.02}
    assert set(trials["hidden_dim"]) <= {8, 16, 24} and trials["hidden_dim"].dtype.kind == "i"
    assert set(trials["entropy_coef"]) <= {0.0, 0.01}
    dists = search.study.trials[0].distributions
    assert dists["lr"].log and dists["hidden_dim"].step == 8
    # every trial's value is the IQM of its seeds' mean training returns, as select reads it
    table = summarize_trials(search.results, list(space), "mean-return")
    assert table["value"].tolist() == [t.value for t in search.study.trials]


PRUNED = {"lr": {"low": 1e-7, "high": 0.1, "log": True}}


@pytest.mark.parametrize("pruner", ["median", "successive-halving"])
def test_pruners_stop_weak_trials_at_a_rung_and_save_their_episodes(pruner):
    tune = {"sampler": "tpe", "trials": 6, "batch": 3, "pruner": pruner, "first_rung": 0.25}
    config = parse_config(searched(tune, PRUNED, episodes=40, baseline="none"))
    assert config.tune.rungs(40) == [10, 30]  # the first block, then 3 times longer
    search = tune_variant(config, "value-baseline")
    trials = search.results.drop_duplicates("trial").set_index("trial")
    pruned = trials[trials["state"] == "pruned"]
    assert len(pruned) >= 2, trials
    assert set(pruned["episodes"]) <= {10, 30}  # each trained to its rung only
    assert (trials.loc[trials["state"] == "complete", "episodes"] == 40).all()
    states = {t.number: t.state.name.lower() for t in search.study.trials}
    assert states == trials["state"].to_dict()
    for trial in search.study.trials:  # an intermediate value per block of 10 episodes
        reached = trials.loc[trial.number, "episodes"]
        assert sorted(trial.intermediate_values) == list(range(10, reached + 1, 10))
    table = summarize_trials(search.results, ["lr"], "mean-return")
    assert table.loc[table["chosen"], "state"].item() == "complete"
    if pruner == "median":  # the first batch has no completed trial to compare with
        assert (trials.loc[[0, 1, 2], "state"] == "complete").all()


def test_the_same_params_give_the_same_bytes_alone_and_in_workers():
    tune = {"sampler": "tpe", "trials": 5, "batch": 2, "pruner": "successive-halving"}
    config = parse_config(searched(tune, dict(SPACE, lr=PRUNED["lr"]), episodes=10))
    first = results_csv(tune_variant(config, "value-baseline").results)
    again = results_csv(tune_variant(config, "value-baseline").results)
    workers = results_csv(tune_variant(config, "value-baseline", backend=LocalBackend(2)).results)
    assert first == again == workers
    assert "pruned" in first or "complete" in first
    other_seed = parse_config(
        searched({**tune, "sampler_seed": 1}, dict(SPACE, lr=PRUNED["lr"]), episodes=10)
    )
    assert results_csv(tune_variant(other_seed, "value-baseline").results) != first


def test_the_study_file_is_a_journal_optuna_opens(tmp_path):
    import optuna

    tune = {"sampler": "random", "trials": 2, "batch": 2}
    config = parse_config(searched(tune, {"lr": {"low": 0.001, "high": 0.01}}, episodes=3))
    search = tune_variant(config, "value-baseline")
    path = tmp_path / "tuning" / "studies" / "value-baseline.log"
    write_study(search, path)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.load_study(study_name="value-baseline", storage=storage)
    assert [t.params for t in study.trials] == [t.params for t in search.study.trials]
    assert [t.value for t in study.trials] == [t.value for t in search.study.trials]
    assert "mean training return" in study.user_attrs["criterion"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["value-baseline.log"]


def test_a_written_value_reads_back_as_the_trained_float(tmp_path):
    frame = results(
        [(0, 0.0031234567891234567, 10, 1.0, None), (0, 0.0031234567891234567, 11, 2.0, None)]
    )
    path = tmp_path / "results.csv"
    path.write_text(results_csv(frame))
    back = read_results(path, ["lr"], [10, 11])
    assert back["lr"].iloc[0] == 0.0031234567891234567


# ----------------------------------------------- the selection reads tuning seeds only


def test_tuning_trains_only_the_tuning_seeds(monkeypatch):
    import reinforce.agent.tuning as tuning

    trained = []

    def spy(cfg, env_id, obs_dim, n_actions, seeds, report):
        trained.append(list(seeds))
        return real(cfg, env_id, obs_dim, n_actions, seeds, report)

    real = tuning.train_seeds
    monkeypatch.setattr(tuning, "train_seeds", spy)
    config = parse_config(searched({"sampler": "random", "trials": 2}, PRUNED, episodes=3))
    tune_variant(config, "value-baseline")
    assert trained == [[10, 11], [10, 11]]


def test_selection_reads_only_the_tuning_results_and_refuses_a_reporting_seed(
    tmp_path, monkeypatch
):
    config = parse_config(tiny_params())
    folder = tmp_path / "tuning" / "search" / "value-baseline"
    folder.mkdir(parents=True)
    rows = [
        (0, 0.01, 10, 1.0, None),
        (0, 0.01, 11, 2.0, None),
        (1, 0.02, 10, 3.0, 4),
        (1, 0.02, 11, 4.0, 4),
    ]
    (folder / "results.csv").write_text(results_csv(results(rows)))
    opened = []
    real_read_csv = pd.read_csv
    monkeypatch.setattr(
        pd, "read_csv", lambda path, **kw: opened.append(Path(path)) or real_read_csv(path, **kw)
    )
    chosen, summary = selection(config, tmp_path)  # no runs/ here: nothing else is read
    assert chosen == {"article": {}, "value-baseline": {"lr": 0.02}}
    assert opened == [folder / "results.csv"]
    # a reporting seed (0) among the rows: refused, whatever its numbers
    planted = results(rows + [(1, 0.02, 0, 999.0, 1)])
    (folder / "results.csv").write_text(results_csv(planted))
    with pytest.raises(DataError, match=r"seeds \[0, 10, 11\], but every trial must hold exactly"):
        selection(config, tmp_path)


def test_importance_names_the_key_that_decides_and_is_deterministic():
    # the value grows with lr alone; gae_lambda is spread over the range whatever lr is
    rows = [
        {"trial": i, "lr": 0.001 * 10 ** (i / 19), "gae_lambda": 0.9 + 0.1 * ((i * 7) % 20) / 20,
         "state": "complete", "value": float(i)}
        for i in range(20)
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    space = {"lr": Range(0.001, 0.01, log=True), "gae_lambda": Range(0.9, 1.0)}
    found = importances(space, table)
    assert found == importances(space, table)
    assert found["lr"] > found["gae_lambda"] and abs(sum(found.values()) - 1) < 1e-5
    assert importances({"lr": space["lr"]}, table) is None  # one key: nothing to compare


def test_edge_warnings_of_ranges_and_grids():
    from reinforce.io.config import TrainConfig

    gae = TrainConfig(baseline="value", advantage="gae", normalize_returns=False)
    table = pd.DataFrame(
        [
            {"trial": 0, "lr": 0.0098, "gae_lambda": 0.99, "state": "complete", "value": 2.0,
             "median_episodes_to_solve": 10, "chosen": True},
            {"trial": 1, "lr": 0.001, "gae_lambda": 0.9, "state": "complete", "value": 1.0,
             "median_episodes_to_solve": 10, "chosen": False},
        ]
    )  # fmt: skip
    space = {"lr": Range(1e-4, 1e-2, log=True), "gae_lambda": Range(0.8, 1.0)}
    warnings = grid_warnings("ac", space, table, "mean-return", gae)
    assert len(warnings) == 2, warnings
    assert "the chosen lr=0.0098 lies within 5% of the upper bound" in warnings[0]
    assert "try tune.search.ac.lr: {low: 0.0001, high: 0.1, log: true}" in warnings[0]
    assert "gae_lambda allows nothing beyond 1, so the search cannot extend" in warnings[1]
    inside = table.assign(lr=[0.0009, 0.001], gae_lambda=[0.9, 0.95])
    assert grid_warnings("ac", space, inside, "mean-return", gae) == []
    grid = grid_warnings("ac", {"lr": (0.001, 0.0098)}, table.drop(columns="gae_lambda"))
    assert grid == [
        "ac: the chosen lr=0.0098 is the largest value of its grid [0.001, 0.0098]: the best "
        "may lie beyond it; try tune.search.ac.lr: [0.001, 0.0098, 0.096, 0.941]"
    ]


# ------------------------------------------------------------------- bad parameters


def with_tune(tune, variants=None):
    params = copy.deepcopy(tiny_params())
    params["tune"] = tune
    if variants is not None:
        params["variants"] = variants
    return params


def VB(space):
    return {"value-baseline": space}


def TPE(space, **method):
    return {"seeds": [10], "sampler": "tpe", "trials": 3, **method, "search": VB(space)}


BAD = [
    (
        with_tune({"seeds": [1, 10], "search": {}}),
        ["tune.seeds", "[1, 10]", "disjoint", "[0, 1]", "both hold [1]"],
    ),
    (
        with_tune({"seeds": [10], "search": {"article": {"lr": [0.1]}}}),
        ["tune.search.article", "'article'", "untouched tutorial"],
    ),
    (
        with_tune({"seeds": [10], "search": {"nope": {"lr": [0.1]}}}),
        ["tune.search.nope", "'nope'", "a variant of params.yaml"],
    ),
    (
        with_tune({"seeds": [10], "search": {"value-baseline": {"lrr": [0.1]}}}),
        ["tune.search.value-baseline.lrr", "unknown key", "'lr'"],
    ),
    (
        with_tune({"seeds": [10], "search": {"value-baseline": {"lr": []}}}),
        ["tune.search.value-baseline.lr", "[]", "non-empty list"],
    ),
    (
        with_tune({"seeds": [10], "search": {"value-baseline": {"lr": 0.1}}}),
        ["tune.search.value-baseline.lr", "0.1", "list"],
    ),
    (
        with_tune({"seeds": [10], "search": {"value-baseline": {"lr": [0.1, -1]}}}),
        ["tune.search.value-baseline.lr", "-1", "> 0"],
    ),
    (
        with_tune({"seeds": [10], "search": {"value-baseline": {"lr": [0.1, 0.1]}}}),
        ["tune.search.value-baseline.lr", "distinct", "repeated: [0.1]"],
    ),
    (
        with_tune({"search": {"value-baseline": {"lr": [0.1]}}}),
        ["tune.seeds", "None", "non-empty list of seeds"],
    ),
    (
        with_tune(
            {"seeds": [10], "search": {"value-baseline": {"lr": [0.1]}}},
            variants={"article": {}, "value-baseline": {"baseline": "value", "lr": 0.2}},
        ),
        ["tune.search.value-baseline.lr", "variants.value-baseline", "remove one"],
    ),
    (with_tune({"seeds": [10], "serach": {}}), ["tune.serach", "unknown key", "'search'"]),
    (
        with_tune({"seeds": [10], "search": VB({"lr": {"low": 0.001, "high": 0.01}})}),
        [
            "tune.search.value-baseline.lr",
            "'low': 0.001",
            "a list of values with tune.sampler: grid",
        ],
    ),
    (
        with_tune(TPE({"lr": {"low": 0.01, "high": 0.001}})),
        ["tune.search.value-baseline.lr.high", "0.001", "> low (0.01)"],
    ),
    (
        with_tune(TPE({"lr": {"low": 0.0, "high": 0.01, "log": True}})),
        ["tune.search.value-baseline.lr.low", "0.0", "> 0 with log: true"],
    ),
    (
        with_tune(TPE({"lr": {"low": 0.001, "high": 0.01, "log": True, "step": 0.001}})),
        ["tune.search.value-baseline.lr.step", "0.001", "null with log: true"],
    ),
    (
        with_tune(TPE({"lr": {"low": 0.01, "high": 0.02, "step": 0.003}})),
        ["tune.search.value-baseline.lr.step", "0.003", "divides high - low"],
    ),
    (
        with_tune(TPE({"lr": {"low": 0.01, "hgh": 0.02}})),
        ["tune.search.value-baseline.lr.hgh", "unknown key", "'high'"],
    ),
    (
        with_tune(TPE({"lr": {"low": 0.01}})),
        ["tune.search.value-baseline.lr.high", "None", "a range needs low and high"],
    ),
    (
        with_tune(TPE({"lr": {"low": -1, "high": 0.1}})),
        ["tune.search.value-baseline.lr", "-1", "> 0"],
    ),
    (
        with_tune(TPE({"hidden_dim": {"low": 1.5, "high": 8}})),
        ["tune.search.value-baseline.hidden_dim.low", "1.5", "an integer"],
    ),
    (
        with_tune(TPE({"normalize_returns": {"low": 0, "high": 1}})),
        ["tune.search.value-baseline.normalize_returns", "'low': 0", "a non-empty list"],
    ),
    (
        with_tune(TPE({"lr": {"choices": [0.1], "low": 0.1}})),
        ["tune.search.value-baseline.lr", "'choices'", "either {choices: [...]} alone"],
    ),
    (
        with_tune(TPE({"episodes": [2, 4]}, pruner="median")),
        ["tune.search.value-baseline.episodes", "[2, 4]", "no episodes with a pruner"],
    ),
    (with_tune(TPE({"lr": [0.1]}, sampler="bayes")), ["tune.sampler", "'bayes'", "grid | tpe"]),
    (with_tune(TPE({"lr": [0.1]}, trials=None)), ["tune.trials", "None", "an integer >= 1"]),
    (
        with_tune(TPE({"lr": [0.1]}, sampler="grid", trials=4)),
        ["tune.trials", "4", "null with tune.sampler: grid"],
    ),
    (
        with_tune(TPE({"lr": [0.1]}, pruner="hyperband")),
        ["tune.pruner", "'hyperband'", "none | median | successive-halving"],
    ),
    (
        with_tune(TPE({"lr": [0.1]}, criterion="auc")),
        ["tune.criterion", "'auc'", "mean-return | final-return"],
    ),
    (with_tune(TPE({"lr": [0.1]}, first_rung=1.5)), ["tune.first_rung", "1.5", "(0, 1)"]),
    (with_tune(TPE({"lr": [0.1]}, reduction_factor=1)), ["tune.reduction_factor", "1", ">= 2"]),
    (with_tune(TPE({"lr": [0.1]}, batch=0)), ["tune.batch", "0", ">= 1"]),
    (with_tune(TPE({"lr": [0.1]}, sampler_seed=-1)), ["tune.sampler_seed", "-1", ">= 0"]),
    (
        dict(
            with_tune({"seeds": [10], "search": {}}),
            evaluate={"episodes": 2, "seed_offset": 10, "policy": "greedy"},
        ),
        ["evaluate.seed_offset", "tune.seeds", "[10]"],
    ),
]


@pytest.mark.parametrize("params,words", BAD, ids=[" ".join(w[:2]) for _, w in BAD])
def test_bad_tuning_parameter_is_named_with_value_and_what_is_allowed(params, words):
    assert_refused(params, words)


def test_a_stale_or_missing_selection_is_refused(tmp_path):
    config = parse_config(tiny_params())
    with pytest.raises(DataError, match="not found; run `dvc repro`"):
        read_selected(tmp_path, "value-baseline")
    with pytest.raises(DataError, match="not a candidate of tune.search.value-baseline"):
        config.trained_variant("value-baseline", {"lr": 0.5})
    with pytest.raises(DataError, match="not a candidate"):
        config.trained_variant("article", {"lr": 0.02})
    assert config.trained_variant("value-baseline", {"lr": 0.02}).lr == 0.02
    assert config.trained_variant("article", {}) == config.variants["article"]
    ranged = parse_config(with_tune(TPE({"lr": {"low": 0.001, "high": 0.01, "log": True}})))
    assert ranged.trained_variant("value-baseline", {"lr": 0.0031234}).lr == 0.0031234
    with pytest.raises(DataError, match="not a candidate"):
        ranged.trained_variant("value-baseline", {"lr": 0.02})


# --------------------------------------------------------------------- the DVC stages

TWO_SEARCHES = {
    **tiny_params()["tune"],
    "seeds": [10, 11],
    "search": {"value-baseline": {"lr": [0.01, 0.02]}, "clipped": {"lr": [0.005, 0.01]}},
}


@pytest.fixture(scope="module")
def tuned_project(tmp_path_factory):
    params = tiny_params()
    params["variants"]["clipped"] = {"grad_clip_norm": 1.0}
    params["tune"] = copy.deepcopy(TWO_SEARCHES)
    path = make_project(tmp_path_factory.mktemp("tuning") / "repo", params)
    run(["dvc", "repro"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "tuned"], path)
    return path


def ran(output: str) -> set[str]:
    return {
        line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")
    }


def test_tuning_trains_on_tuning_seeds_and_train_uses_the_choice(tuned_project):
    for name in ("value-baseline", "clipped"):
        found = pd.read_csv(tuned_project / "tuning" / "search" / name / "results.csv")
        assert sorted(found["seed"].unique()) == [10, 11]
        selected = read_selected(tuned_project, name)
        assert set(selected) == {"lr"}
        assert selected["lr"] in TWO_SEARCHES["search"][name]["lr"]
        curves = pd.read_csv(tuned_project / "runs" / name / "train" / "curves.csv")
        assert sorted(curves["seed"].unique()) == [0, 1]  # the reporting seeds
    assert read_selected(tuned_project, "article") == {}
    table = pd.read_csv(tuned_project / "tuning" / "candidates.csv")
    assert table.groupby("variant")["chosen"].sum().to_dict() == {"clipped": 1, "value-baseline": 1}


def test_adding_a_candidate_reruns_only_that_variants_tuning(tuned_project):
    params_path = tuned_project / "params.yaml"
    before = params_path.read_text()
    lock_before = (tuned_project / "dvc.lock").read_text()
    import yaml

    params = yaml.safe_load(before)
    params["tune"]["search"]["clipped"]["lr"].append(1e-7)  # learns nothing: never chosen
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = run(["dvc", "status"], tuned_project).stdout
        assert "tune@clipped" in status and "tune@value-baseline" not in status, status
        diff = run(["dvc", "params", "diff"], tuned_project).stdout
        assert "tune.search.clipped.lr" in diff, diff
        stages = ran(run(["dvc", "repro"], tuned_project).stdout)
        assert "tune@clipped" in stages and "select" in stages, stages
        assert (
            not {"tune@value-baseline", "train@article", "train@value-baseline", "train@clipped"}
            & stages
        ), stages
        assert len(pd.read_csv(tuned_project / "tuning" / "candidates.csv")) == 5
        assert "tune@value-baseline" not in run(["dvc", "status"], tuned_project).stdout
    finally:
        params_path.write_text(before)
        (tuned_project / "dvc.lock").write_text(lock_before)
        run(["git", "checkout", "--", "tuning"], tuned_project)


def test_the_study_files_are_outside_git_and_dvc_and_a_rerun_keeps_dvc_lock(tuned_project):
    for name in ("value-baseline", "clipped"):
        assert (tuned_project / "tuning" / "studies" / f"{name}.log").stat().st_size > 0
    assert "studies" not in run(["git", "status", "--porcelain"], tuned_project).stdout
    lock = (tuned_project / "dvc.lock").read_text()
    run(["dvc", "repro", "--force", "--single-item", "tune@value-baseline"], tuned_project)
    # the study was rewritten (new times), results.csv was not: dvc.lock and every
    # directory dependency on tuning/ (the plot stage's) are unchanged
    assert (tuned_project / "dvc.lock").read_text() == lock
    status = json.loads(run(["dvc", "status", "--json"], tuned_project).stdout)
    changed = [
        path
        for entries in status.values()
        for entry in entries
        if isinstance(entry, dict)
        for path in entry.get("changed deps", {})
    ]
    assert not [path for path in changed if path.startswith("tuning")], status


def test_the_chosen_values_are_in_the_report(tuned_project):
    report = (tuned_project / "reports" / "report.md").read_text()
    chosen = read_selected(tuned_project, "value-baseline")["lr"]
    assert f"`lr: {chosen}`" in report
    assert "tune.seeds" in report or "tuning seeds" in report
    # a grid of two: the choice is on an edge, and the report says so
    assert f"the chosen lr={chosen} is the" in report and "value of its grid" in report
    assert "**Criterion**: mean training return over the budget" in report
    assert "| trial | lr | state | mean-return (IQM) |" in report
    metrics = json.loads((tuned_project / "metrics.json").read_text())
    assert metrics["value-baseline"]["chosen"] == {"lr": chosen}


def test_importance_counts_pruned_trials_below_every_complete_one():
    # two complete trials (the most that pruning often leaves): both have a small lr; the
    # pruned ones spread over the lr range, so lr is what sets the complete trials apart
    rows = [
        {"trial": i, "lr": lr, "gae_lambda": lam, "state": state, "value": value,
         "mean_return_iqm": so_far}
        for i, (lr, lam, state, value, so_far) in enumerate([
            (0.0011, 0.95, "complete", 300.0, 300.0),
            (0.0012, 0.91, "complete", 320.0, 320.0),
            (0.004, 0.96, "pruned", float("nan"), 90.0),
            (0.008, 0.92, "pruned", float("nan"), 50.0),
            (0.002, 0.99, "pruned", float("nan"), 120.0),
            (0.009, 0.93, "pruned", float("nan"), 20.0),
            (0.006, 0.97, "pruned", float("nan"), 70.0),
            (0.003, 0.90, "pruned", float("nan"), 100.0),
        ])
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    space = {"lr": Range(0.001, 0.01, log=True), "gae_lambda": Range(0.9, 1.0)}
    found = importances(space, table)
    assert found == importances(space, table)
    assert found["lr"] > found["gae_lambda"], found
    # ranked, not valued: a pruned trial's value so far never outranks a complete trial
    table.loc[2, "mean_return_iqm"] = 1000.0
    assert importances(space, table) == found
    assert importances(space, table.iloc[:2]) is None  # fewer than 3 trials
