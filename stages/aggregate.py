"""DVC stage `aggregate`: runs/<variant>/{train,eval} -> metrics.json (the headline),
reports/statistics.json (every statistic) and reports/tables/*.csv.

Run from the repository root: python -m stages.aggregate [--params params.yaml]
"""

from __future__ import annotations

import sys
from pathlib import Path

from reinforce.analysis.claims import aggregate_outputs
from reinforce.analysis.stats import STATISTICS_PATH, DataError
from reinforce.io import paths
from reinforce.io.cli import run_report_step, stage_main
from reinforce.io.config import Config
from reinforce.io.outputs import atomic_directory, write_atomic


def write_aggregate(config: Config, root: str) -> str:
    outputs = aggregate_outputs(config, root)
    tables = {Path(p).name: text for p, text in outputs.items() if p.startswith(f"{paths.TABLES}/")}
    with atomic_directory(Path(root) / paths.TABLES) as tmp:
        for name, text in tables.items():
            write_atomic(tmp / name, text)
    write_atomic(Path(root) / STATISTICS_PATH, outputs[STATISTICS_PATH])
    write_atomic(Path(root) / paths.METRICS, outputs[paths.METRICS])
    return (
        f"wrote {paths.METRICS}, {STATISTICS_PATH} and {paths.TABLES}/ "
        f"({', '.join(sorted(tables))}) "
        f"for {', '.join(config.variants)}"
    )


@stage_main("aggregate")
def main(argv):
    return run_report_step("aggregate", __doc__, argv, write_aggregate, (DataError,))


if __name__ == "__main__":
    sys.exit(main())
