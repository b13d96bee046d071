"""The arithmetic of the benchmarks (their figures are measured, never tested)."""

import pytest

from benchmarks.sweep_cost import commit_of, stage_seconds, table


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
