"""Sharing results through a DVC remote (docs/getting-started.md, "Fetching the committed
results instead of recomputing them"): push to a folder remote, pull in a fresh clone,
nothing is left to recompute."""

from __future__ import annotations

import json

from conftest import make_project, run, tiny_params, tree_bytes


def test_push_then_pull_in_a_fresh_clone_needs_no_rerun(tmp_path):
    origin = make_project(tmp_path / "origin", tiny_params(seeds=[0], compute={"workers": 1}))
    remote = tmp_path / "shared-remote"
    run(["dvc", "repro"], origin)
    run(["dvc", "remote", "add", "-d", "shared", str(remote)], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-qm", "results and the shared remote"], origin)
    pushed = run(["dvc", "push"], origin)
    assert "pushed" in pushed.stdout, pushed.stdout
    assert any(remote.rglob("*")), "the remote holds nothing after dvc push"

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    assert not list(clone.glob("runs/*/*/*.csv")), "runs/ is DVC-cached, not in git"
    run(["dvc", "pull"], clone)

    status = run(["dvc", "status", "--json"], clone)
    assert json.loads(status.stdout) == {}, status.stdout
    repro = run(["dvc", "repro"], clone)
    assert "Running stage" not in repro.stdout, repro.stdout
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    # The pulled outputs are the committed run's, byte for byte, and dvc.lock names their hashes.
    assert tree_bytes(clone, "runs") == tree_bytes(origin, "runs")
    assert tree_bytes(clone, "runs")  # not vacuous
    cloud = run(["dvc", "status", "--cloud", "--json"], clone)
    assert json.loads(cloud.stdout) == {}, cloud.stdout
