"""Issue 28, item 4 and the one-line refusals of item 7: every number a stage reads comes
through one finite-value reader (reinforce/io/inputs.py), every JSON output through one
strict writer (outputs.json_text), and an input that is not a number, not finite, not a
regular file or not a policy of the env is one line naming the file and where in it."""

from __future__ import annotations

import json
import math
import os
import shutil

import pytest

from reinforce.io.errors import DataError
from tests.conftest import make_project, run, tiny_params
from tests.test_safety import one_line, stage  # the stage runner and its one-line check

RULE = "expected a finite number within ±1e+150"
REMAKE = "run `dvc repro --force` for its stage to remake it"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = make_project(tmp_path_factory.mktemp("finite") / "repo", tiny_params())
    run(["dvc", "repro"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "outputs"], path)
    return path


@pytest.fixture
def restore(project):
    """Put back every tracked output a test damaged (runs/ is DVC-tracked: saved by hand)."""
    saved = {p: p.read_bytes() for p in project.glob("runs/*/*/*") if p.is_file()}
    yield project
    for path in project.glob("runs/*/*/*"):
        if path.is_symlink() or path not in saved:
            path.unlink()
    for path, data in saved.items():
        path.write_bytes(data)
    run(["git", "checkout", "-q", "--", "."], project)


def _set_cell(path, row: int, column: str, text: str) -> None:
    """Cell (row as the file counts lines, the header being 1) of a CSV set to text."""
    lines = path.read_text().splitlines()
    index = lines[0].split(",").index(column)
    cells = lines[row - 1].split(",")
    cells[index] = text
    lines[row - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "text, why",
    [
        ("inf", "infinite"),
        ("1e999", "infinite"),
        ("-1e300", "beyond ±1e+150 (its square overflows the statistics)"),
        ("nan", "not a number"),
        ("NaN", "not a number"),
        ("-Infinity", "infinite"),
    ],
)
@pytest.mark.parametrize(
    "file, column",
    [("runs/article/eval/eval.csv", "return"), ("runs/value-baseline/train/curves.csv", "loss")],
)
def test_aggregate_refuses_a_number_that_is_not_finite(restore, file, column, text, why):
    """Before: aggregate exited 0 and wrote NaN and Infinity into statistics.json."""
    project = restore
    _set_cell(project / file, 3, column, text)
    before = (project / "reports" / "statistics.json").read_bytes()
    result = stage(["stages.aggregate"], project)
    assert result.returncode == 1
    assert one_line(result) == (
        f"aggregate: {file}: row 3, column {column}: got {text!r}, {why}; {RULE}"
        + (" or an empty cell" if column == "loss" else "")
        + f"; {REMAKE}"
    )
    assert (project / "reports" / "statistics.json").read_bytes() == before


def test_select_refuses_an_infinite_candidate(restore):
    """Before: select chose the candidate whose final return was inf."""
    project = restore
    path = project / "tuning" / "search" / "value-baseline" / "results.csv"
    _set_cell(path, 2, "final_return", "inf")
    result = stage(["stages.select"], project)
    assert result.returncode == 1
    assert one_line(result) == (
        f"select: {path.relative_to(project)}: row 2, column final_return: got 'inf', "
        f"infinite; {RULE} or an empty cell; {REMAKE}"
    )
    _set_cell(path, 2, "final_return", "9.5")
    _set_cell(path, 3, "lr", "1e999")  # a searched key read as a number: finite too
    assert "row 3, column lr: got '1e999', infinite" in one_line(stage(["stages.select"], project))


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda text: text[: len(text) // 2], "reports/statistics.json: cut short ("),
        (lambda text: text.replace("[", "[NaN, ", 1), ": got nan, not a number; " + RULE),
        (lambda text: text.replace("[", "[1e999, ", 1), ": got inf, infinite; " + RULE),
        (lambda text: "{" + text, "reports/statistics.json: not valid JSON ("),
    ],
)
def test_plot_refuses_a_damaged_statistics_json(restore, damage, words):
    """Before: a statistics.json cut short was a JSONDecodeError traceback."""
    project = restore
    path = project / "reports" / "statistics.json"
    path.write_text(damage(path.read_text()))
    result = stage(["stages.plot"], project)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("plot: reports/statistics.json: ") and words in line, line


def test_a_selection_file_with_an_infinite_value_is_one_line(restore):
    from reinforce.io.config import load_config

    project = restore
    path = project / "tuning" / "selected" / "value-baseline.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "values": {"lr": math.inf}}))
    with pytest.raises(DataError) as caught:
        load_config(project / "params.yaml").selected_values(project, "value-baseline")
    assert str(caught.value) == (f"{path}: values.lr: got inf, infinite; {RULE}; {REMAKE}")


def test_json_outputs_are_strict_and_keep_their_bytes():
    from reinforce.io.outputs import json_text

    record = {"b": [1, 2.5, None, True], "a": {"x": -0.125, "y": "text"}}
    assert json_text(record, "out.json") == json.dumps(record, indent=2, sort_keys=True) + "\n"
    for bad, shown in [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")]:
        with pytest.raises(DataError) as caught:
            json_text({"variants": {"article": {"std": [1.0, bad]}}}, "reports/statistics.json")
        message = str(caught.value)
        assert message.startswith(
            f"reports/statistics.json: variants.article.std.1 would be {shown}, "
        ), message
        assert "\n" not in message and "nothing written" in message


def test_the_readers_refuse_what_is_not_a_regular_file(tmp_path):
    from reinforce.io.inputs import read_json, read_table

    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"fifo.csv: is a FIFO; expected a regular file$"):
        read_table(fifo, ["seed"])
    with pytest.raises(DataError, match=r"^/dev/zero: is a device; expected a regular file$"):
        read_json("/dev/zero")
    with pytest.raises(DataError, match=r": is a folder; expected a regular file$"):
        read_json(tmp_path)


def _stage_params(project, params: str):
    return stage(["stages.check", "--params", params], project)


def test_params_that_are_a_device_or_a_fifo_are_one_line(project, tmp_path):
    """Before: --params /dev/zero read until memory ran out (MemoryError)."""
    fifo = tmp_path / "params.yaml"
    os.mkfifo(fifo)
    for params, kind in [("/dev/zero", "a device"), (str(fifo), "a FIFO")]:
        result = _stage_params(project, params)
        assert result.returncode == 2
        assert one_line(result) == (
            f"check: bad parameter: {params}: is {kind}; expected a regular file"
        )


def _rewrite_checkpoint(path, change) -> None:
    import torch

    checkpoint = torch.load(path, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, path)


def _nan_weights(checkpoint) -> None:
    for tensor in checkpoint["policy"].values():
        tensor.fill_(math.nan)


def _three_actions(checkpoint) -> None:
    import torch

    from reinforce.agent.policy import make_policy

    meta = checkpoint["meta"]
    policy = make_policy(meta["obs_dim"], 3, meta["hidden_dim"], torch.Generator(), False)
    checkpoint["policy"] = policy.state_dict()
    meta["n_actions"] = 3


@pytest.mark.parametrize(
    "change, words",
    [
        (
            _nan_weights,
            "weights net.0.weight hold 64 of 64 values that are not finite (NaN or infinite): "
            "a diverged or damaged policy",
        ),
        (
            _three_actions,
            "a policy for 4 observations and 3 actions; CartPole-v1 has 4 and 2 (made for "
            "another env?)",
        ),
    ],
)
def test_evaluate_refuses_a_checkpoint_it_cannot_play(restore, change, words):
    """Before: NaN weights were evaluated without complaint; a checkpoint of another action
    count beside the others was a ValueError traceback."""
    project = restore
    path = project / "runs" / "article" / "train" / "policy_seed1.pt"
    _rewrite_checkpoint(path, change)
    result = stage(["stages.evaluate", "article"], project)
    assert result.returncode == 1
    assert one_line(result) == (
        f"evaluate: runs/article/train/policy_seed1.pt: {words}; run `dvc repro --force` "
        "for its train stage to remake it"
    )


def test_evaluate_refuses_a_checkpoint_that_is_a_device(restore):
    """Before: a checkpoint linked to /dev/zero was read until memory ran out."""
    project = restore
    path = project / "runs" / "article" / "train" / "policy_seed1.pt"
    path.unlink()
    path.symlink_to("/dev/zero")
    result = stage(["stages.evaluate", "article"], project)
    assert result.returncode == 1
    assert one_line(result) == (
        "evaluate: runs/article/train/policy_seed1.pt: is a device; expected a regular file"
    )


def test_the_readers_keep_the_committed_bytes(restore):
    """Strict reading and writing change no byte of an output made of finite numbers."""
    project = restore
    for command in (["stages.select"], ["stages.aggregate"], ["stages.plot"]):
        assert stage(command, project).returncode == 0
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    shutil.rmtree(project / ".dvc" / "tmp", ignore_errors=True)


@pytest.mark.parametrize("setting", ["train.hidden_dim=16.0", "seeds=[0.0,1.0]"])
def test_an_integral_float_set_by_dvc_exp_run_is_the_integer(restore, setting):
    """Issue 28, item 5. Before: DVC found 16.0 == 16 and ran no stage, leaving params.yaml
    with a value `check` refused, and the next, unrelated experiment failed naming it. Now
    every integer key takes an integral float as the integer: the same config, the same
    bytes (nothing reruns), and `check` accepts it."""
    project = restore
    run(["dvc", "exp", "run", "-S", setting], project)
    assert setting.split("=")[1].split(",")[0].strip("[") in (project / "params.yaml").read_text()
    result = stage(["stages.check"], project)
    assert result.returncode == 0, result.stderr
    assert "Data and pipelines are up to date" in run(["dvc", "status"], project).stdout


# --------------------------------------------------------------------------------------
# item 7: the machine's limits (file size, memory) are one line


def test_a_file_size_limit_is_one_line(restore):
    """Before: EFBIG was not among the machine errnos: a traceback."""
    project = restore
    result = run(["bash", "-c", "ulimit -f 1 && python -m stages.aggregate"], project, check=False)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("aggregate: ") and line.endswith(": File too large; no output written")
    assert run(["git", "status", "--porcelain"], project).stdout == ""  # nothing half-written


def test_a_numpy_allocation_that_fails_is_one_line(capsys):
    """numpy's ArrayMemoryError (a MemoryError) inside a stage: memory was short."""
    import numpy as np

    from reinforce.io.cli import stage_main

    @stage_main("probe")
    def main(argv):
        np.empty(2**50)

    assert main([]) == 1
    line = capsys.readouterr().err.strip()
    assert line.startswith("probe: memory was short (MemoryError: Unable to allocate ")
    assert line.endswith("; no output written") and "\n" not in line


@pytest.mark.parametrize("limit_kib", [300_000, 600_000])
def test_a_low_address_space_limit_is_one_line(project, tmp_path, limit_kib):
    """Before: libtorch's "failed to map segment" ImportError (about 300 MB) and llvmlite's
    "Could not find/load shared object" OSError (about 600 MB), tracebacks that blamed a
    missing library."""
    command = f"ulimit -v {limit_kib} && python -m stages.train article --out {tmp_path}/out"
    result = run(["bash", "-c", command], project, check=False)
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("stage: memory was short (") or line.startswith(
        "train: memory was short ("
    ), line
    assert line.endswith(
        f"; the address-space limit (ulimit -v) is {limit_kib // 1024:,} MiB); no output written"
    ), line
    assert not (tmp_path / "out").exists()


def test_an_environment_record_that_is_a_device_is_not_read(tmp_path):
    from reinforce.io.outputs import FINGERPRINT_FILE, fingerprint_mismatch

    (tmp_path / FINGERPRINT_FILE).symlink_to("/dev/zero")
    assert fingerprint_mismatch(tmp_path) == (
        f"{tmp_path / FINGERPRINT_FILE}: unreadable environment record"
    )
