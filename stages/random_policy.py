"""DVC stage random@<env> of a suite: a uniformly random policy's returns on the env, on
the suite's own random.seeds, the "random" end of the normalized score (docs/suite.md).

Writes <root>/random/random.csv (seed, episode, return).

Run from the repository root:
    python -m stages.random_policy --params studies/suite/params.yaml --env ID --root DIR
"""

from __future__ import annotations

import argparse
import sys

from reinforce.agent.evaluate import random_policy_returns
from reinforce.io import paths
from reinforce.io.cli import add_study_arguments, load_study, stage_main
from reinforce.io.outputs import write_atomic


@stage_main("random")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser)
    args = parser.parse_args(argv)
    cfg = load_study(args)
    returns = random_policy_returns(cfg.env.id, cfg.random.seeds, cfg.random.episodes)
    out = paths.random_path(args.root)
    write_atomic(out, returns.to_csv(index=False, float_format="%.9g"))
    print(
        f"random@{cfg.env.id}: {len(cfg.random.seeds)} seeds x {cfg.random.episodes} episodes, "
        f"mean return {returns['return'].mean():.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
