"""A hostile workspace (issue 28): names that would break out of a shell command, planted
symlinks that lead outputs outside the study, signals to a stage with workers, and the
damaged files doctor must name (docs/experiments.md, "Bad inputs")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import yaml

from reinforce.io.errors import ConfigError
from tests.conftest import ROOT, make_project, run, tiny_params

SUITE = "studies/suite"
# Each closes the quote of an interpolated '${key}' or ends the command: under the old
# dvc.yaml the first ran `touch PWNED` in the clone.
HOSTILE = ["a';touch PWNED;'", "a;touch PWNED", "$(touch PWNED)"]


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --------------------------------------------------------------------------------------
# 1. no user's name is ever shell text


def test_no_dvc_yaml_command_interpolates_a_name():
    for dvc_yaml in (ROOT / "dvc.yaml", ROOT / SUITE / "dvc.yaml"):
        for name, spec in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
            command = spec.get("do", spec)["cmd"]
            assert "${" not in command and "'" not in command, f"{dvc_yaml}: {name}: {command}"


@pytest.mark.parametrize(
    "addressing, expected",
    [
        ("train@article", ("train", "article")),
        ("../../dvc.yaml:tune@value-baseline", ("tune", "value-baseline")),
        ("studies/suite/dvc.yaml:train@CartPole-v1-article", ("train", "CartPole-v1-article")),
        ("dvc.yaml:random@CartPole-v1", ("random", "CartPole-v1")),
        ("check", None),
        ("", None),
    ],
)
def test_the_stage_dvc_runs_is_read_from_dvc_stage(monkeypatch, addressing, expected):
    from reinforce.io.cli import dvc_stage

    monkeypatch.setenv("DVC_STAGE", addressing)
    assert dvc_stage() == expected


def test_dvc_sets_dvc_stage_for_every_command():
    """The promise the stages rely on, in the installed DVC's own code."""
    import inspect

    from dvc.stage import run as dvc_run

    assert 'kwargs["env"][DVC_STAGE] = stage.addressing' in inspect.getsource(dvc_run)


def _study_args(tmp_path, params: dict, variant: str | None = None, **options):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    values = {"params": str(path), "env": None, "root": None, "suite": None, **options}
    return argparse.Namespace(variant=variant, **values)


def _suite_params() -> dict:
    params = tiny_params(variants={"article": {}, "v1-article": {}})
    del params["env"]
    params["envs"] = {"CartPole-v1": {}, "CartPole": {"solved_threshold": 475}}
    params["random"] = {"seeds": [200], "episodes": 1}
    params["tune"]["search"] = {}
    return params


def test_a_suite_stage_finds_its_env_and_variant_in_dvc_stage(tmp_path, monkeypatch):
    from reinforce.io.cli import load_study

    params = _suite_params()
    params["envs"] = {"CartPole-v1": {}, "Acrobot-v1": {}}
    monkeypatch.setenv("DVC_STAGE", "studies/suite/dvc.yaml:train@Acrobot-v1-v1-article")
    args = _study_args(tmp_path, params, suite="studies/suite")
    config = load_study(args, check_env=False)
    assert (args.env, args.variant) == ("Acrobot-v1", "v1-article")
    assert Path(args.root) == Path("studies/suite/envs/Acrobot-v1")
    assert config.env.id == "Acrobot-v1"


def test_an_ambiguous_or_unknown_matrix_key_is_one_line(tmp_path, monkeypatch):
    from reinforce.io.cli import load_study

    # CartPole-v1 + article and CartPole + v1-article: both are "CartPole-v1-article"
    monkeypatch.setenv("DVC_STAGE", "studies/suite/dvc.yaml:train@CartPole-v1-article")
    with pytest.raises(ConfigError, match=r"^DVC_STAGE: got 'CartPole-v1-article'; more than"):
        load_study(_study_args(tmp_path, _suite_params(), suite=SUITE), check_env=False)
    monkeypatch.setenv("DVC_STAGE", "studies/suite/dvc.yaml:train@Pong-article")
    with pytest.raises(ConfigError, match=r"^DVC_STAGE: got 'Pong-article'; no <env>"):
        load_study(_study_args(tmp_path, _suite_params(), suite=SUITE), check_env=False)


def test_a_stage_without_its_variant_outside_dvc_is_one_line(tmp_path, monkeypatch):
    from reinforce.io.cli import load_study

    monkeypatch.delenv("DVC_STAGE", raising=False)
    with pytest.raises(ConfigError, match=r"^variant: not given; name it as an argument"):
        load_study(_study_args(tmp_path, tiny_params()), check_env=False)


@pytest.mark.parametrize("name", HOSTILE)
def test_dvc_repro_of_a_hostile_tune_stage_runs_no_injected_command(tmp_path, name):
    params = tiny_params(
        variants={"article": {}, name: {}}, tune={"seeds": [10, 11], "search": {name: {}}}
    )
    clone = make_project(tmp_path / "clone", params)
    (clone / "tuning").mkdir(exist_ok=True)  # what an earlier good run left: check's output
    (clone / "tuning" / "params-check.json").write_text('{"params.yaml": "valid"}\n')
    result = run(["dvc", "repro", "-s", f"tune@{name}"], clone, check=False)
    assert result.returncode != 0
    assert "> python -m stages.tune\n" in result.stdout, result.stdout
    refusal, error = result.stderr.strip().splitlines()  # the stage's line, then DVC's
    assert refusal.startswith(f"tune: bad parameter: variants: got {name!r}"), refusal
    assert error.endswith("failed to run: python -m stages.tune, exited with 2"), error
    assert not list(tmp_path.rglob("PWNED*")), "the injected command ran"
    assert [p.name for p in (clone / "tuning" / "search").iterdir()] == ["README.md"]


def test_dvc_repro_of_a_hostile_suite_random_stage_runs_no_injected_command(tmp_path):
    name = HOSTILE[0]
    params = tiny_params()
    del params["env"]
    params["envs"] = {"CartPole-v1": {}, name: {}}
    params["random"] = {"seeds": [200], "episodes": 1}
    clone = make_project(tmp_path / "clone", tiny_params())
    suite = clone / SUITE
    (suite / "tuning").mkdir(parents=True)
    (suite / "tuning" / "params-check.json").write_text('{"params.yaml": "valid"}\n')
    (suite / "dvc.yaml").write_text((ROOT / SUITE / "dvc.yaml").read_text())
    (suite / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro", "-s", f"{SUITE}/dvc.yaml:random@{name}"], clone, check=False)
    assert result.returncode != 0
    command = "> python -m stages.random_policy --params studies/suite/params.yaml --suite "
    assert command in result.stdout, result.stdout
    refusal, error = result.stderr.strip().splitlines()  # the stage's line, then DVC's
    assert refusal.startswith(f"random: bad parameter: envs: got {name!r}"), refusal
    assert error.endswith("exited with 2"), error
    assert not list(tmp_path.rglob("PWNED*")), "the injected command ran"
    assert not (suite / "envs").exists()


def test_a_stage_named_directly_still_takes_its_variant_argument(tmp_path):
    clone = make_project(tmp_path / "clone", tiny_params(variants={"article": {}}))
    result = run([sys.executable, "-m", "stages.evaluate", "article"], clone, check=False)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("evaluate: "), result.stderr
