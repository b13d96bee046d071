"""Live metrics of a running train stage, written with dvclive (docs/agents.md).

Every finished training episode's curve row (seed, episode, return, length, loss) reaches
the stage's own process (reinforce/compute/workers.py: Progress hands it to on_row, from
this process, from the local workers through their pipes, and from Ray tasks as they
end), and LiveMetrics writes it with dvclive:

    <live dir>/[<experiment>/]train-<variant>/metrics.json     the latest values (summary)
    <live dir>/[<experiment>/]train-<variant>/plots/metrics/seed<k>/{return,length,loss}.tsv

one series per seed, its step the episode. <live dir> is $REINFORCE_LIVE_DIR, else the
git-ignored `dvclive/` of the repository (for a queued experiment, which DVC runs in a
copy under .dvc/tmp/exps/, the repository it was queued from: so a queued sweep's live
files land where `dvc plots show` / `dvc metrics show` in the user's checkout read them);
<experiment> is DVC's experiment name when DVC runs one (DVC_EXP_NAME).

Nothing here is a DVC output and nothing reaches dvc.lock, the committed outputs or an
experiment's commit: the folder is git-ignored, dvclive is told to write no dvc.yaml and
to make no experiment of its own (save_dvc_exp=False, dvcyaml=None), and the stage's
outputs are the same bytes with live metrics on or off (tests/test_agents_visible.py).

On or off: REINFORCE_LIVE=1 / 0; unset, it is on inside `dvc exp run` (DVC sets
DVC_EXP_BASELINE_REV there: experiments and queued sweeps, where watching matters) and off
otherwise, because importing dvclive (and with it dvc) costs a train stage about 1-2 s of
start-up, more than the rest of its start (benchmarks in docs/agents.md).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

LIVE_SWITCH = "REINFORCE_LIVE"
LIVE_DIR = "REINFORCE_LIVE_DIR"
DEFAULT_DIR = "dvclive"
FLUSH_SECONDS = 2.0  # the files are rewritten at most this often (and at the end)
QUEUED_WORKSPACE = os.sep.join(("", ".dvc", "tmp", "exps", ""))


def live_enabled(environ=os.environ) -> bool:
    switch = environ.get(LIVE_SWITCH, "").strip().lower()
    if switch in ("1", "true", "yes", "on"):
        return True
    if switch in ("0", "false", "no", "off"):
        return False
    return bool(environ.get("DVC_EXP_BASELINE_REV"))


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
    """A dvclive logger of one train stage: log(row) per finished episode (cheap: rows are
    kept and written at most every FLUSH_SECONDS), close() at the end."""

    def __init__(self, folder: Path, flush_seconds: float = FLUSH_SECONDS):
        from dvclive import Live

        self.folder = Path(folder)
        self.live = Live(
            dir=str(self.folder),
            save_dvc_exp=False,
            dvcyaml=None,
            report=None,
            monitor_system=False,
        )
        self.pending: list[tuple] = []
        self.flush_seconds = flush_seconds
        self.next_flush = time.monotonic() + flush_seconds
        self.episodes = 0

    def log(self, row: tuple) -> None:
        """row: (seed, episode, return, length, loss), as curves.csv has it."""
        self.pending.append(row)
        if time.monotonic() >= self.next_flush:
            self.flush()

    def flush(self) -> None:
        live = self.live
        for seed, episode, episode_return, length, loss in self.pending:
            live.step = int(episode)
            live.log_metric(f"seed{seed}/return", float(episode_return))
            live.log_metric(f"seed{seed}/length", int(length))
            if loss == loss:  # an episode that ended no update has no loss (NaN)
                live.log_metric(f"seed{seed}/loss", float(loss))
        self.episodes += len(self.pending)
        self.pending.clear()
        live.summary["episodes"] = self.episodes
        live.make_summary()
        self.next_flush = time.monotonic() + self.flush_seconds

    def close(self) -> None:
        self.flush()


def open_live(label: str) -> LiveMetrics | None:
    """The stage's live logger when live metrics are on, else None."""
    if not live_enabled():
        return None
    return LiveMetrics(live_dir(label))
