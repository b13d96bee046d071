"""Reading another stage's output, and checking it against params.yaml: a file cut short, a
missing seed, a wrong episode count or a number that is not finite is one line naming the
file and what is off (DataError), never a wrong number.

Every number a stage reads from another stage's output comes through here: CSV tables
through read_table, JSON records through read_json. Both refuse NaN, infinities (`inf`,
`1e999`) and magnitudes beyond MAX_MAGNITUDE, naming the file and the row and column (or the
JSON key) that holds them; both refuse a path that is not a regular file (a device such as
/dev/zero, a FIFO) before reading a byte of it.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reinforce.io import paths
from reinforce.io.errors import DataError
from reinforce.io.names import show

if TYPE_CHECKING:  # pandas loads only where a table is read: check and verify never need it
    import pandas as pd

# curves.csv leaves `loss` empty for an episode that ended no update (episodes_per_update
# > 1): the one column whose cells may be empty.
MAY_BE_EMPTY = ("loss",)

# The largest magnitude a number read from an output may have. The statistics square what
# they read (variances, Welch's t, the bootstrap's spreads): a value whose square leaves
# float64's range (about 1.8e308) turns them into Infinity or NaN, as -1e300 in a return
# did. 1e150 squared is 1e300, so sums of up to 1e8 such squares stay finite.
MAX_MAGNITUDE = 1e150
FINITE_RULE = f"a finite number within ±{MAX_MAGNITUDE:g}"


def number_problem(value) -> str | None:
    """Why value is not a number the pipeline computes with (None when it is one)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return "non-numeric"
    if math.isnan(number):
        return "not a number"
    if math.isinf(number):
        return "infinite"
    if abs(number) > MAX_MAGNITUDE:
        return f"beyond ±{MAX_MAGNITUDE:g} (its square overflows the statistics)"
    return None


def regular_file(path: str | Path, error: type[Exception] = DataError) -> Path:
    """path, when it names a regular file (or nothing yet); else a one-line error (of the
    given class) raised before anything reads it: /dev/zero or a FIFO would be read forever
    (MemoryError, or a hang), and a folder is not a file."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror})") from None
    if stat.S_ISREG(mode):
        return path
    kind = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    raise error(f"{path}: is {kind}; expected a regular file")


def _read_bytes(path: Path) -> bytes:
    regular_file(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to make it") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None


def non_finite_in(value, where: str = "") -> tuple[str, Any, str] | None:
    """Where a JSON-like value holds a number that is not finite (or beyond MAX_MAGNITUDE):
    (dotted key path, the number, why), or None. read_json and the strict JSON writer
    (outputs.json_text) name it so."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, (int, float)):
        why = number_problem(value)
        return (where or "the top level", value, why) if why else None
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = non_finite_in(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def read_json(path: str | Path) -> Any:
    """The JSON record at path, every number in it finite, or a one-line DataError naming the
    file and the key that holds what is off (a file cut short names where it ends)."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        value = json.loads(data)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except json.JSONDecodeError as err:
        # every JSON output is written whole, ending in a newline (outputs.json_text)
        cut = not data.endswith(b"\n") or err.pos >= len(data.rstrip())
        what = "cut short" if cut else "not valid JSON"
        raise DataError(
            f"{path}: {what} ({err.msg}, line {err.lineno} column {err.colno}); run "
            "`dvc repro --force` for its stage to remake it"
        ) from None
    except RecursionError:
        raise DataError(f"{path}: nested too deeply to be an output") from None
    if found := non_finite_in(value):
        key, number, why = found
        raise DataError(
            f"{path}: {key}: got {show(number)}, {why}; expected {FINITE_RULE}; run "
            "`dvc repro --force` for its stage to remake it"
        )
    return value


def read_table(
    path: str | Path, columns: Sequence[str], may_be_empty: Sequence[str] = MAY_BE_EMPTY
) -> pd.DataFrame:
    """The CSV at path with the given numeric columns, each cell finite (empty only in
    may_be_empty), or a one-line DataError naming the file, the row and the column."""
    import pandas as pd

    path = Path(path)
    data = _read_bytes(path)
    if not data.strip():
        raise DataError(f"{path}: empty; run `dvc repro` to remake it")
    # Every table is written whole, ending in a newline: without one it was cut short.
    if not data.endswith(b"\n"):
        raise DataError(
            f"{path}: cut short (no newline after the last row); run "
            "`dvc repro --force` for its stage to remake it"
        )
    try:
        # Only an empty cell is missing: a written `nan` or `NaN` is a value, and refused.
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"{path}: not a CSV table ({show(first)})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {show(missing)}; expected {list(columns)}")
    if frame.empty:
        raise DataError(f"{path}: no rows")
    # The listed columns must hold numbers; any other column pandas read as numbers (a
    # searched key such as lr in a tuning results.csv) must hold finite ones too.
    floats = [c for c in frame.columns if c not in columns and frame[c].dtype.kind == "f"]
    for column in (*columns, *floats):
        values = pd.to_numeric(frame[column], errors="coerce")
        empty = frame[column].isna()
        numbers = values.to_numpy(dtype=float)
        finite = ~(empty | values.isna()).to_numpy()
        finite[finite] = abs(numbers[finite]) <= MAX_MAGNITUDE  # inf fails this too
        bad = ~finite & ~(empty.to_numpy() & (column in may_be_empty or column in floats))
        if bad.any():
            row = int(bad.nonzero()[0][0])
            raise DataError(
                f"{path}: row {row + 2}, column {column}: "
                f"{_cell_problem(path, frame, row, column, empty.iloc[row])}; expected "
                f"{FINITE_RULE}{' or an empty cell' if column in may_be_empty else ''}; run "
                "`dvc repro --force` for its stage to remake it"
            )
        frame[column] = values
    return frame


def _cell_problem(path: Path, frame, row: int, column: str, empty: bool) -> str:
    """What the refused cell holds, as written in the file (1e999, not the inf it parses to)."""
    if empty:
        return "an empty cell"
    import pandas as pd

    text = pd.read_csv(path, dtype=str, keep_default_na=False)[column].iloc[row]
    return f"got {show(text)}, {number_problem(text) or 'non-numeric'}"


# tuning/search/<variant>/results.csv: beside one column per searched key
# tune@<variant>'s results.csv: a row per trial and tuning seed (reinforce/agent/tuning.py),
# these columns in this order, then one per searched key; all numbers but `state`
# (complete | pruned)
TUNING_RESULT_COLUMNS = (
    "trial",
    "state",
    "episodes",
    "seed",
    "mean_return",
    "final_return",
    "episodes_to_solve",
)


def read_tuning_results(path: str | Path, keys: Sequence[str]) -> pd.DataFrame:
    """A tune stage's results.csv (read_table's checks), its columns those of the search
    space `keys`."""
    path = Path(path)
    numeric = [c for c in TUNING_RESULT_COLUMNS if c != "state"]
    # final_return is empty where no trial was evaluated (tune.criterion mean-return, or a
    # pruned trial), episodes_to_solve where a seed never solved
    frame = read_table(path, numeric, may_be_empty=("episodes_to_solve", "final_return"))
    missing = [c for c in ("state", *keys) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing columns {show(missing)}; its search space in "
            "params.yaml changed since it was made: run `dvc repro`"
        )
    return frame.astype({"episodes_to_solve": "Int64"})


def check_counts(
    path: str | Path, frame: pd.DataFrame, seeds: Sequence[int], episodes: int
) -> None:
    """Every seed of params.yaml holds episodes 1..episodes once, and no other seed is
    there."""
    there = set(frame["seed"].astype(int))
    missing, extra = sorted(set(seeds) - there), sorted(there - set(seeds))
    if missing or extra:
        raise DataError(
            f"{path}: seeds do not match params.yaml's "
            + (f"(missing {show(missing)})" if missing else "")
            + (f" (not in params.yaml: {show(extra)})" if extra else "")
            + "; run `dvc repro`"
        )
    counts = frame.groupby("seed")["episode"].agg(["count", "nunique", "min", "max"])
    wrong = counts[
        (counts["count"] != episodes)
        | (counts["nunique"] != episodes)
        | (counts["min"] != 1)
        | (counts["max"] != episodes)
    ]
    if len(wrong):
        seed = int(wrong.index[0])
        raise DataError(
            f"{path}: seed {seed} has {int(wrong['count'].iloc[0])} rows of "
            f"episodes {int(wrong['min'].iloc[0])}..{int(wrong['max'].iloc[0])}; "
            f"params.yaml expects episodes 1..{episodes} once each; run "
            "`dvc repro`"
        )


def check_runs(runs: Mapping, config, root: str | Path = ".") -> None:
    """Each variant's curves.csv and eval.csv hold every reporting seed, with the variant's
    train.episodes and evaluate.episodes episodes each."""
    for name, run in runs.items():
        space = config.search_space(name)
        if "episodes" in space:  # chosen by the select stage
            episodes = config.selected_values(root, name).get("episodes")
        else:
            episodes = config.variant(name).episodes
        check_counts(paths.curves_path(root, name), run.curves, config.seeds, episodes)
        check_counts(
            paths.eval_path(root, name), run.evaluation, config.seeds, config.evaluate.episodes
        )
