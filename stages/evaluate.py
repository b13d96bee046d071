"""DVC stage evaluate@<variant>: play each seed's trained policy on the plain env.

Writes runs/<variant>/eval/{eval.csv, environment.json}.
"""

import argparse
import json
import time

from reinforce.agent.evaluate import evaluate_policies
from reinforce.compute.backends import open_backend
from reinforce.io import paths
from reinforce.io.cli import add_study_arguments, load_study, log_label, stage_main
from reinforce.io.outputs import (
    FINGERPRINT_FILE,
    atomic_directory,
    check_output_folder,
    fingerprint_mismatch,
    log_path,
    write_atomic,
    write_fingerprint,
)


@stage_main("evaluate")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    add_study_arguments(parser, variant=True)
    args = parser.parse_args(argv)

    cfg = load_study(args)
    cfg.variant(args.variant)
    train_dir = paths.train_dir(args.root, args.variant)
    eval_dir = paths.eval_dir(args.root, args.variant)
    check_output_folder(
        eval_dir, "evaluate", lambda name: name in (paths.EVAL_FILE, FINGERPRINT_FILE)
    )
    if note := fingerprint_mismatch(train_dir):
        print(f"evaluate@{log_label(args)}: note: {note}", flush=True)

    start = time.perf_counter()
    with open_backend(cfg.compute) as backend:  # a Ray cluster that is not there fails here
        if line := backend.summary():
            print(f"evaluate@{log_label(args)}: {line}", flush=True)
        returns = evaluate_policies(
            train_dir,
            cfg.env.id,
            cfg.seeds,
            cfg.evaluate,
            backend=backend,
            label=f"evaluate@{log_label(args)}",
        )
        where = backend.describe()
    seconds = time.perf_counter() - start
    with atomic_directory(eval_dir) as tmp:
        returns.to_csv(tmp / paths.EVAL_FILE, index=False, float_format="%.9g")
        write_fingerprint(tmp)
    per_seed = returns.groupby("seed")["return"].mean()
    print(
        f"evaluate@{log_label(args)}: {cfg.evaluate.episodes} {cfg.evaluate.policy} episodes per "
        f"seed; mean return per seed: "
        + ", ".join(f"{seed}: {value:.1f}" for seed, value in per_seed.items())
    )
    write_atomic(
        log_path(f"evaluate-{log_label(args)}.json"),
        json.dumps(
            {
                "variant": args.variant,
                "seeds": list(cfg.seeds),
                "seconds": seconds,
                **where,
            },
            indent=2,
        )
        + "\n",
    )


if __name__ == "__main__":
    raise SystemExit(main())
