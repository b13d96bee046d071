"""DVC stage `aggregate`: runs/<variant>/{train,eval} -> metrics.json, reports/tables/*.csv.

Run from the repository root: python -m stages.aggregate [--params params.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reinforce.cli import stage_main
from reinforce.config import load_config
from reinforce.outputs import atomic_directory, write_atomic
from reinforce.stats import DataError, aggregate_outputs


@stage_main("aggregate")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    config = load_config(args.params, check_env=False)
    try:
        outputs = aggregate_outputs(config, ".")
    except DataError as err:
        print(f"aggregate: {err}", file=sys.stderr)
        return 1
    tables = {Path(p).name: text for p, text in outputs.items()
              if p.startswith("reports/tables/")}
    with atomic_directory("reports/tables") as tmp:
        for name, text in tables.items():
            write_atomic(tmp / name, text)
    write_atomic("metrics.json", outputs["metrics.json"])
    print(f"aggregate: wrote metrics.json and reports/tables/ ({', '.join(sorted(tables))}) "
          f"for {', '.join(config.variants)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
