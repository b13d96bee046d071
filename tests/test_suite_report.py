"""The suite report (reinforce/analysis/suite_report.py, stages/suite_report.py) on a tmp
suite tree: envs/<env>/runs/<variant>/{train,eval}, envs/<env>/random/random.csv."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_params

from reinforce.analysis import suite, suite_report
from reinforce.io import paths
from reinforce.io.config import ReportConfig

VARIANTS = ("article", "better")
ENVS = {
    "CartPole-v1": suite.EnvSettings("CartPole-v1", 475.0, 5, 475.0),
    # no gymnasium threshold: no "solved", a documented reference instead
    "Pendulum-v1": suite.EnvSettings("Pendulum-v1", None, 5, -200.0),
}
BASE = {"CartPole-v1": (20.0, 300.0), "Pendulum-v1": (-1200.0, -600.0)}  # random, article
SEEDS, EPISODES = 4, 12


def make_suite(root, envs=ENVS, variants=VARIANTS, seeds=SEEDS):
    rng = np.random.default_rng(0)
    for env_id in envs:
        random, article = BASE.get(env_id, (0.0, 10.0))
        for k, name in enumerate(variants):
            level = article + k * 0.3 * abs(article - random)
            curves = pd.DataFrame(
                [
                    {
                        "seed": s,
                        "episode": e + 1,
                        "return": random + (level - random) * e / EPISODES + rng.normal(0, 5),
                        "length": 10 + e,
                        "loss": 0.1,
                    }
                    for s in range(seeds)
                    for e in range(EPISODES)
                ]
            )
            evaluation = pd.DataFrame(
                [
                    {"seed": s, "episode": e, "return": level + rng.normal(0, 20)}
                    for s in range(seeds)
                    for e in range(3)
                ]
            )
            base = paths.env_root(root, env_id) / "runs" / name
            (base / "train").mkdir(parents=True)
            (base / "eval").mkdir(parents=True)
            curves.to_csv(base / "train" / paths.CURVES_FILE, index=False)
            evaluation.to_csv(base / "eval" / paths.EVAL_FILE, index=False)
        randoms = pd.DataFrame(
            [
                {"seed": 100 + s, "episode": e, "return": random + rng.normal(0, 3)}
                for s in range(3)
                for e in range(5)
            ]
        )
        paths.random_path(paths.env_root(root, env_id)).parent.mkdir(parents=True)
        randoms.to_csv(paths.random_path(paths.env_root(root, env_id)), index=False)
    return root


def config(envs=ENVS):
    return SimpleNamespace(
        envs=envs,
        variants={name: None for name in VARIANTS},
        report=ReportConfig(bootstrap_resamples=300, smoothing_window=3),
    )


def test_the_report_writes_every_output_from_the_suites_numbers(tmp_path):
    make_suite(tmp_path)
    written = suite_report.write_suite_report(config(), tmp_path)
    for name in ("reports/suite.md", "reports/suite.json", "metrics.json"):
        assert name in written and (tmp_path / name).exists()
    for name in paths.SUITE_FIGURE_NAMES:
        assert (tmp_path / paths.SUITE_FIGURES / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    statistics = json.loads((tmp_path / paths.SUITE_STATISTICS).read_text())
    runs = pd.read_csv(tmp_path / paths.SUITE_TABLES / "runs.csv")
    assert len(runs) == len(ENVS) * len(VARIANTS) * SEEDS
    # the normalized score from the files themselves
    for env_id, env in ENVS.items():
        random = pd.read_csv(paths.random_path(paths.env_root(tmp_path, env_id))).groupby("seed")[
            "return"
        ]
        random = random.mean().mean()
        ev = pd.read_csv(paths.env_root(tmp_path, env_id) / "runs/better/eval/eval.csv")
        score = ev.groupby("seed")["return"].mean().to_numpy()
        mine = runs[(runs["env"] == env_id) & (runs["variant"] == "better")]["normalized"]
        expected = (score - random) / (env.reference_score - random)
        np.testing.assert_allclose(mine.to_numpy(), expected, atol=1e-6)
    strata = [
        runs[(runs["env"] == e) & (runs["variant"] == "better")]["normalized"].to_numpy()
        for e in ENVS
    ]
    assert statistics["aggregates"]["better"]["iqm"]["value"] == pytest.approx(
        suite.aggregate_iqm(strata), abs=1e-5
    )
    assert {r["variant"] for r in statistics["claims"]} == {"better"}
    headline = json.loads((tmp_path / paths.METRICS).read_text())
    assert set(headline) == set(VARIANTS) and "p_improve" in headline["better"]
    text = (tmp_path / paths.SUITE_REPORT).read_text()
    assert "(score - random) / (reference - random)" in text
    assert "| Pendulum-v1 |" in text and "no threshold" in text
    assert "-200 (its reference_score)" in text and "475 (its solved threshold)" in text
    assert "What the seeds support, and what they do not" in text


def test_the_same_inputs_give_the_same_bytes(tmp_path):
    a, b = make_suite(tmp_path / "a"), make_suite(tmp_path / "b")
    suite_report.write_suite_report(config(), a)
    suite_report.write_suite_report(config(), b)
    for name in (*paths.SUITE_FIGURE_NAMES,):
        assert (a / paths.SUITE_FIGURES / name).read_bytes() == (
            b / paths.SUITE_FIGURES / name
        ).read_bytes()
    for name in (paths.SUITE_REPORT, paths.SUITE_STATISTICS, paths.METRICS):
        assert (a / name).read_text() == (b / name).read_text()


def test_an_envs_own_claims_are_read_where_it_has_them(tmp_path):
    make_suite(tmp_path)
    env_stats = paths.env_root(tmp_path, "CartPole-v1") / paths.STATISTICS
    env_stats.parent.mkdir(parents=True)
    row = {
        "variant": "better",
        "metric": "final_return",
        "test": "welch",
        "effect": "mean difference",
        "effect_value": 12.5,
        "p": 0.01,
        "p_holm": 0.04,
        "verdict": "established: higher",
    }
    env_stats.write_text(json.dumps({"claims": [row]}))
    suite_report.write_suite_report(config(), tmp_path)
    table = pd.read_csv(tmp_path / paths.SUITE_TABLES / "per_env_claims.csv")
    assert table.to_dict("records") == [{"env": "CartPole-v1", **row}]
    text = (tmp_path / paths.SUITE_REPORT).read_text()
    assert "| better | final_return | welch | mean difference 12.50 | 0.040 |" in text
    assert "No per-env statistics (`envs/Pendulum-v1/reports/statistics.json`" in text


def _stage(tmp_path, monkeypatch, capsys, *args):
    from stages import suite_report as stage

    monkeypatch.chdir(tmp_path)
    code = stage.main(list(args))
    return code, capsys.readouterr()


def test_the_stage_runs_a_single_env_study_as_a_suite_of_one(tmp_path, monkeypatch, capsys):
    params = tiny_params(variants={"article": {"lr": 0.01}, "better": {"lr": 0.02}})
    params["report"]["bootstrap_resamples"] = 100
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = suite.EnvSettings("CartPole-v1", 475.0, 5, 475.0)
    make_suite(tmp_path / "study", envs={"CartPole-v1": env}, seeds=2)
    code, out = _stage(tmp_path, monkeypatch, capsys, "--params", "params.yaml", "--root", "study")
    assert code == 0, out.err
    assert "suite_report: wrote" in out.out
    assert (tmp_path / "study" / paths.SUITE_REPORT).exists()


def test_a_missing_random_policy_file_is_one_line(tmp_path, monkeypatch, capsys):
    params = tiny_params(variants={"article": {"lr": 0.01}, "better": {"lr": 0.02}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    make_suite(tmp_path / "study", envs={"CartPole-v1": ENVS["CartPole-v1"]})
    paths.random_path(paths.env_root(tmp_path / "study", "CartPole-v1")).unlink()
    code, out = _stage(tmp_path, monkeypatch, capsys, "--params", "params.yaml", "--root", "study")
    assert code == 1
    assert out.err.count("\n") == 1 and "random.csv: not found" in out.err


def test_a_bad_parameter_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(report={"ci": 2})))
    code, out = _stage(tmp_path, monkeypatch, capsys, "--params", "params.yaml")
    assert code == 2
    assert out.err.count("\n") == 1 and "report" in out.err


def test_an_env_with_nothing_to_normalize_by_is_one_line(tmp_path, monkeypatch, capsys):
    params = tiny_params(env={"id": "CartPole-v1", "solved_threshold": None, "solve_window": 5})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code, out = _stage(tmp_path, monkeypatch, capsys, "--params", "params.yaml")
    assert code == 2
    assert out.err.count("\n") == 1 and "envs.CartPole-v1.reference_score" in out.err


def test_a_reference_below_the_random_policy_is_one_line(tmp_path, monkeypatch, capsys):
    """Issue 28, item 8. Before: a reference_score below the random policy's return
    inverted every normalized score of the env, silently."""
    from reinforce.io.errors import DataError

    envs = {**ENVS, "Pendulum-v1": suite.EnvSettings("Pendulum-v1", None, 5, -2000.0)}
    make_suite(tmp_path, envs=envs)
    with pytest.raises(DataError) as caught:
        suite_report.write_suite_report(config(envs), tmp_path)
    message = str(caught.value)
    assert message.startswith(
        "envs.Pendulum-v1.reference_score: got -2000, below the random policy's mean return -1"
    )
    assert "every normalized score would be inverted" in message and "\n" not in message
    assert not (tmp_path / paths.SUITE_REPORT).exists()


def test_a_single_env_study_without_a_suite_layout_is_not_a_suite(tmp_path, monkeypatch, capsys):
    """Issue 28, item 8. Before: the root study's params asked to run `dvc repro` (its
    random.csv not found) instead of saying it is not a suite."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    code, out = _stage(tmp_path, monkeypatch, capsys, "--params", "params.yaml")
    assert code == 2
    assert out.err.splitlines() == [
        "suite_report: bad parameter: --params: a single-env study (`env: CartPole-v1`), not "
        "a suite (`envs`), and envs/CartPole-v1 is not there; suite_report reports a suite: "
        "--params studies/suite/params.yaml --root studies/suite"
    ]
