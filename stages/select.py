"""DVC stage `select`: tuning/search/*/results.csv -> tuning/selected/<variant>.json (the
values train@<variant> uses; empty for a variant without a search space) and
tuning/candidates.csv, by the rule in reinforce/agent/selection.py; prints a warning for a choice
on the edge of its grid or made by the tie-breaker (reinforce/analysis/tuning_checks.py).

Run from the repository root: python -m stages.select [--params params.yaml]
"""

from __future__ import annotations

import sys

from reinforce.agent.selection import write_selection
from reinforce.analysis.tuning_checks import selection_warnings
from reinforce.io.cli import run_report_step, stage_main
from reinforce.io.config import Config
from reinforce.io.errors import DataError


def select(config: Config, root: str) -> str:
    chosen = write_selection(config, root)
    warnings = "".join(f"\nselect: warning: {line}" for line in selection_warnings(config, root))
    return (
        "; ".join(
            f"{name}: "
            + (", ".join(f"{k}={v}" for k, v in values.items()) if values else "not tuned")
            for name, values in chosen.items()
        )
        + warnings
    )


@stage_main("select")
def main(argv):
    return run_report_step("select", __doc__, argv, select, (DataError,))


if __name__ == "__main__":
    sys.exit(main())
