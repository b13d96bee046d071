"""DVC stage `plot`: reports/statistics.json, reports/tables, runs/ -> reports/figures/*,
reports/plots/*.csv (for `dvc plots show/diff`) and reports/report.md.

Run from the repository root: python -m stages.plot [--params params.yaml]
"""

from __future__ import annotations

import sys

from reinforce.analysis.stats import DataError
from reinforce.io import paths
from reinforce.io.cli import run_report_step, stage_main
from reinforce.io.config import Config


def write_figures_and_report(config: Config, root: str) -> str:
    from reinforce.analysis.report import write_report  # matplotlib: only once the config is good

    written = write_report(config, root)
    return f"wrote {paths.REPORT}, {paths.PLOTS}/ and {paths.FIGURES}/ ({len(written)} files)"


@stage_main("plot")
def main(argv):
    return run_report_step(
        "plot", __doc__, argv, write_figures_and_report, (DataError, FileNotFoundError)
    )


if __name__ == "__main__":
    sys.exit(main())
