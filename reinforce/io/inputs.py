"""Reading another stage's CSV output, and checking it against params.yaml: a file cut
short, a missing seed or a wrong episode count is one line naming the file and what is
off (DataError), never a wrong number."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from reinforce.io import paths
from reinforce.io.errors import DataError
from reinforce.io.names import show

# curves.csv leaves `loss` empty for an episode that ended no update (episodes_per_update
# > 1): the one column whose cells may be empty.
MAY_BE_EMPTY = ("loss",)


def read_table(
    path: str | Path, columns: Sequence[str], may_be_empty: Sequence[str] = MAY_BE_EMPTY
) -> pd.DataFrame:
    """The CSV at path with the given numeric columns, or a one-line DataError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro` to make it") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    if not data.strip():
        raise DataError(f"{path}: empty; run `dvc repro` to remake it")
    # Every table is written whole, ending in a newline: without one it was cut short.
    if not data.endswith(b"\n"):
        raise DataError(
            f"{path}: cut short (no newline after the last row); run "
            "`dvc repro --force` for its stage to remake it"
        )
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"{path}: not a CSV table ({show(first)})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {show(missing)}; expected {list(columns)}")
    if frame.empty:
        raise DataError(f"{path}: no rows")
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & (frame[column].notna() | (column not in may_be_empty))
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{path}: empty or non-numeric values (column {column}, row "
                f"{row + 2}: {show(frame[column].iloc[row])})"
            )
        frame[column] = values
    return frame


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
