"""DVC stage `check`: the whole of params.yaml, validated before any other stage runs.

Every stage depends on its output, so under `dvc repro` or `dvc exp run` a bad value fails
here, before DVC removes any other stage's outputs to rerun it. The output's bytes are the
same for every valid params.yaml, so a change of a value reruns only the stages that read
that value. Writes tuning/params-check.json.

Run from the repository root: python -m stages.check [--params params.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reinforce.io import paths
from reinforce.io.cli import stage_main, study_root
from reinforce.io.config import load_config
from reinforce.io.outputs import check_study_links, write_atomic

CHECK_PATH = paths.PARAMS_CHECK
# Constant: what downstream stages depend on is that the check passed, not the values.
CHECK_RECORD = '{"params.yaml": "valid"}\n'


@stage_main("check")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--root", default=".", help="the study folder (default: .)")
    args = parser.parse_args(argv)
    cfg = load_config(args.params)  # a suite: every env of it
    # no output folder linked outside the study: DVC removes a stage's outputs before its
    # command runs, so the stage itself would see such a link too late
    check_study_links(study_root(args.root))
    write_atomic(Path(args.root) / CHECK_PATH, CHECK_RECORD)
    envs = f", {len(cfg.envs)} envs" if cfg.is_suite else ""
    print(
        f"check: {args.params} is valid ({len(cfg.variants)} variants, {len(cfg.seeds)} seeds"
        f"{envs})"
    )


if __name__ == "__main__":
    sys.exit(main())
