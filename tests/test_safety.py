"""Hostile and broken input (issue 18): no shell injection, nothing deleted outside a stage's
outputs, every failure one line, nothing lost."""

import errno
import os
import socket
import subprocess
import sys

import pytest
import yaml

from reinforce.io.config import ConfigError, load_config, parse_config
from reinforce.io.errors import DataError, WorkerFailed
from tests.conftest import ROOT, make_project, run, tiny_params, tree_bytes

# One variant per documented train switch, so that one `dvc repro` runs them all.
SWITCHES = {
    "batched": {"episodes_per_update": 2},
    "clipped": {"grad_clip_norm": 0.5},
    "entropy": {"entropy_coef": 0.01},
    "actor-critic": {
        "baseline": "value",
        "advantage": "gae",
        "gae_lambda": 0.9,
        "normalize_returns": False,
        "normalize_advantages": True,
        "update_epochs": 2,
        "minibatches": 2,
        "clip_ratio": 0.2,
        "critic_lr": 0.003,
    },
}


def stage(command: list[str], cwd, **kwargs):
    return run([sys.executable, "-m", *command], cwd, check=False, **kwargs)


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    params = tiny_params(
        variants={"article": {"lr": 0.01}, "value-baseline": {"baseline": "value"}, **SWITCHES}
    )
    path = make_project(tmp_path_factory.mktemp("safety") / "repo", params)
    run(["dvc", "repro"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "outputs"], path)
    return path


# --------------------------------------------------------------------------------------
# 3. every documented switch, end to end


def test_every_train_switch_runs_end_to_end(project):
    import json

    metrics = json.loads((project / "metrics.json").read_text())
    assert set(SWITCHES) <= set(metrics)
    for name in SWITCHES:
        rows = (project / "runs" / name / "train" / "curves.csv").read_text().splitlines()
        assert len(rows) == 1 + 2 * 6
    batched = (project / "runs" / "batched" / "train" / "curves.csv").read_text().splitlines()
    # episodes 1, 3, 5 end no update: their loss cell is empty; 2, 4, 6 update
    assert [row.endswith(",") for row in batched[1:7]] == [True, False] * 3
    assert "up to date" in run(["dvc", "status"], project).stdout.lower()


def test_check_stage_runs_first_and_its_output_is_the_same_for_any_valid_params(project):
    record = (project / "tuning" / "params-check.json").read_bytes()
    params = (project / "params.yaml").read_text()
    try:
        (project / "params.yaml").write_text(
            params.replace("entropy_coef: 0.01", "entropy_coef: 0.02")
        )
        dry = run(["dvc", "repro", "--dry"], project).stdout
        assert dry.index("Running stage 'check'") < dry.index("Running stage 'train@entropy'")
        assert "Stage 'train@article' didn't change" in dry
        assert stage(["stages.check"], project).returncode == 0
        assert (project / "tuning" / "params-check.json").read_bytes() == record
    finally:
        (project / "params.yaml").write_text(params)
        run(["git", "checkout", "--", "tuning/params-check.json"], project)


# --------------------------------------------------------------------------------------
# 6. a bad value under dvc repro removes no output


def test_a_bad_value_under_dvc_repro_fails_in_check_and_removes_no_output(project):
    before = tree_bytes(project, "tuning", "runs", "metrics.json", "reports")
    params = (project / "params.yaml").read_text()
    bad = yaml.safe_load(params)
    bad["train"]["lr"] = -1
    bad["variants"]["article"]["lr"] = -1
    (project / "params.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    try:
        result = run(["dvc", "repro"], project, check=False)
        assert result.returncode != 0
        assert "check: bad parameter: train.lr: got -1.0; allowed: a number > 0" in (
            result.stdout + result.stderr
        )
        assert "Running stage 'train@" not in result.stdout
        after = tree_bytes(project, "tuning", "runs", "metrics.json", "reports")
        assert after == before
    finally:
        (project / "params.yaml").write_text(params)
    assert "up to date" in run(["dvc", "status"], project).stdout.lower()


# --------------------------------------------------------------------------------------
# 1. names: no shell injection, no path outside the clone


def test_hostile_variant_names_run_nothing_and_write_nothing_outside_the_clone(tmp_path):
    hostile = ["a;touch${IFS}../PWNED", "x --out=../escape", "$(touch ../PWNED2)", "with space"]
    for name in hostile:
        params = tiny_params(variants={"article": {}, name: {}})
        clone = make_project(tmp_path / f"clone{hostile.index(name)}", params)
        result = run(["dvc", "repro"], clone, check=False)
        assert result.returncode != 0, name
        out = result.stdout + result.stderr
        assert "check: bad parameter: variants: got" in out, out
        assert not (clone / "runs").exists() and not (clone / "tuning" / "selected").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"clone{i}" for i in range(len(hostile))
    )


def test_names_are_checked_against_one_pattern():
    for name in ["a;b", "x --out=y", "-h", "with space", "a\nb", "n" * 65, "", "a.b", "a/b"]:
        with pytest.raises(ConfigError, match=r"^variants: got .*letters, digits"):
            parse_config(tiny_params(variants={"article": {}, name: {}}), check_env=False)
    search = {"seeds": [10], "search": {"a;b": {"lr": [0.1]}}}
    with pytest.raises(ConfigError, match=r"^tune\.search: got 'a;b'"):
        parse_config(tiny_params(tune=search), check_env=False)
    config = parse_config(tiny_params(variants={"article": {}, "A_b-9": {}}), check_env=False)
    with pytest.raises(ConfigError, match=r"^variant: got '../x'"):
        config.variant("../x")


def test_a_stage_refuses_an_unsafe_variant_argument(project):
    result = stage(["stages.train", "--out=../escape"], project)
    assert result.returncode == 2
    result = stage(["stages.evaluate", "../article"], project)
    assert result.returncode == 2 and one_line(result).startswith(
        "evaluate: bad parameter: variant: got '../article'"
    )


# --------------------------------------------------------------------------------------
# 2. --out never deletes what is not the stage's own


def test_out_refuses_the_clone_a_folder_above_and_a_foreign_folder(project):
    (project / "mine").mkdir()
    (project / "mine" / "notes.txt").write_text("keep")
    try:
        for out in (".", "..", "mine", str(project / "mine")):
            result = stage(["stages.train", "article", "--out", out], project)
            assert result.returncode == 2, out
            assert one_line(result).startswith("train: bad parameter: --out: got"), out
        assert (project / "mine" / "notes.txt").read_text() == "keep"
        assert (project / ".git").is_dir() and (project / "dvc.yaml").exists()
    finally:
        (project / "mine" / "notes.txt").unlink()
        (project / "mine").rmdir()


def test_out_folder_rules(tmp_path, monkeypatch):
    from reinforce.io.outputs import atomic_directory, check_output_folder

    monkeypatch.chdir(tmp_path)
    owns = {"curves.csv", "environment.json"}.__contains__
    check_output_folder("new/deeper", "train", owns)  # new: fine
    (tmp_path / "previous").mkdir()
    (tmp_path / "previous" / "curves.csv").write_text("x")
    check_output_folder("previous", "train", owns)  # a previous output: fine
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    with pytest.raises(ConfigError, match="never the working folder"):
        check_output_folder("repo", "train", owns)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="it is a file"):
        check_output_folder("file", "train", owns)
    for path in (".", tmp_path.parent, "repo"):
        with pytest.raises(ConfigError, match="refusing to replace"):
            with atomic_directory(path):
                pass
    assert (tmp_path / "repo" / ".git").is_dir() and (tmp_path / "file").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_output_parent_fails_before_training(project):
    (project / "locked").mkdir()
    (project / "locked").chmod(0o555)
    try:
        result = stage(["stages.train", "article", "--out", "locked/train"], project)
        assert result.returncode == 2
        assert "locked is not writable; nothing was run" in one_line(result)
        assert "episodes" not in result.stdout
    finally:
        (project / "locked").chmod(0o755)
        (project / "locked").rmdir()


# --------------------------------------------------------------------------------------
# 4. a diverged run stops with one line


@pytest.mark.parametrize("workers", [1, 2])
def test_a_diverged_run_stops_naming_variant_seed_episode_and_cause(project, workers):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["variants"]["article"]["lr"] = 1.0e308
    params["compute"] = {"workers": workers}
    (project / "diverge.yaml").write_text(yaml.safe_dump(params))
    try:
        result = stage(
            ["stages.train", "article", "--params", "diverge.yaml", "--out", "diverged"], project
        )
        assert result.returncode == 1
        line = one_line(result)
        assert line.startswith("train: train@article: seed "), line
        assert ", episode " in line and ("not finite" in line or "nan" in line)
        assert "lr 1e+308" in line and "grad_clip_norm" in line
        assert not (project / "diverged").exists()
    finally:
        (project / "diverge.yaml").unlink()


# --------------------------------------------------------------------------------------
# 5. dvc.lock cut short: detected, and a recovery that works


def test_a_truncated_dvc_lock_is_named_and_repaired(project):
    from reinforce.io.lockfile import lock_problem

    lock = project / "dvc.lock"
    whole = lock.read_bytes()
    lines = whole.splitlines(keepends=True)
    cuts = [
        b"",
        whole[: len(whole) // 3],
        whole[: len(whole) // 2],
        b"".join(lines[: len(lines) // 3]),
        b"".join(lines[: 2 * len(lines) // 3]),
    ]
    refused = 0
    try:
        for cut in cuts:
            lock.write_bytes(cut)
            dvc_refuses = run(["dvc", "status"], project, check=False).returncode != 0
            # the doctor sees exactly what DVC refuses (a cut DVC reads only reruns stages)
            assert dvc_refuses == (lock_problem(project) is not None), len(cut)
            refused += dvc_refuses
        assert refused >= 1
        lock.write_bytes(b"")
        result = stage(["stages.doctor"], project)
        assert result.returncode == 1
        assert "dvc.lock is cut short" in one_line(result) and "git checkout" in result.stderr
        result = stage(["stages.doctor", "--fix"], project)
        assert result.returncode == 0 and "restored dvc.lock" in result.stdout
        assert lock.read_bytes() == whole
        assert "up to date" in run(["dvc", "status"], project).stdout.lower()
        assert stage(["stages.doctor"], project).returncode == 0
    finally:
        lock.write_bytes(whole)
        (project / "dvc.lock.damaged").unlink(missing_ok=True)


def test_a_damaged_lock_without_a_committed_one_is_removed(tmp_path):
    from reinforce.io.lockfile import lock_problem, repair_lock

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert lock_problem(tmp_path) is None  # no dvc.lock: DVC runs every stage
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train:\n    cmd: [")
    assert "cut short" in lock_problem(tmp_path)
    assert "removed dvc.lock" in repair_lock(tmp_path)
    assert not (tmp_path / "dvc.lock").exists() and lock_problem(tmp_path) is None


# --------------------------------------------------------------------------------------
# 9. aggregate checks its inputs against params


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda text: text[:-3], ["eval.csv", "cut short"]),
        (
            lambda text: "\n".join(r for r in text.splitlines() if not r.startswith("1,")) + "\n",
            ["eval.csv", "seeds do not match", "missing [1]"],
        ),
        (lambda text: text + text.splitlines()[-1] + "\n", ["eval.csv", "seed 1 has 3 rows"]),
        (lambda text: "", ["eval.csv", "empty"]),
        (lambda text: "\x00\xff garbage\n", ["eval.csv"]),
        (lambda text: text.replace("\n1,", "\nx,", 1), ["eval.csv", "non-numeric", "column seed"]),
    ],
)
def test_aggregate_refuses_a_damaged_or_incomplete_eval_csv(project, damage, words):
    path = project / "runs" / "article" / "eval" / "eval.csv"
    whole = path.read_bytes()
    try:
        path.write_bytes(damage(whole.decode()).encode("utf-8", "surrogateescape"))
        result = stage(["stages.aggregate"], project)
        assert result.returncode == 1
        line = one_line(result)
        for word in words:
            assert word in line, line
    finally:
        path.write_bytes(whole)


def test_aggregate_refuses_curves_with_a_wrong_episode_count(project):
    path = project / "runs" / "clipped" / "train" / "curves.csv"
    whole = path.read_bytes()
    try:
        path.write_text("\n".join(whole.decode().splitlines()[:-1]) + "\n")
        result = stage(["stages.aggregate"], project)
        assert result.returncode == 1
        assert (
            "curves.csv: seed 1 has 5 rows of episodes 1..5; params.yaml expects "
            "episodes 1..6" in one_line(result)
        )
    finally:
        path.write_bytes(whole)


# --------------------------------------------------------------------------------------
# 10. checkpoints, workers


def test_a_missing_or_corrupt_checkpoint_is_one_line(project, tmp_path):
    import shutil

    from reinforce.agent.evaluate import evaluate_policies
    from reinforce.io.config import EvaluateConfig

    train = tmp_path / "train"
    shutil.copytree(project / "runs" / "article" / "train", train)
    (train / "policy_seed1.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=r"policy_seed1.pt: not a policy checkpoint"):
        evaluate_policies(train, "CartPole-v1", [0, 1], EvaluateConfig(episodes=1))
    (train / "policy_seed1.pt").unlink()
    with pytest.raises(DataError, match=r"policy_seed1.pt: not found"):
        evaluate_policies(train, "CartPole-v1", [0, 1], EvaluateConfig(episodes=1))


def _die(group, report):
    if group[0] == 1:
        os.kill(os.getpid(), 9)
    return group


def test_a_killed_worker_is_one_line():
    from reinforce.compute.workers import Progress, map_seed_groups

    with pytest.raises(
        WorkerFailed,
        match=r"worker process for seeds \[1\] died \(exit "
        r"code -9",
    ):
        map_seed_groups(_die, [0, 1], 2, Progress("test", 2))


# --------------------------------------------------------------------------------------
# 7. Ray: a listener on loopback that is not Ray


@pytest.mark.slow  # waits out a connection timeout
def test_a_silent_listener_is_not_taken_for_a_ray_head():
    from reinforce.compute.backends import ClusterError, open_backend
    from reinforce.io.config import ComputeConfig

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(
            ClusterError,
            match=r"^compute\.ray_address: '127\.0\.0\.1:\d+' "
            r"accepts connections but is not a Ray head",
        ):
            with open_backend(ComputeConfig(backend="ray", ray_address=address)):
                pass


# --------------------------------------------------------------------------------------
# 8 and 10. bounds, and params files that are not params


def test_sizes_are_bounded_with_reasons():
    with pytest.raises(
        ConfigError,
        match=r"^seeds: got '100,000 seeds'; allowed: at most "
        r"10,000",
    ):
        parse_config(tiny_params(seeds=list(range(100_000))), check_env=False)
    params = tiny_params(seeds=list(range(10_000)))
    params["tune"] = {"seeds": [], "search": {}}
    params["variants"] = {"article": {}}
    params["evaluate"]["seed_offset"] = 10**9
    parse_config(params, check_env=False)  # the bound itself, and a linear duplicate check
    params = tiny_params(seeds=list(range(200, 300)))
    params["report"]["bootstrap_resamples"] = 1_000_000
    with pytest.raises(
        ConfigError,
        match=r"^report.bootstrap_resamples: got 1000000; allowed: "
        r"at most 200,000 with 100 seeds",
    ):
        parse_config(params, check_env=False)
    for key, value, words in [
        ("report.bootstrap_resamples", 10**12, "<= 1,000,000"),
        ("evaluate.episodes", 10**9, "<= 1,000,000"),
        ("train.episodes", 10**9, "<= 1,000,000"),
        ("train.hidden_dim", 10**9, "<= 65536"),
    ]:
        params = tiny_params()
        section, name = key.split(".")
        params[section][name] = value
        with pytest.raises(ConfigError, match=rf"^{key}: got {value}; allowed: .*{words}"):
            parse_config(params, check_env=False)


def test_echoed_values_are_cut(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_config(tiny_params(seeds=[-1] * 5000 + ["x"] * 5000), check_env=False)
    assert len(str(caught.value)) < 300
    bomb = (
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
            f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(9)
        )
        + "seeds: *j\n"
    )
    (tmp_path / "bomb.yaml").write_text(bomb)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "bomb.yaml", check_env=False)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


@pytest.mark.parametrize(
    "content, words",
    [
        (None, ["is a folder"]),
        (b"\xff\xfe seeds: [0]\n", ["not UTF-8"]),
        (b"[" * 100_000, ["nested too deeply"]),
        (b"", ["bad.yaml: got an empty file; expected a mapping"]),
        (b"- 1\n- 2\n", ["bad.yaml: got [1, 2]; expected a mapping"]),
        (b"seeds: [0]\nseeds: [1]\n", ["not valid YAML: duplicate key 'seeds' (line 2"]),
        (b"train:\n  lr: .nan\n", ["train.lr: got nan; expected a finite number"]),
        (b"train:\n  lr: .inf\n", ["train.lr: got inf; expected a finite number"]),
        (b"train: [\n", ["not valid YAML: ", "(line "]),
    ],
)
def test_params_files_that_are_not_params_are_one_line(tmp_path, content, words):
    path = tmp_path / "bad.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "stages.check", "--params", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    for word in words:
        assert word in line, line


INTERRUPT_WHILE_STARTING = """
import os, signal, sys, time
sys.argv = ["-m"]  # as `python -m stages.<name>` has it while it imports the package
import stages
os.kill(os.getpid(), signal.SIGINT)  # as a Ctrl-C during the stage's imports
time.sleep(30)
"""


def test_ctrl_c_while_a_stage_starts_is_one_line_and_ends_by_sigint():
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPT_WHILE_STARTING],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -2
    assert done.stderr.splitlines() == ["stage: interrupted while starting; no output written"]


def test_a_stage_main_gives_ctrl_c_back_to_python():
    """Once a stage's main runs, Ctrl-C is a KeyboardInterrupt again (stage_main's one line,
    the temporary outputs removed), whatever handler the imports ran under."""
    import signal

    from reinforce.io.cli import stage_main

    seen = []

    @stage_main("probe")
    def main(argv):
        seen.append(signal.getsignal(signal.SIGINT))

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert main([]) == 0
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [signal.default_int_handler]


@pytest.mark.parametrize(
    "code, words",
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
)
def test_a_full_or_read_only_disk_anywhere_is_one_line(code, words):
    """Wherever the disk refuses a write (our outputs, logs/, Numba's cache of the kernels),
    the stage says so in one line, naming the file."""
    import io
    from contextlib import redirect_stderr

    from reinforce.io.cli import stage_main

    @stage_main("probe")
    def main(argv):
        raise OSError(code, os.strerror(code), "/somewhere/_kernels.nbi")

    err = io.StringIO()
    with redirect_stderr(err):
        assert main([]) == 1
    assert err.getvalue().splitlines() == [
        f"probe: /somewhere/_kernels.nbi: {words}; no output written"
    ]

    @stage_main("probe")
    def other(argv):
        raise OSError(errno.ENOENT, "a bug's own error")

    with pytest.raises(OSError):  # not the machine's disk: the traceback stays
        other([])
