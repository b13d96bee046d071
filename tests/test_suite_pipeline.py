"""The suite study (studies/suite/dvc.yaml) end to end on tiny params, in a temporary git
repository: every env x variant stage runs, each env's folder has the single-env layout,
an env without a solved threshold (Pendulum-v1, continuous actions) makes no solve claim,
and editing one env's settings reruns only that env's stages."""

from pathlib import Path

import pytest
import yaml
from conftest import make_project, run, tiny_params

SUITE = "studies/suite"


def tiny_suite(**overrides) -> dict:
    params = tiny_params()
    del params["env"]
    params["envs"] = {
        "CartPole-v1": {"solve_window": 3},
        "Pendulum-v1": {"episodes": 4, "reference_score": 0, "solve_window": 3},
    }
    params["random"] = {"seeds": [200, 201], "episodes": 2}
    params.update(overrides)
    return params


def make_suite(path: Path, params: dict) -> Path:
    project = make_project(path, tiny_params())
    suite = project / SUITE
    suite.mkdir(parents=True)
    (suite / "dvc.yaml").write_text((Path(__file__).parents[1] / SUITE / "dvc.yaml").read_text())
    (suite / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "suite"], project)
    return project


def ran(result) -> set[str]:
    return {
        line.split("'")[1]
        for line in result.stdout.splitlines()
        if line.startswith("Running stage '")
    }


@pytest.fixture(scope="module")
def suite_project(tmp_path_factory):
    project = make_suite(tmp_path_factory.mktemp("suite"), tiny_suite())
    result = run(["dvc", "repro", f"{SUITE}/dvc.yaml"], project)
    return project, result


def test_suite_runs_every_env_and_variant(suite_project):
    project, result = suite_project
    stages = ran(result)
    for env in ("CartPole-v1", "Pendulum-v1"):
        for variant in ("article", "value-baseline"):
            assert f"{SUITE}/dvc.yaml:train@{env}-{variant}" in stages
            root = project / SUITE / "envs" / env
            assert (root / "runs" / variant / "train" / "curves.csv").is_file()
            assert (root / "runs" / variant / "eval" / "eval.csv").is_file()
        assert (root / "random" / "random.csv").is_file()
        assert (root / "metrics.json").is_file()
        assert (root / "reports" / "report.md").is_file()
    # the root study was not run
    assert not (project / "runs").exists()


def test_env_without_threshold_has_no_solve_claims(suite_project):
    project, _ = suite_project
    report = (project / SUITE / "envs" / "Pendulum-v1" / "reports" / "report.md").read_text()
    assert "has no solved threshold" in report
    claims = project / SUITE / "envs" / "Pendulum-v1" / "reports" / "tables" / "claims.csv"
    assert "solve" not in claims.read_text()
    cartpole = project / SUITE / "envs" / "CartPole-v1" / "reports" / "tables" / "claims.csv"
    assert "solve_rate" in cartpole.read_text()
    figures = project / SUITE / "envs" / "Pendulum-v1" / "reports" / "figures"
    assert not (figures / "time_to_solve.png").exists()
    assert (figures / "learning_curves.png").is_file()


def test_editing_one_env_reruns_only_its_stages(suite_project):
    project, _ = suite_project
    params_path = project / SUITE / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["envs"]["Pendulum-v1"]["episodes"] = 5
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    stages = ran(run(["dvc", "repro", f"{SUITE}/dvc.yaml"], project))
    assert any("Pendulum-v1" in s for s in stages)
    assert not any("CartPole-v1" in s for s in stages), stages


@pytest.mark.parametrize(
    "change, words",
    [
        ({"envs": {"Pendulum-v1": {}}}, ["envs.Pendulum-v1.reference_score"]),
        ({"envs": {"Nope-v0": {}}}, ["envs.Nope-v0: ", "not a registered"]),
        ({"envs": {"CartPole-v1": {"episodes": 0}}}, ["envs.CartPole-v1.episodes", "0"]),
        ({"envs": {"CartPole-v1": {"id": "x"}}}, ["envs.CartPole-v1.id"]),
        ({"random": {"seeds": [0]}}, ["random.seeds"]),
    ],
)
def test_bad_env_settings_are_one_line(tmp_path, change, words):
    from reinforce.io.config import load_config
    from reinforce.io.errors import ConfigError

    params = tiny_suite(**change)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_the_documented_drop_step_works_where_the_suite_was_never_run(suite_project, tmp_path):
    """A clone that ran only the root study holds the committed suite's outputs in no
    cache: the bare `dvc checkout --force` (the old "Drop" step; `dvc exp apply` ends the
    same way) exits 255 naming them; the documented `dvc checkout --force dvc.yaml` checks
    out the root study alone (docs/experiments.md, "Keep it or drop it")."""
    import shutil

    project, _ = suite_project
    origin = tmp_path / "origin"
    shutil.copytree(project, origin, symlinks=True)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-qm", "the suite's outputs"], origin)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    run(["dvc", "repro"], clone)  # the root study alone: its outputs in this clone's cache
    curves = clone / "runs" / "article" / "train" / "curves.csv"
    curves.unlink()  # an output for the checkout to bring back

    bare = run(["dvc", "checkout", "--force"], clone, check=False)
    assert bare.returncode == 255 and f"{SUITE}/envs/" in bare.stderr, bare.stderr
    run(["dvc", "checkout", "--force", "dvc.yaml"], clone)
    assert curves.is_file()
