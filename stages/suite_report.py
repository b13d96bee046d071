"""DVC stage `suite_report`: a suite study's envs/<env>/{runs,random,reports} ->
reports/suite.md, reports/suite.json, reports/tables/*.csv, metrics.json and
reports/figures/suite_*.png, all under --root.

Run from the repository root:
    python -m stages.suite_report --params studies/suite/params.yaml --root studies/suite
"""

from __future__ import annotations

import argparse
import sys

from reinforce.io.cli import stage_main
from reinforce.io.config import load_config


@stage_main("suite_report")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--root", default=".", help="the suite study's folder")
    args = parser.parse_args(argv)
    config = load_config(args.params, check_env=False)
    # matplotlib: only once the config is good
    from reinforce.analysis.suite_report import write_suite_report

    written = write_suite_report(config, args.root)  # a DataError: one line, exit 1
    print(f"suite_report: wrote {len(written)} files under {args.root}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
