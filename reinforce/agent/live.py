"""Live metrics of a running train stage, in dvclive's file layout (docs/agents.md).

Every finished training episode's curve row (seed, episode, return, length, loss) reaches
the stage's own process (reinforce/compute/workers.py: Progress hands it to on_row, from
this process, from the local workers through their pipes, and from Ray tasks as they
end), and LiveMetrics writes it:

    <live dir>/[<experiment>/]train-<variant>/metrics.json     the latest values (summary)
    <live dir>/[<experiment>/]train-<variant>/plots/metrics/seed<k>/{return,length,loss}.tsv

one series per seed, its step the episode. <live dir> is $REINFORCE_LIVE_DIR, else the
git-ignored `dvclive/` of the repository (for a queued experiment, which DVC runs in a
copy under .dvc/tmp/exps/, the repository it was queued from: so a queued sweep's live
files land where `dvc plots show` / `dvc metrics show` in the user's checkout read them);
<experiment> is DVC's experiment name when DVC runs one (DVC_EXP_NAME).

Nothing here is a DVC output and nothing reaches dvc.lock, the committed outputs or an
experiment's commit: the folder is git-ignored, no dvc.yaml is written, and the stage's
outputs are the same bytes with live metrics on or off (tests/test_agents_visible.py).

On by default (it costs the stage nothing measurable: docs/agents.md); REINFORCE_LIVE=0
turns it off.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from reinforce.io.errors import ConfigError
from reinforce.io.outputs import write_atomic

LIVE_SWITCH = "REINFORCE_LIVE"
LIVE_DIR = "REINFORCE_LIVE_DIR"
DEFAULT_DIR = "dvclive"
FLUSH_SECONDS = 2.0  # the files are rewritten at most this often (and at the end)
FLUSH_SWITCH = "REINFORCE_LIVE_SECONDS"  # another interval, in seconds (> 0)
METRICS = ("return", "length", "loss")
QUEUED_WORKSPACE = os.sep.join(("", ".dvc", "tmp", "exps", ""))


def live_enabled(environ=os.environ) -> bool:
    switch = environ.get(LIVE_SWITCH, "").strip().lower()
    if switch in ("1", "true", "yes", "on"):
        return True
    if switch in ("0", "false", "no", "off"):
        return False
    return True


def live_dir(label: str, environ=os.environ, cwd: Path | None = None) -> Path:
    """Where a stage labelled `label` (train-<variant>) writes its live files."""
    base = environ.get(LIVE_DIR)
    if not base:
        here = str(cwd or Path.cwd())
        repository = here.split(QUEUED_WORKSPACE, 1)[0] if QUEUED_WORKSPACE in here else here
        base = str(Path(repository) / DEFAULT_DIR)
    folder = Path(base)
    experiment = environ.get("DVC_EXP_NAME")
    if experiment and "/" not in experiment and experiment not in (".", ".."):
        folder = folder / experiment
    return folder / label


class LiveMetrics:
    """The live files of one train stage, in dvclive's layout: log(row) per finished
    episode keeps the row; at most every FLUSH_SECONDS (and at close) the kept rows are
    appended to each series in one write per file, and the summary is rewritten.

    Why not dvclive's Live itself: measured here, Live() takes 2.7 s to start (it looks
    for the DVC repository) on top of 1.8 s to import dvclive and dvc, and its log_metric
    0.65 ms a call (path objects, a mkdir and an open per value): 11 s of the stage's own
    process, which also trains a group of seeds, for a 10-seed x 1000-episode variant.
    The same files written in batches cost milliseconds. The layout is dvclive's
    (plots/metrics/<name>.tsv with a `step<TAB><name>` header, metrics.json with the
    latest values and "step"), so `dvc plots show`, `dvc metrics show` and DVC's tools
    read them as they read dvclive's."""

    def __init__(self, folder: Path, flush_seconds: float = FLUSH_SECONDS):
        self.folder = Path(folder)
        self.series = self.folder / "plots" / "metrics"
        self.summary_path = self.folder / "metrics.json"
        self._remove_previous()
        self.pending: list[tuple] = []
        self.flush_seconds = flush_seconds
        self.next_flush = time.monotonic() + flush_seconds
        self.latest: dict[int, dict] = {}
        self.episodes = self.step = 0
        self.started: set[Path] = set()

    def _remove_previous(self) -> None:
        """A previous run's files of the names this writes (and nothing else)."""
        if self.summary_path.is_file():
            self.summary_path.unlink()
        for path in self.series.glob("seed*/*.tsv") if self.series.is_dir() else ():
            if path.stem in METRICS and path.parent.name[4:].isdigit():
                path.unlink()

    def log(self, row: tuple) -> None:
        """row: (seed, episode, return, length, loss), as curves.csv has it."""
        self.pending.append(row)
        if time.monotonic() >= self.next_flush:
            self.flush()

    def flush(self) -> None:
        lines: dict[tuple[int, str], list[str]] = {}
        for seed, episode, episode_return, length, loss in self.pending:
            values = {"return": float(episode_return), "length": int(length)}
            if loss == loss:  # an episode that ended no update has no loss (NaN)
                values["loss"] = float(loss)
            for name, value in values.items():
                lines.setdefault((seed, name), []).append(f"{episode}\t{value}\n")
            self.latest[seed] = values
            if episode > self.step:
                self.step = int(episode)
        self.episodes += len(self.pending)
        self.pending.clear()
        for (seed, name), text in lines.items():
            path = self.series / f"seed{seed}" / f"{name}.tsv"
            first = path not in self.started
            if first:
                path.parent.mkdir(parents=True, exist_ok=True)
                text.insert(0, f"step\t{name}\n")
                self.started.add(path)
            with open(path, "w" if first else "a") as handle:
                handle.writelines(text)
        latest = {f"seed{seed}": values for seed, values in sorted(self.latest.items())}
        summary = {"episodes": self.episodes, **latest, "step": self.step}
        write_atomic(self.summary_path, json.dumps(summary, indent=4) + "\n")
        self.next_flush = time.monotonic() + self.flush_seconds

    def close(self) -> None:
        self.flush()


def open_live(label: str) -> LiveMetrics | None:
    """The stage's live logger when live metrics are on, else None."""
    if not live_enabled():
        return None
    raw = os.environ.get(FLUSH_SWITCH, "")
    try:
        seconds = float(raw) if raw else FLUSH_SECONDS
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise ConfigError(f"{FLUSH_SWITCH}: got {raw!r}; allowed: a number of seconds > 0")
    return LiveMetrics(live_dir(label), seconds)
