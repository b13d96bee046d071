"""The tuning protocol: search spaces on tuning seeds, the selection rule, and the DVC
stages that rerun only what a search-space edit touches."""

import copy
import json

import pandas as pd
import pytest

from reinforce.agent.tuning import candidates, tune_variant
from reinforce.analysis.stats import summarize_candidates
from reinforce.io.config import parse_config, read_selected
from reinforce.io.errors import DataError
from tests.conftest import assert_refused, make_project, run, tiny_params


def results(rows):
    """Synthetic tune results: (candidate, lr, seed, final_return, episodes_to_solve)."""
    frame = pd.DataFrame(
        rows, columns=["candidate", "lr", "seed", "final_return", "episodes_to_solve"]
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


def test_rule_picks_the_highest_final_return_iqm():
    table = summarize_candidates(
        results(
            [
                (1, 0.01, 10, 100.0, None),
                (1, 0.01, 11, 120.0, None),
                (2, 0.02, 10, 300.0, 50),
                (2, 0.02, 11, 250.0, None),
                (3, 0.05, 10, 200.0, 40),
                (3, 0.05, 11, 220.0, 45),
            ]
        ),
        ["lr"],
    )
    assert table["final_return_iqm"].tolist() == [110.0, 275.0, 210.0]
    assert chosen_lr(table) == 0.02 and table["chosen"].sum() == 1


def test_ties_go_to_the_faster_solver_then_to_the_first_listed():
    tied = summarize_candidates(
        results(
            [
                (1, 0.01, 10, 500.0, 400),
                (1, 0.01, 11, 500.0, 420),
                (2, 0.02, 10, 500.0, 150),
                (2, 0.02, 11, 500.0, 210),
                (3, 0.05, 10, 500.0, 150),
                (3, 0.05, 11, 500.0, 210),
            ]
        ),
        ["lr"],
    )
    assert tied["median_episodes_to_solve"].tolist() == [410.0, 180.0, 180.0]
    assert chosen_lr(tied) == 0.02
    # a seed that never solved counts as never: the candidate that solved both wins
    never = summarize_candidates(
        results(
            [
                (1, 0.01, 10, 500.0, 100),
                (1, 0.01, 11, 500.0, None),
                (2, 0.02, 10, 500.0, 400),
                (2, 0.02, 11, 500.0, 400),
            ]
        ),
        ["lr"],
    )
    assert chosen_lr(never) == 0.02


def test_a_tiny_real_search_picks_the_candidate_that_learns():
    params = tiny_params()
    params["train"]["episodes"] = 60
    params["env"].update(solve_window=10, solved_threshold=40)
    params["evaluate"]["episodes"] = 3
    params["tune"] = {"seeds": [10, 11, 12], "search": {"value-baseline": {"lr": [1e-6, 0.03]}}}
    config = parse_config(params)
    found = tune_variant(config, "value-baseline")
    assert sorted(found["seed"].unique()) == [10, 11, 12]  # tuning seeds only
    assert set(found["seed"]).isdisjoint(config.seeds)
    table = summarize_candidates(found, ["lr"])
    assert chosen_lr(table) == 0.03
    # the rule agrees with the numbers: the chosen candidate has the highest IQM
    assert table.loc[table["chosen"], "final_return_iqm"].iloc[0] == table["final_return_iqm"].max()


# ------------------------------------------------------------------- bad parameters


def with_tune(tune, variants=None):
    params = copy.deepcopy(tiny_params())
    params["tune"] = tune
    if variants is not None:
        params["variants"] = variants
    return params


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


# --------------------------------------------------------------------- the DVC stages

TWO_SEARCHES = {
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
    finally:
        params_path.write_text(before)
        (tuned_project / "dvc.lock").write_text(lock_before)
        run(["git", "checkout", "--", "tuning"], tuned_project)


def test_the_chosen_values_are_in_the_report(tuned_project):
    report = (tuned_project / "reports" / "report.md").read_text()
    chosen = read_selected(tuned_project, "value-baseline")["lr"]
    assert f"`lr: {chosen}`" in report
    assert "tune.seeds" in report or "tuning seeds" in report
    # a grid of two: the choice is on an edge, and the report says so
    assert f"the chosen lr={chosen} is the" in report and "value of its grid" in report
    metrics = json.loads((tuned_project / "metrics.json").read_text())
    assert metrics["value-baseline"]["chosen"] == {"lr": chosen}
