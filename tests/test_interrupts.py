"""Crashes and interruptions: SIGKILL of `dvc repro`, Ctrl-C of a stage and of `dvc repro`,
and outputs made under another environment (docs/experiments.md, "After a crash or Ctrl-C").
"""

import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import psutil
import pytest
import yaml

from reinforce.compute.workers import fork_is_safe
from tests.conftest import make_project, run, tiny_params, tree_bytes

OUTPUTS = ("dvc.lock", "tuning", "runs", "metrics.json", "reports")
PROGRESS = "episodes, mean return"  # the stages' progress line (stderr is not a terminal)
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": ""}


def long_params(workers: int = 1) -> dict:
    """One variant, 2 seeds, 300 episodes: a few seconds of training to interrupt."""
    params = tiny_params(variants={"article": {}}, compute={"workers": workers})
    params["train"] = {**params["train"], "episodes": 300}
    return params


def start(
    command: list[str], cwd: Path, stderr=subprocess.PIPE, env=None, **kwargs
) -> subprocess.Popen:
    """Start command in its own process group (as a shell does for a foreground job)."""
    return subprocess.Popen(
        command, cwd=cwd, env=env or ENV, stderr=stderr, text=True, start_new_session=True, **kwargs
    )


def read_until_progress(process: subprocess.Popen, timeout: float = 60) -> list[str]:
    """Lines of the process's stderr up to the first progress line of training."""
    lines, deadline = [], time.monotonic() + timeout
    for line in process.stderr:
        lines.append(line)
        if PROGRESS in line or time.monotonic() > deadline:
            break
    assert lines and PROGRESS in lines[-1], "".join(lines)
    return lines


def alive(processes: list[psutil.Process]) -> list[int]:
    result = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                result.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return result


def command_line(process: psutil.Process) -> list[str]:
    """The process's command line; [] for one that has ended (DVC's earlier children, e.g.
    the check stage's process, can still be zombies when the test looks)."""
    try:
        return process.cmdline()
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return []


def interrupt(process: subprocess.Popen) -> tuple[float, float, list[str], list[psutil.Process]]:
    """Ctrl-C to the process group, as a terminal sends it. Returns the seconds until the
    stage's "interrupted" line and until the process exited, the stderr lines from that
    line on, and every process the command had started."""
    children = psutil.Process(process.pid).children(recursive=True)
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    message = None
    try:
        for line in process.stderr:  # progress lines written before the signal, then ours
            if "interrupted" in line:
                message = time.monotonic() - sent
                rest = [line.rstrip("\n")] + process.stderr.read().splitlines()
                break
        else:
            rest = []
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    exited = time.monotonic() - sent
    # The workers' forkserver and the resource tracker see their parent's end and exit.
    psutil.wait_procs(children, timeout=5)
    assert message is not None, "no 'interrupted' line on stderr"
    return message, exited, rest, children


def assert_nothing_looks_complete(project: Path, variant: str = "article") -> None:
    """No train/eval folder a reader or DVC would take as a result; at most hidden
    `.tmp-*` folders, which the next run removes."""
    folder = project / "runs" / variant
    leftovers = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert all(name.startswith(".tmp-") or name == ".gitignore" for name in leftovers), leftovers
    # DVC locks a stage only once it finished: select may be there, no train/evaluate
    lock = project / "dvc.lock"
    locked = yaml.safe_load(lock.read_text())["stages"] if lock.exists() else {}
    assert not [name for name in locked if name.split("@")[0] in ("train", "evaluate")], locked


def test_sigkill_of_dvc_repro_then_repro_gives_the_bytes_of_an_uninterrupted_run(tmp_path):
    reference = make_project(tmp_path / "reference", long_params())
    killed = make_project(tmp_path / "killed", long_params())
    # The uninterrupted run goes on beside the killed one (one core each).
    uninterrupted = start(
        ["dvc", "repro"], reference, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        process = start(["dvc", "repro"], killed, stdout=subprocess.DEVNULL)
        read_until_progress(process)
        children = psutil.Process(process.pid).children(recursive=True)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()
        psutil.wait_procs(children, timeout=10)
        assert not alive(children)
        assert_nothing_looks_complete(killed)
        # DVC's own lock (.dvc/tmp/lock) is an fcntl lock, gone with the process; its
        # rwlock file still names the killed dvc as writing runs/article/train.
        rwlock = json.loads((killed / ".dvc" / "tmp" / "rwlock").read_text())
        assert any(info["pid"] == process.pid for info in rwlock["write"].values()), rwlock
        # What a SIGKILL while the stage writes its outputs leaves: a hidden, partial folder.
        partial = killed / "runs" / "article" / ".tmp-train.killed"
        partial.mkdir(parents=True)
        (partial / "curves.csv").write_text("seed,episode,return,length,loss\n0,0,")

        # What a user does: run `dvc repro` again. DVC finds the killed process's pid dead,
        # drops its lock entries with a warning and reruns the unfinished stages.
        again = run(["dvc", "repro"], killed)
        assert "had been killed. Auto removed it from the lock file" in again.stderr
        assert "Running stage 'train@article'" in again.stdout
    finally:
        if uninterrupted.poll() is None:
            uninterrupted.wait(timeout=300)
    assert uninterrupted.returncode == 0

    assert not list(killed.rglob(".tmp-*"))
    expected, got = tree_bytes(reference, *OUTPUTS), tree_bytes(killed, *OUTPUTS)
    assert expected.keys() == got.keys()
    differ = [name for name in expected if expected[name] != got[name]]
    assert not differ, f"not byte-identical to the uninterrupted run: {differ}"
    assert "up to date" in run(["dvc", "status"], killed).stdout.lower()


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_of_the_train_stage_stops_at_once_with_one_line(tmp_path, workers):
    project = make_project(tmp_path / "repo", long_params(workers))
    process = start(
        [sys.executable, "-m", "stages.train", "article"], project, stdout=subprocess.PIPE
    )
    before = read_until_progress(process)
    message, exited, rest, children = interrupt(process)
    process.stdout.close()

    assert process.returncode == -signal.SIGINT  # died of SIGINT, as the shell expects
    assert message < 1.0 and exited < 1.0, (
        f"stopped after {message:.2f} s, exited after {exited:.2f} s"
    )
    assert rest == ["train: interrupted; no output written"], rest
    assert "Traceback" not in "".join(before + rest)
    # The stage trains one seed group itself; the other workers (ignoring SIGINT) were
    # terminated by it; where they come from a forkserver, it and the resource tracker
    # ended with the stage.
    helpers = 0 if fork_is_safe() else 2
    assert len(children) == (workers - 1 + helpers if workers > 1 else 0)
    assert not alive(children)
    assert_nothing_looks_complete(project)


# DVC runs a stage with $SHELL -c, else /bin/sh: bash execs the stage, dash waits for it.
@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh", None])
def test_ctrl_c_of_dvc_repro_stops_at_once_and_leaves_nothing_complete(tmp_path, shell):
    project = make_project(tmp_path / "repo", long_params(workers=2))
    env = {k: v for k, v in ENV.items() if k != "SHELL"} | ({"SHELL": shell} if shell else {})
    process = start(["dvc", "repro"], project, stdout=subprocess.DEVNULL, env=env)
    before = read_until_progress(process)
    stage = [
        p
        for p in psutil.Process(process.pid).children(recursive=True)
        if "stages.train" in command_line(p)
    ]  # not the shell's "-c" string
    # its second worker (and where it starts from a forkserver: the forkserver, the
    # resource tracker)
    stage += stage[0].children(recursive=True) if len(stage) == 1 else []
    message, exited, rest, children = interrupt(process)

    assert message < 1.0 and exited < 1.0, (
        f"stopped after {message:.2f} s, dvc exited after {exited:.2f} s"
    )
    assert process.returncode != 0
    # The stage's line, then DVC's own one-line error; no traceback from either. The
    # stage dies of SIGINT after cleaning up, so DVC reports -2 whichever shell it uses.
    assert rest == [
        "train: interrupted; no output written",
        "ERROR: failed to reproduce 'train@article': failed to run: "
        "python -m stages.train, exited with -2",
    ], rest
    assert "Traceback" not in "".join(before + rest)
    # The stage and its helpers (beside them a shell, where it waits rather than execs).
    assert len(stage) == (2 if fork_is_safe() else 4) and set(stage) <= set(children)
    assert not alive(children)
    assert_nothing_looks_complete(project)
    rwlock = json.loads((project / ".dvc" / "tmp" / "rwlock").read_text())
    assert not rwlock.get("write") and not any(rwlock.get("read", {}).values()), rwlock


def end_stage(process: subprocess.Popen, pid: int, signum: int) -> tuple[list[str], list]:
    """signum to one process (not its group, as `kill PID` does): the stderr lines from the
    stage's "interrupted" line on, and every process the command had started."""
    children = psutil.Process(process.pid).children(recursive=True)
    os.kill(pid, signum)
    rest = []
    try:
        for line in process.stderr:
            if "interrupted" in line or rest:
                rest.append(line.rstrip("\n"))
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    psutil.wait_procs(children, timeout=5)
    return rest, children


# SIGTERM (a `kill`, a scheduler, `docker stop`) and SIGHUP (a closed terminal) to the train
# stage alone: its forked worker used to be re-parented to init, blocked for ever on a pipe
# nobody read, and the stage ended by -15 without a word.
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_of_the_train_stage_ends_its_workers_with_the_ctrl_c_line(tmp_path, signum):
    project = make_project(tmp_path / "repo", long_params(workers=2))
    process = start(
        [sys.executable, "-m", "stages.train", "article"], project, stdout=subprocess.DEVNULL
    )
    before = read_until_progress(process)
    rest, children = end_stage(process, process.pid, signum)

    assert process.returncode == -signum  # died of that signal, as for Ctrl-C
    assert rest == ["train: interrupted; no output written"], rest
    assert "Traceback" not in "".join(before + rest)
    assert children and not alive(children), [command_line(p) for p in children]
    assert_nothing_looks_complete(project)


def test_sigterm_of_the_train_stage_under_dvc_repro_ends_every_process(tmp_path):
    project = make_project(tmp_path / "repo", long_params(workers=2))
    process = start(["dvc", "repro"], project, stdout=subprocess.DEVNULL)
    read_until_progress(process)
    stage = next(
        p
        for p in psutil.Process(process.pid).children(recursive=True)
        if command_line(p)[1:3] == ["-m", "stages.train"]
    )
    rest, children = end_stage(process, stage.pid, signal.SIGTERM)

    assert process.returncode != 0
    # DVC runs the cmd through $SHELL: bash execs the stage (DVC sees -15), dash (/bin/sh,
    # where SHELL is unset) waits for it, says "Terminated" and exits 128 + 15.
    failed = "ERROR: failed to reproduce 'train@article': failed to run: python -m stages.train"
    assert rest in (
        ["train: interrupted; no output written", f"{failed}, exited with -15"],
        ["train: interrupted; no output written", "Terminated", f"{failed}, exited with 143"],
    ), rest
    assert not alive(children), [command_line(p) for p in children]
    assert_nothing_looks_complete(project)


def test_sigkill_of_the_train_stage_takes_its_workers_with_it(tmp_path):
    """No handler runs for SIGKILL: the kernel ends the workers with their parent (before,
    the worker trained on, re-parented to init, to block on its pipe at the end)."""
    params = long_params(workers=2)
    params["train"]["episodes"] = 5000  # the worker is still training when its parent dies
    project = make_project(tmp_path / "repo", params)
    process = start(
        [sys.executable, "-m", "stages.train", "article"], project, stdout=subprocess.DEVNULL
    )
    read_until_progress(process)
    children = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    psutil.wait_procs(children, timeout=3)
    try:
        assert children and not alive(children), [command_line(p) for p in children]
    finally:
        for pid in alive(children):
            os.kill(pid, signal.SIGKILL)
    assert_nothing_looks_complete(project)


def test_outputs_made_under_another_environment_are_named_in_one_line(tmp_path):
    project = make_project(tmp_path / "repo", tiny_params())
    run([sys.executable, "-m", "stages.train", "article"], project)
    train = project / "runs" / "article" / "train"
    record = json.loads((train / "environment.json").read_text())
    record["torch"] = "1.0.0"
    (train / "environment.json").write_text(json.dumps(record, indent=2, sort_keys=True))

    result = run([sys.executable, "-m", "stages.evaluate", "article"], project)
    notes = [
        line
        for line in result.stdout.splitlines() + result.stderr.splitlines()
        if "another environment" in line
    ]
    torch = metadata.version("torch")
    assert notes == [
        f"evaluate@article: note: runs/article/train was made under another "
        f"environment: torch '1.0.0' -> '{torch}'"
    ], result.stdout + result.stderr
    assert (project / "runs" / "article" / "eval" / "eval.csv").exists()
