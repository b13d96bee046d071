"""What the benchmarks compute and check (their timings are measured, never tested)."""

import pytest

from benchmarks import sweep_cost
from benchmarks.sweep_cost import commit_of, stage_seconds, table
from tests.conftest import run


def test_a_stage_runs_from_its_line_to_the_next_stages():
    lines = [
        (0.5, "Running stage 'check':\n"),
        (0.6, "> python -m stages.check\n"),
        (2.0, "Running stage 'tune@ppo':\n"),
        (9.0, "Updating lock file 'dvc.lock'\n"),
        (10.0, "Running stage 'plot':\n"),
    ]
    assert stage_seconds(lines, 12.5) == pytest.approx({"check": 1.5, "tune@ppo": 8.0, "plot": 2.5})


def test_the_table_gives_medians_and_blanks_for_a_missing_stage():
    old = [({"check": 1.0, "train@a": 4.0}, 6.0), ({"check": 3.0, "train@a": 6.0}, 10.0)]
    new = [({"check": 1.0, "train@b": 2.0}, 3.0), ({"check": 1.0, "train@b": 2.0}, 3.0)]
    rows = table({"a" * 40: old, "b" * 40: new}).splitlines()
    assert rows[1].split() == ["check", "2.0s", "1.0s"]
    assert rows[2].split() == ["train@a", "5.0s"]  # new has no train@a
    assert rows[3].split() == ["train@b", "2.0s"]
    assert rows[4].split() == ["whole", "sweep", "8.0s", "3.0s"]


@pytest.mark.parametrize("revision", ["--output=/tmp/x", "", "no-such-commit-here"])
def test_a_revision_that_is_no_commit_is_refused_in_one_line(revision):
    with pytest.raises(SystemExit, match="--baseline: got .*; allowed: a commit of"):
        commit_of(revision)


def _repository(path, script: str):
    """A git + DVC repository whose pipeline is two stages running `script`, committed
    with the dvc.lock of one run; its commit."""
    path.mkdir()
    (path / "write.py").write_text(script)
    (path / "dvc.yaml").write_text(
        "stages:\n"
        "  first:\n    cmd: python write.py a.txt\n    deps: [write.py]\n    outs: [a.txt]\n"
        "  second:\n    cmd: python write.py b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n"
    )
    for command in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "test@example.com"],
        ["git", "config", "user.name", "test"],
        ["dvc", "init", "-q"],
        ["dvc", "repro", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "pipeline"],
    ):
        run(command, path)
    return run(["git", "rev-parse", "HEAD"], path).stdout.strip()


FIXED = "import sys\nopen(sys.argv[1], 'w').write('the same bytes')\n"
RANDOM = "import os, sys\nopen(sys.argv[1], 'wb').write(os.urandom(8))\n"


@pytest.mark.slow  # a real sweep: clones and dvc repro of a two-stage repository
@pytest.mark.parametrize("script, verdict", [(FIXED, "every output as"), (RANDOM, "differ")])
def test_a_sweep_times_each_stage_of_a_fresh_clone_and_checks_its_bytes(
    tmp_path, monkeypatch, capsys, script, verdict
):
    commit = _repository(tmp_path / "repo", script)
    monkeypatch.setattr(sweep_cost, "REPO", tmp_path / "repo")
    (tmp_path / "work").mkdir()
    seconds, total = sweep_cost.sweep(commit, tmp_path / "work", warm_numba=False)
    assert list(seconds) == ["first", "second"]
    assert all(s > 0 for s in seconds.values()) and sum(seconds.values()) <= total
    assert verdict in capsys.readouterr().out


@pytest.mark.slow  # a real sweep: clones and dvc repro of a two-stage repository
def test_a_failed_sweep_stops_with_the_end_of_dvcs_output(tmp_path, monkeypatch):
    _repository(tmp_path / "repo", FIXED)
    (tmp_path / "repo" / "write.py").write_text("raise SystemExit('the stage broke')\n")
    run(["git", "commit", "-qam", "broken"], tmp_path / "repo")
    commit = run(["git", "rev-parse", "HEAD"], tmp_path / "repo").stdout.strip()
    monkeypatch.setattr(sweep_cost, "REPO", tmp_path / "repo")
    (tmp_path / "work").mkdir()
    with pytest.raises(SystemExit, match="(?s)dvc repro failed.*the stage broke"):
        sweep_cost.sweep(commit, tmp_path / "work", warm_numba=False)
