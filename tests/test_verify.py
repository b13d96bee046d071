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
