"""DVC stage `plot`: metrics.json, reports/tables, runs/ -> reports/figures/*,
reports/plots/*.csv (for `dvc plots show/diff`) and reports/report.md.

Run from the repository root: python -m stages.plot [--params params.yaml]
"""

from __future__ import annotations

import argparse
import sys

from reinforce.cli import stage_main
from reinforce.config import load_config
from reinforce.stats import DataError


@stage_main("plot")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    config = load_config(args.params, check_env=False)
    from reinforce.report import write_report  # matplotlib: only once the config is good

    try:
        written = write_report(config, ".")
    except (DataError, FileNotFoundError) as err:
        print(f"plot: {err}", file=sys.stderr)
        return 1
    print(f"plot: wrote reports/report.md, reports/plots/ and reports/figures/ "
          f"({len(written)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
