"""DVC stage train@<variant>: train every reporting seed of one variant, with the values
the select stage chose for it (tuning/selected/<variant>.json).

Writes runs/<variant>/train/{curves.csv, policy_seed<k>.pt, environment.json}; the
wall-clock figures go to the git-ignored logs/train-<variant>.json.
"""

import argparse

from reinforce.agent.live import open_live
from reinforce.agent.policy import policy_path
from reinforce.agent.train import train_variant
from reinforce.compute.backends import open_backend
from reinforce.io import paths
from reinforce.io.cli import add_study_arguments, load_study, log_label, stage_main
from reinforce.io.outputs import (
    FINGERPRINT_FILE,
    atomic_directory,
    check_output_folder,
    container_identity,
    curves_csv,
    environment_fingerprint,
    fingerprint_mismatch,
    log_path,
    write_atomic,
    write_fingerprint,
    write_json,
)


def written_here(name: str) -> bool:
    """Whether this stage writes a file of that name into its output folder."""
    return (
        name in (paths.CURVES_FILE, FINGERPRINT_FILE)
        or paths.POLICY_FILE_PATTERN.fullmatch(name) is not None
    )


@stage_main("train")
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__)
    add_study_arguments(parser, variant=True)
    parser.add_argument("--out", default=None, help="default: <root>/runs/<variant>/train")
    args = parser.parse_args(argv)

    cfg = load_study(args)
    # the variant as written in params.yaml, with the values `select` chose on tune.seeds
    train_cfg = cfg.trained_variant(args.variant, cfg.selected_values(args.root, args.variant))
    out = args.out or paths.train_dir(args.root, args.variant)
    check_output_folder(out, "train", written_here)  # before the work, not after it
    if note := fingerprint_mismatch(out):
        print(f"train@{log_label(args)}: note: {note}", flush=True)

    # each episode's row to git-ignored dvclive/ files; REINFORCE_LIVE=0: off (docs/agents.md)
    live = open_live(f"train-{log_label(args)}")
    with open_backend(cfg.compute) as backend:  # a Ray cluster that is not there fails here
        if line := backend.summary():
            print(f"train@{log_label(args)}: {line}", flush=True)
        result = train_variant(
            train_cfg,
            cfg.env.id,
            cfg.seeds,
            label=f"train@{log_label(args)}",
            backend=backend,
            on_row=live and live.log,
        )
        where = backend.describe()
    if live:
        live.close()

    with atomic_directory(out) as tmp:
        write_atomic(tmp / paths.CURVES_FILE, curves_csv(result.rows))  # pandas' bytes
        for seed, checkpoint in result.checkpoints.items():
            write_atomic(policy_path(tmp, seed), checkpoint)
        write_fingerprint(tmp)

    speed = result.env_steps / result.seconds
    print(
        f"train@{log_label(args)}: {len(cfg.seeds)} seeds x {train_cfg.episodes} episodes, "
        f"{result.env_steps} env steps in {result.seconds:.1f} s ({speed:,.0f} steps/s)"
    )
    write_json(
        log_path(f"train-{log_label(args)}.json"),
        {
            "variant": args.variant,
            "seeds": list(cfg.seeds),
            "env_steps": result.env_steps,
            "seconds": result.seconds,
            "steps_per_second": speed,
            **where,
            "environment": environment_fingerprint(),
            "container": container_identity(),
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
