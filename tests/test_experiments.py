"""End to end: `dvc exp run -S`, the diffs, and a queued sweep on tiny params, in a temporary
git repository (docs/experiments.md walks through the same commands).

`-S` uses Hydra's override grammar: a plain `key=value` overrides a key params.yaml holds
(params.yaml writes the article variant's lr out for this); a key it does not hold yet is
refused unless added with `++key=value` (add or override).
"""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_project, run, tiny_params, tree_bytes

# The short `dvc exp show` of docs/experiments.md: the changed params and the final-return
# IQM of the variants that changed (metrics.json, the headline file).
SHOW_NARROW = [
    "dvc",
    "exp",
    "show",
    "--no-pager",
    "--only-changed",
    "--drop",
    r"Created|State|Executor|.*/|runs$"
    r"|.*\.(iqm_|solve_rate|episodes_to_solve|steps_to_solve|n_seeds|chosen)",
]
# The default three variants and a fourth with a long name: the short table must fit
# 100 columns with them.
VARIANTS = {
    "article": {"lr": 0.01},
    "value-baseline": {"baseline": "value"},
    "lr-1e-3": {"lr": 0.001},
    "critic-lr-1e-3": {"baseline": "value", "critic_lr": 0.001},
}


def show_narrow(project: Path, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    shown = run(SHOW_NARROW, project).stdout
    assert max(len(line) for line in shown.splitlines()) <= 100, shown
    assert "…" not in shown, shown
    return shown


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = make_project(
        tmp_path_factory.mktemp("experiments") / "repo",
        # no search space: here a variant's own keys change; how the
        # tuning stages rerun is tests/test_tuning.py's
        tiny_params(variants=VARIANTS, tune={"seeds": [10, 11], "search": {}}),
    )
    if (ROOT / "dvc_templates").is_dir() and not (path / "dvc_templates").exists():
        # `dvc plots` needs the template dvc.yaml names.
        shutil.copytree(ROOT / "dvc_templates", path / "dvc_templates")
    run(["dvc", "repro"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "baseline results"], path)
    return path


def workspace_files(path: Path) -> dict[str, bytes]:
    """Every file of the workspace outside .git/ and .dvc/."""
    return tree_bytes(path, *[p.name for p in path.iterdir() if p.name not in (".git", ".dvc")])


def restore_head(path: Path) -> None:
    run(["git", "checkout", "-q", "--", "."], path)
    run(["dvc", "checkout", "--force"], path)
    assert run(["git", "status", "--porcelain"], path).stdout == ""


def test_exp_run_set_param_and_the_diffs(project, tmp_path, monkeypatch):
    # Plain `key=value` only overrides keys that exist; a new key needs `++`.
    refused = run(["dvc", "exp", "run", "-S", "variants.article.gamma=0.9"], project, check=False)
    assert refused.returncode != 0
    assert "+variants.article.gamma" in refused.stdout + refused.stderr
    assert run(["git", "status", "--porcelain"], project).stdout == ""

    before = workspace_files(project)
    result = run(["dvc", "exp", "run", "-S", "variants.article.lr=0.005"], project)
    assert "Stage 'train@value-baseline' didn't change, skipping" in result.stdout
    assert "Running stage 'train@article'" in result.stdout
    assert "Ran experiment(s)" in result.stdout
    after = workspace_files(project)
    for name in before:  # the other variant's outputs are untouched
        if name.startswith("runs/value-baseline/"):
            assert after[name] == before[name], name
    assert not list(project.rglob(".tmp-*"))

    params = run(["dvc", "params", "diff"], project).stdout
    assert "variants.article.lr" in params and "0.005" in params, params
    assert len(params.strip().splitlines()) == 2, params  # header + the one change

    metrics = run(["dvc", "metrics", "diff"], project).stdout
    changed = [line.split()[1] for line in metrics.strip().splitlines()[1:]]
    assert changed and all(name.startswith("article.") for name in changed), metrics

    shown = show_narrow(project, monkeypatch)
    assert "variants.article.lr" in shown and "article.iqm" in shown, shown
    assert "value-baseline.iqm" not in shown, shown  # unchanged: --only-changed drops it
    table = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    experiments = table[1]["experiments"]
    assert len(experiments) == 1
    data = experiments[0]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["variants"]["article"] == {"lr": 0.005}

    if (project / "dvc_templates").is_dir():
        plots = run(["dvc", "plots", "diff", "-o", str(tmp_path / "plots")], project).stdout
        assert (tmp_path / "plots" / "index.html").exists(), plots

    restore_head(project)


def _wait_for_queue(project: Path, timeout: float = 300) -> tuple[int, set[str], set[str]]:
    """Wait for the queue to drain; returns the largest number of experiment workspaces
    seen at once, every workspace seen, and every `.tmp-*` path seen (relative)."""
    exps = project / ".dvc" / "tmp" / "exps"
    most, workspaces, temps = 0, set(), set()
    deadline = time.monotonic() + timeout
    next_status = 0.0
    while time.monotonic() < deadline:
        current = [p for p in exps.glob("tmp*") if p.is_dir()] if exps.exists() else []
        most = max(most, len(current))
        workspaces.update(p.name for p in current)
        for runs in [project / "runs", *(p / "runs" for p in current)]:
            for dirpath, dirnames, filenames in os.walk(runs):
                for name in dirnames + filenames:
                    if name.startswith(".tmp-"):
                        temps.add(os.path.relpath(os.path.join(dirpath, name), project))
        if time.monotonic() >= next_status:
            status = run(["dvc", "queue", "status"], project).stdout
            busy = any(word in status for word in ("Queued", "Running"))
            if not busy and "0 active" in status:
                return most, workspaces, temps
            assert "Failed" not in status, status
            next_status = time.monotonic() + 3
        time.sleep(0.2)
    run(["dvc", "queue", "kill", "--all"], project, check=False)
    run(["dvc", "queue", "stop", "--kill"], project, check=False)
    raise AssertionError(
        f"queue not done after {timeout} s:\n" + run(["dvc", "queue", "status"], project).stdout
    )


def test_queued_sweep_runs_in_parallel_in_separate_workspaces(project):
    before = workspace_files(project)
    queued = run(
        ["dvc", "exp", "run", "--queue", "-S", "variants.article.lr=0.001,0.003,0.01"], project
    ).stdout
    names = set(re.findall(r"Queued experiment '([^']+)'", queued))
    assert len(names) == 3, queued
    try:
        # The queue's workers are daemons that inherit stdout/stderr: with run()'s pipes,
        # `dvc queue start` would not return before they exit.
        with open(project.parent / "queue-start.log", "w") as log:
            subprocess.run(
                ["dvc", "queue", "start", "-j", "2"],
                cwd=project,
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        most, workspaces, temps = _wait_for_queue(project)
    finally:
        run(["dvc", "queue", "stop"], project, check=False)

    status = run(["dvc", "queue", "status"], project).stdout
    assert status.count("Success") == 3, status
    # Two experiments ran at the same time, each in its own copy of the repository.
    # (A third one that reruns nothing can come and go between two looks.)
    assert most == 2 and len(workspaces) >= 2, (most, workspaces)
    # Temporary files live beside their outputs inside each experiment's workspace only:
    # nothing appeared in (or changed in) the user's workspace, logs/ included, but each
    # experiment's live metrics, in the git-ignored dvclive/<experiment>/ (docs/agents.md).
    assert all(t.startswith(".dvc/tmp/exps/tmp") for t in temps), temps
    after = workspace_files(project)
    live = {name for name in after if name.startswith("dvclive/") and name not in before}
    trained = {name.split("/")[1] for name in live}  # (one lr is the baseline's: no training)
    assert trained <= names and len(trained) >= 2, live
    assert {n: b for n, b in after.items() if n not in live} == before
    assert not list(project.rglob(".tmp-*"))
    assert not [p for p in (project / ".dvc" / "tmp" / "exps").glob("tmp*")]
    assert sorted(p.name for p in project.parent.iterdir()) == ["queue-start.log", "repo"]

    table = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    baseline = table[1]["data"]
    base_metrics = baseline["metrics"]["metrics.json"]["data"]
    by_lr, logs = {}, {}
    for experiment in table[1]["experiments"]:
        if experiment["name"] not in names:
            continue  # the experiment of the test above
        data = experiment["revs"][0]["data"]
        lr = data["params"]["params.yaml"]["data"]["variants"]["article"].get("lr")
        by_lr[lr] = data
        logs[lr] = Path(experiment["executor"]["local"]["log"])
    assert sorted(by_lr) == [0.001, 0.003, 0.01], by_lr.keys()

    for lr, data in by_lr.items():
        metrics = data["metrics"]["metrics.json"]["data"]
        outs = {path: out["hash"] for path, out in data["outs"].items()}
        # The variant nobody changed: the same numbers in every experiment.
        # metrics.json holds no comparison with the article variant, so all of it stays
        assert metrics["value-baseline"] == base_metrics["value-baseline"], lr
        for path in ("runs/value-baseline/train", "runs/value-baseline/eval"):
            assert outs[path] == baseline["outs"][path]["hash"], (lr, path)
        if lr != 0.01:
            assert outs["runs/article/train"] != baseline["outs"]["runs/article/train"]["hash"]

    # lr=0.01 is what params.yaml already says: nothing reruns, the same outputs.
    log = logs[0.01].read_text()
    assert "Stage 'train@article' didn't change, skipping" in log, log
    same = by_lr[0.01]
    for path in ("runs/article/train", "runs/article/eval", "reports/tables"):
        assert same["outs"][path]["hash"] == baseline["outs"][path]["hash"], path
    assert same["metrics"]["metrics.json"]["data"] == base_metrics


def test_same_setup_gives_the_same_numbers_in_another_variant_and_experiment(project, monkeypatch):
    """value-baseline set to the article's setup, in an experiment: it is retrained from
    scratch and gives the article's bytes and numbers (the same seeds, the same config)."""
    result = run(["dvc", "exp", "run", "-S", "variants.value-baseline.baseline=none"], project)
    assert "Running stage 'train@value-baseline'" in result.stdout, result.stdout
    try:
        for stage in ("train", "eval"):
            article = tree_bytes(project, f"runs/article/{stage}")
            other = tree_bytes(project, f"runs/value-baseline/{stage}")
            assert {k.split("/", 2)[2]: v for k, v in article.items()} == {
                k.split("/", 2)[2]: v for k, v in other.items()
            }, stage
        metrics = json.loads((project / "metrics.json").read_text())
        assert metrics["value-baseline"] == metrics["article"]
        full = json.loads((project / "reports" / "statistics.json").read_text())["variants"]
        assert full["value-baseline"]["final_return"] == full["article"]["final_return"]
        assert full["value-baseline"]["p_improve"]["value"] == 0.5
        assert full["value-baseline"]["comparison"]["mean_difference"] == 0.0
        # The short table with the longest default variant name changed. --only-changed
        # looks across every experiment listed, so keep only this one.
        name = re.search(r"Ran experiment\(s\): (\S+)", result.stdout).group(1)
        run(["dvc", "exp", "remove", "--keep", name], project)
        shown = show_narrow(project, monkeypatch)
        assert "variants.value-baseline.baseline" in shown, shown
        assert "value-baseline.iqm" in shown and "article.iqm" not in shown, shown
    finally:
        restore_head(project)
