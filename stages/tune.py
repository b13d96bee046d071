"""DVC stage tune@<variant>: the variant's Optuna study (tune.search.<variant>, tune.sampler,
tune.trials, tune.pruner) trained on the tuning seeds (tune.seeds).

Writes tuning/search/<variant>/{results.csv, environment.json}, and the study for
optuna-dashboard to tuning/studies/<variant>.log (no DVC output: its bytes hold the times
the trials ran).
"""

import argparse

from reinforce.agent.tuning import results_csv, tune_variant, write_study
from reinforce.analysis.tuning_checks import summarize
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
        search = tune_variant(cfg, args.variant, backend=backend, label=f"tune@{log_label(args)}")
    with atomic_directory(paths.search_dir(args.root, args.variant)) as tmp:
        write_atomic(tmp / paths.RESULTS_FILE, results_csv(search.results))
        write_fingerprint(tmp)
    write_study(search, paths.study_path(args.root, args.variant))
    print(f"tune@{log_label(args)}: {search.work_line()}")
    for row in summarize(cfg, args.variant, search.results).to_dict("records"):
        values = ", ".join(f"{key}={row[key]:.4g}" if isinstance(row[key], float) else
                           f"{key}={row[key]}" for key in space)  # fmt: skip
        median = row["median_episodes_to_solve"]
        outcome = (
            f"{cfg.tune.criterion} {row['value']:.1f}, solved {row['solve_rate']:.0%}, "
            f"median episodes to solve "
            f"{'never' if median is None or median != median else f'{median:g}'}"
            if row["state"] == "complete"
            else f"pruned at {row['episodes']} episodes (mean return so far, IQM "
            f"{row['mean_return_iqm']:.1f})"
        )
        print(
            f"tune@{log_label(args)}: trial {row['trial']}: {values}: {outcome}"
            f"{'  <- chosen' if row['chosen'] else ''}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
