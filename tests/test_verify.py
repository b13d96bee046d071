"""`verify` explains a mismatch: a rerun with another ATEN_CPU_CAPABILITY gives other bytes, and
verify names the outputs and the environment fields that differ; a faithful rerun passes.
No container needed: the image's entrypoint runs the same `python -m reinforce.io.verify`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import make_project, run, tiny_params

from reinforce.io import verify


def _repro(path, **env):
    environ = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": "", **env}
    result = subprocess.run(
        ["dvc", "repro", "--force"], cwd=path, env=environ, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    path = make_project(
        tmp_path_factory.mktemp("verify") / "committed",
        tiny_params(seeds=[0], compute={"workers": 1}),
    )
    _repro(path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "results"], path)
    return path


def _rerun(committed, target, **env):
    shutil.copytree(committed, target, ignore=shutil.ignore_patterns(".dvc/cache"))
    _repro(target, **env)
    return target


def test_a_faithful_rerun_passes(committed, tmp_path):
    again = _rerun(committed, tmp_path / "again")
    result = subprocess.run(
        [sys.executable, "-m", "reinforce.io.verify", str(committed), str(again)],
        cwd=again,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify: PASS" in result.stdout
    assert "reproduced byte for byte" in result.stdout


def test_another_cpu_capability_is_explained(committed, tmp_path):
    other = _rerun(committed, tmp_path / "other", ATEN_CPU_CAPABILITY="default")
    verdict = verify.compare(committed, other)
    assert not verdict.identical
    # Training runs the vector kernels: its curves and weights differ.
    assert "runs/article/train" in verdict.outputs
    assert "curves.csv" in verdict.outputs["runs/article/train"]
    assert verdict.deps == [], "same code: only the environment changed"
    fields = {line.split(":", 1)[0] for line in verdict.environment}
    assert fields == {"numeric_pins.ATEN_CPU_CAPABILITY", "cpu_capability"}, verdict.environment
    assert verdict.outside_promise

    result = subprocess.run(
        [sys.executable, "-m", "reinforce.io.verify", str(committed), str(other)],
        cwd=other,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    out = result.stdout
    assert "numeric_pins.ATEN_CPU_CAPABILITY: 'avx2' (committed) -> 'default' (here)" in out
    assert "cpu_capability: 'AVX2' (committed) -> 'DEFAULT' (here)" in out
    assert "outside the promise" in out and "verify: FAIL" in out


def test_same_environment_other_bytes_reads_as_a_bug(committed, tmp_path):
    # A committed output altered by hand stands for a bug: same fingerprint, other bytes.
    again = tmp_path / "again"
    shutil.copytree(committed, again)
    (again / "metrics.json").write_text((again / "metrics.json").read_text() + " ")
    lock = (again / "dvc.lock").read_text()
    (again / "dvc.lock").write_text(
        lock.replace(
            "metrics.json\n      hash: md5\n      md5: ",
            "metrics.json\n      hash: md5\n      md5: 0",
            1,
        )
    )
    verdict = verify.compare(committed, again)
    assert not verdict.identical and verdict.environment == []
    assert "looks like a bug" in verify.explain(verdict)


def test_the_committed_report_carries_the_environment(root):
    # In the image runs/ is absent (DVC-cached): the fingerprint comes from the report.
    recorded = verify.committed_environment(root)
    assert recorded is not None and {"python", "torch", "numeric_pins", "machine"} <= set(recorded)


def test_environment_differences_name_nested_fields():
    old = {"python": "3.11", "numeric_pins": {"MKL_CBWR": "COMPATIBLE"}}
    new = {"python": "3.12", "numeric_pins": {"MKL_CBWR": "AUTO"}}
    assert verify.environment_differences(old, new) == [
        "numeric_pins.MKL_CBWR: 'COMPATIBLE' (committed) -> 'AUTO' (here)",
        "python: '3.11' (committed) -> '3.12' (here)",
    ]


def test_outside_the_promise_is_one_line():
    from reinforce.io.outputs import environment_fingerprint, promise_note

    here = environment_fingerprint()
    assert (
        promise_note(
            {
                **here,
                "machine": "x86_64",
                "system": "Linux",
                "python": "3.11",
                "cpu_capability": "AVX2",
            }
        )
        is None
    )
    note = promise_note(
        {**here, "machine": "arm64", "system": "Darwin", "cpu_capability": "DEFAULT"}
    )
    assert note.count("\n") == 0
    assert (
        "machine arm64" in note and "cpu_capability DEFAULT" in note and "environment.json" in note
    )


# --------------------------------------------------------------------------------------
# issue 28, item 6: verify hashes the outputs themselves and names every differing file


def _copy(committed, target):
    shutil.copytree(committed, target, ignore=shutil.ignore_patterns(".dvc"))
    return target


def test_a_changed_output_under_an_unchanged_lock_fails_naming_the_file(committed, tmp_path):
    """Before: verify compared only the lock files, so this was a PASS."""
    again = _copy(committed, tmp_path / "again")
    with (again / "runs" / "article" / "train" / "curves.csv").open("a") as handle:
        handle.write("0,7,1.0,1,\n")
    (again / "reports" / "tables" / "seeds.csv").write_text("tampered\n")
    verdict = verify.compare(committed, again)
    assert not verdict.identical
    assert verdict.outputs == {
        "reports/tables": "1 of 3 files differ: seeds.csv",
        "runs/article/train": "1 of 3 files differ: curves.csv",
    }
    assert "verify: FAIL" in _verify(committed, again).stdout


def test_an_md5_changed_in_several_stages_names_each(committed, tmp_path):
    """Before: "dvc.lock differs:", naming nothing."""
    again = _copy(committed, tmp_path / "again")
    lock = (again / "dvc.lock").read_text()
    md5 = verify._lock_entries(verify.read_lock(committed)[1], "outs")["runs/article/train"]
    lock = lock.replace(md5["md5"], "0" * 32 + ".dir")
    (again / "dvc.lock").write_text(lock)
    verdict = verify.compare(committed, again)
    assert not verdict.identical and verdict.outputs == {}
    assert verdict.entries == [
        "evaluate@article: dep runs/article/train",
        "train@article: out runs/article/train",
        "videos@article: dep runs/article/train",
    ]
    out = _verify(committed, again).stdout
    assert "    evaluate@article: dep runs/article/train\n" in out
    assert "    train@article: out runs/article/train\n" in out
    assert "    videos@article: dep runs/article/train\n" in out


def _verify(committed, reproduced):
    return subprocess.run(
        [sys.executable, "-m", "reinforce.io.verify", str(committed), str(reproduced)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: shutil.rmtree(p), "{p}: not found or not a folder; expected a repository"),
        (
            lambda p: (p / "dvc.lock").unlink(),
            "{p}/dvc.lock: not found; run `dvc repro` there first",
        ),
        (
            lambda p: (p / "dvc.lock").write_text("- 1\n- 2\n"),
            "{p}/dvc.lock: not a DVC lock file (got list; expected a mapping with `stages`, "
            "each listing its deps and outs)",
        ),
        (
            lambda p: (p / "dvc.lock").write_text("stages: [\n"),
            "{p}/dvc.lock: not valid YAML (while parsing a flow node)",
        ),
    ],
)
def test_a_missing_or_foreign_lock_is_one_line(committed, tmp_path, damage, message):
    """Before: tracebacks (FileNotFoundError, AttributeError on a YAML list)."""
    again = _copy(committed, tmp_path / "again")
    damage(again)
    result = _verify(committed, again)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"verify: {message.format(p=again)}"]


def _baked(tmp_path, cmd: str):
    """A repository as the image bakes it (no .git): one stage running cmd."""
    baked = tmp_path / "baked"
    baked.mkdir()
    (baked / "dvc.yaml").write_text(
        f"stages:\n  make:\n    cmd: {cmd}\n    outs:\n      - out.txt\n"
    )
    run(["git", "init", "-q"], baked)
    run(["dvc", "init", "-q"], baked)
    run(["dvc", "config", "core.analytics", "false"], baked)
    run(["dvc", "repro", "-q"], baked, check=False)
    shutil.rmtree(baked / ".git")
    return baked


@pytest.mark.parametrize("cmd, code", [("echo made > out.txt", 0), ("exit 3", 255)])  # 255: dvc's
def test_the_image_verify_leaves_no_copy_behind(tmp_path, root, cmd, code):
    """Before: a failed `dvc repro` (set -e) left the temporary copy in /tmp."""
    baked = _baked(tmp_path, cmd)
    if code:  # a lock to compare with, made by a stage that now fails
        (baked / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    temp, home = tmp_path / "tmp", tmp_path / "home"
    temp.mkdir()
    home.mkdir()
    env = {
        **os.environ,
        "REINFORCE_BAKED": str(baked),
        "TMPDIR": str(temp),
        "HOME": str(home),
        "PYTHONPATH": str(root),
        "DVC_NO_ANALYTICS": "1",
    }
    result = subprocess.run(
        ["bash", str(root / "docker" / "entrypoint.sh"), "verify"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert ("verify: PASS" in result.stdout) == (code == 0), result.stdout
    assert list(temp.iterdir()) == [], "a temporary copy was left behind"
