"""A hostile workspace (issue 28): names that would break out of a shell command, planted
symlinks that lead outputs outside the study, signals to a stage with workers, and the
damaged files doctor must name (docs/errors.md, "Bad input")."""

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
    # tiny_params' tune keys (dvc.yaml's tune stages name them all), its search replaced
    params = tiny_params(
        variants={"article": {}, name: {}}, tune={**tiny_params()["tune"], "search": {name: {}}}
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


# --------------------------------------------------------------------------------------
# 2. one path guard: no write or delete through a link leading outside the study


def stage(command: list[str], cwd: Path):
    return run([sys.executable, "-m", *command], cwd, check=False)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    params = tiny_params(variants={"article": {}})
    path = make_project(base / "repo", params)
    run(["dvc", "repro"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "outputs"], path)
    return path


@pytest.fixture
def moved_out(project, tmp_path):
    """runs/article moved outside the clone and linked back, a file of the user's in it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "runs" / "article").rename(outside / "article")
    (project / "runs" / "article").symlink_to(outside / "article")
    (outside / "article" / "train" / "mine.txt").write_text("keep")
    before = files(outside)
    yield outside, before
    (project / "runs" / "article").unlink()
    (outside / "article" / "train" / "mine.txt").unlink()
    (outside / "article").rename(project / "runs" / "article")
    run(["git", "checkout", "--", "params.yaml"], project)


def test_the_guard_refuses_writes_and_deletes_through_a_link_outside(tmp_path, monkeypatch):
    from reinforce.io.outputs import OutsideStudy, atomic_directory, guard, write_atomic

    study, outside = tmp_path / "study", tmp_path / "outside"
    (study / "runs").mkdir(parents=True)
    (outside / "train").mkdir(parents=True)
    (outside / "train" / "curves.csv").write_text("keep")
    (study / "runs" / "a").symlink_to(outside)
    (study / "metrics.json").symlink_to(outside / "train" / "curves.csv")
    monkeypatch.chdir(study)
    message = r"^runs/a/train: runs/a is a symlink to .*/outside, outside the study \("
    with pytest.raises(OutsideStudy, match=message):
        with atomic_directory("runs/a/train"):
            pytest.fail("ran inside a guarded folder")
    for path in ("runs/a/train/curves.csv", "runs/a/new/deeper/x.csv"):
        with pytest.raises(OutsideStudy, match=f"^{path}: runs/a is a symlink to "):
            write_atomic(path, "x")
    with pytest.raises(OutsideStudy, match="^metrics.json: metrics.json is a symlink to "):
        write_atomic("metrics.json", "x")
    assert files(outside) == {"train/curves.csv": b"keep"}  # nothing written, made or removed
    # inside the study: fine, and a link inside it is replaced, never followed
    (study / "runs" / "b").mkdir()
    (study / "runs" / "c").symlink_to(study / "runs" / "b")
    with atomic_directory("runs/c") as tmp:
        (tmp / "x").write_text("new")
    assert not (study / "runs" / "c").is_symlink() and (study / "runs" / "b").is_dir()
    assert guard("runs/b/x") == Path("runs/b/x")
    assert guard(tmp_path / "elsewhere") == tmp_path / "elsewhere"  # an explicit --out


def test_check_refuses_a_study_with_an_output_folder_linked_outside(project, moved_out):
    """After a param change, `dvc repro` stops at check: DVC removes nothing."""
    outside, before = moved_out
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["lr"] = 0.02
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro"], project, check=False)
    assert result.returncode != 0
    refusal, error = result.stderr.strip().splitlines()
    assert refusal.startswith("check: runs/article: runs/article is a symlink to "), refusal
    assert "outside the study" in refusal and "nothing was written" in refusal
    assert error.startswith("ERROR: failed to reproduce 'check'"), error
    assert files(outside) == before


def test_a_stage_refuses_an_output_folder_linked_outside_before_training(project, moved_out):
    outside, before = moved_out
    result = stage(["stages.train", "article"], project)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("train: runs/article/train: runs/article is a symlink to "), line
    assert "train@article:" not in result.stdout  # refused before any training
    assert files(outside) == before


def test_plot_refuses_a_figures_folder_linked_outside(project, tmp_path):
    figures = project / "reports" / "figures"
    outside = tmp_path / "figures"
    figures.rename(outside)
    figures.symlink_to(outside)
    before = files(outside)
    try:
        result = stage(["stages.plot"], project)
        assert result.returncode == 1
        line = one_line(result.stderr)
        assert line.startswith("plot: reports/figures: reports/figures is a symlink to "), line
        assert files(outside) == before
        # a link inside the study is replaced by the new folder (it used to be an OSError)
        figures.unlink()
        (project / "reports" / "elsewhere").mkdir()
        figures.symlink_to(project / "reports" / "elsewhere")
        result = stage(["stages.plot"], project)
        assert result.returncode == 0, result.stderr
        assert figures.is_dir() and not figures.is_symlink()
        assert files(figures) == before
    finally:
        if figures.is_symlink():
            figures.unlink()
        (project / "reports" / "elsewhere").rmdir()
        if not figures.exists():
            outside.rename(figures)


def test_doctor_refuses_a_lock_linked_outside(project, tmp_path):
    lock = project / "dvc.lock"
    whole = lock.read_bytes()
    outside = tmp_path / "dvc.lock"
    damaged = b"schema: '2.0'\nstages:\n  train:\n    cmd: ["  # so --fix would repair it
    outside.write_bytes(damaged)
    lock.unlink()
    lock.symlink_to(outside)
    try:
        result = stage(["stages.doctor", "--fix"], project)
        assert result.returncode == 1
        line = one_line(result.stderr)
        assert line.startswith("doctor: dvc.lock: dvc.lock is a symlink to "), line
        assert outside.read_bytes() == damaged
        assert not (project / "dvc.lock.damaged").exists()
    finally:
        lock.unlink()
        lock.write_bytes(whole)


def test_doctor_names_a_lock_that_is_a_folder_in_one_line(project):
    lock = project / "dvc.lock"
    whole = lock.read_bytes()
    lock.unlink()
    lock.mkdir()
    (lock / "notes.txt").write_text("keep")
    try:
        for command in (["stages.doctor"], ["stages.doctor", "--fix"]):
            result = stage(command, project)
            assert result.returncode == 1, result.stderr
            assert one_line(result.stderr).startswith(
                "doctor: dvc.lock is a folder, not DVC's lock file; move it away"
            ), result.stderr
        assert (lock / "notes.txt").read_text() == "keep"
    finally:
        (lock / "notes.txt").unlink()
        lock.rmdir()
        lock.write_bytes(whole)


def test_doctor_checks_the_suite_lock_too(project):
    suite = project / SUITE
    suite.mkdir(parents=True)
    (suite / "dvc.yaml").write_text((ROOT / SUITE / "dvc.yaml").read_text())
    try:
        result = stage(["stages.doctor"], project)
        assert result.stdout == "doctor: dvc.lock and studies/suite/dvc.lock are readable\n"
        (suite / "dvc.lock").write_text("schema: '2.0'\nstages:\n  check:\n    cmd: [")
        result = stage(["stages.doctor"], project)
        assert result.returncode == 1
        assert one_line(result.stderr).startswith(
            "doctor: studies/suite/dvc.lock is cut short or damaged (an interrupted write); "
            "restore it with `git checkout -- studies/suite/dvc.lock`"
        ), result.stderr
        result = stage(["stages.doctor", "--fix"], project)
        assert result.returncode == 0
        assert result.stdout.startswith("doctor: removed studies/suite/dvc.lock"), result.stdout
        assert not (suite / "dvc.lock").exists()
    finally:
        for name in ("dvc.yaml", "dvc.lock", "dvc.lock.damaged"):
            (suite / name).unlink(missing_ok=True)
        suite.rmdir()
        suite.parent.rmdir()


def test_a_root_outside_the_clone_that_is_not_there_is_one_line(project, tmp_path):
    missing = tmp_path / "nonexistent" / "dir"
    result = stage(["stages.select", "--root", str(missing)], project)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        f"select: bad parameter: --root: got '{missing}'; not a folder; allowed: an existing "
        "study folder, or a new one inside the working folder"
    )
    assert not (tmp_path / "nonexistent").exists()


# --------------------------------------------------------------------------------------
# the image's entrypoint: `--` with nothing after it is a usage error, not a silent success


def test_the_entrypoint_refuses_a_bare_double_dash(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "HOME": str(tmp_path)}
    script = str(ROOT / "docker" / "entrypoint.sh")
    result = subprocess.run(
        ["bash", script, "--"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(
        "reinforce-image: ERROR: nothing to run after '--'; usage: IMAGE [repro [ARGS]"
    ), result.stderr
    result = subprocess.run(
        ["bash", script, "--", "echo", "verify"], cwd=tmp_path, env=env, capture_output=True
    )
    assert (result.returncode, result.stdout) == (0, b"verify\n")  # as is, even "verify"
