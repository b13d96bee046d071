"""DVC stage tune@<variant>: train and evaluate every candidate of the variant's search
space (tune.search.<variant>) on the tuning seeds (tune.seeds).

Writes tuning/search/<variant>/{results.csv, environment.json}.
"""

import argparse

from reinforce.agent.tuning import tune_variant
from reinforce.analysis.stats import summarize_candidates, table_csv
from reinforce.compute.backends import open_backend
from reinforce.io import paths
from reinforce.io.cli import add_study_arguments, load_study, log_label, stage_main
from reinforce.io.outputs import (
    FINGERPRINT_FILE,
    atomic_directory,
    check_output_folder,
    write_atomic,
    write_fingerprint,
)


@stage_main("tune")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser, variant=True)
    args = parser.parse_args(argv)

    cfg = load_study(args)
    space = cfg.search_space(args.variant)
    check_output_folder(
        paths.search_dir(args.root, args.variant),
        "tune",
        lambda name: name in (paths.RESULTS_FILE, FINGERPRINT_FILE),
    )
    with open_backend(cfg.compute) as backend:  # a Ray cluster that is not there fails here
        if line := backend.summary():
            print(f"tune@{log_label(args)}: {line}", flush=True)
        results = tune_variant(cfg, args.variant, backend=backend, label=f"tune@{log_label(args)}")
    with atomic_directory(paths.search_dir(args.root, args.variant)) as tmp:
        write_atomic(tmp / paths.RESULTS_FILE, table_csv(results))
        write_fingerprint(tmp)
    summary = summarize_candidates(results, list(space))
    for row in summary.to_dict("records"):
        values = ", ".join(f"{key}={row[key]}" for key in space)
        median = row["median_episodes_to_solve"]
        print(
            f"tune@{log_label(args)}: {values}: final-return IQM {row['final_return_iqm']:.1f}, "
            f"solved {row['solve_rate']:.0%}, median episodes to solve "
            f"{'never' if median is None or median != median else f'{median:g}'}"
            f"{'  <- chosen' if row['chosen'] else ''}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
