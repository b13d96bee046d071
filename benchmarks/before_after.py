"""Our trainer from another checkout (before) against this one (after), on the same work,
one right after the other, each in a fresh process, with the article's loop beside them.

    python -m benchmarks.before_after /path/to/main --episodes 300 --seeds 10 --article-seeds 2
    python -m benchmarks.before_after /path/to/main --sweep   # the default sweep's training
    python -m benchmarks.before_after /path/to/main --variants article actor-critic ppo

Speed is a ratio measured in one run (README, "Speed"); absolute times of different runs
are not comparable. --sweep times train_variant on the `article`, `value-baseline` and
`lr-1e-3` variants as the default sweep trained them before tuning existed (10 seeds x
1000 episodes, 2 workers) for each checkout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parents[1])

TRAIN = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import reinforce
try:
    from reinforce.agent.train import train_variant
    from reinforce.io.config import TrainConfig
except ModuleNotFoundError:  # a checkout from before the subpackages (reinforce/agent, io, ...)
    from reinforce.config import TrainConfig
    from reinforce.train import train_variant
if __name__ == "__main__":
    runs = json.loads(sys.argv[2])
    out = []
    for name, overrides, seeds, workers in runs:
        result = train_variant(TrainConfig(**overrides), "CartPole-v1", list(range(seeds)),
                               workers=workers, label=name)
        out.append([name, result.env_steps, result.seconds])
    print(json.dumps(out))
"""

ARTICLE = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import reinforce, torch
from benchmarks.article_loop import run_seed
torch.set_num_threads(1)
start = time.perf_counter()
steps = sum(run_seed(seed, int(sys.argv[2]))[1] for seed in range(int(sys.argv[3])))
print(json.dumps([steps, time.perf_counter() - start]))
"""


def run(code: str, *args) -> list:
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        cwd="/",
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("before", help="the other checkout (e.g. main)")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--article-seeds", type=int, default=2)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="params.yaml's variants as the train stage trains them (their selected values), "
        "--seeds seeds in one process, before and after alternated --rounds times",
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    checkouts = {"before": str(Path(args.before).resolve()), "after": HERE}

    if args.variants:
        compare_variants(checkouts, args.variants, args.seeds, args.rounds)
        return

    if args.sweep:
        # The three variants of the default sweep before tuning and the actor-critic came
        # (value-baseline with the lr it had then): what the throughput work started from.
        runs = [
            ["article", {}, 10, 2],
            ["value-baseline", {"baseline": "value", "lr": 0.005}, 10, 2],
            ["lr-1e-3", {"lr": 0.001}, 10, 2],
        ]
        totals = {}
        for when, root in checkouts.items():
            rows = run(TRAIN, root, json.dumps(runs))
            for name, steps, seconds in rows:
                print(
                    f"{when}: {name}: {steps} env steps in {seconds:.1f} s "
                    f"({steps / seconds:,.0f} steps/s)",
                    flush=True,
                )
            totals[when] = sum(seconds for _, _, seconds in rows)
            print(f"{when}: training {totals[when]:.1f} s", flush=True)
        print(f"training time, before / after: {totals['before'] / totals['after']:.2f}x")
        return

    speeds = {}
    for workers in (1, 2):
        for when, root in checkouts.items():
            ((_, steps, seconds),) = run(
                TRAIN,
                root,
                json.dumps([["ours", {"episodes": args.episodes}, args.seeds, workers]]),
            )
            speeds[when, workers] = steps / seconds
            print(
                f"{when}, {workers} process(es): {steps} env steps in {seconds:.1f} s = "
                f"{steps / seconds:,.0f} steps/s",
                flush=True,
            )
    steps, seconds = run(ARTICLE, HERE, args.episodes, args.article_seeds)
    article = steps / seconds
    print(
        f"article's loop, seeds 0-{args.article_seeds - 1}: {steps} env steps in "
        f"{seconds:.1f} s = {article:,.0f} steps/s"
    )
    for (when, workers), speed in speeds.items():
        print(f"ratio, {when} with {workers} process(es) / article: {speed / article:.1f}x")
    for workers in (1, 2):
        print(
            f"after / before, {workers} process(es): "
            f"{speeds['after', workers] / speeds['before', workers]:.2f}x"
        )
    for when in checkouts:
        print(
            f"parallel efficiency {when}, 1 -> 2 processes: "
            f"{speeds[when, 2] / (2 * speeds[when, 1]):.0%}"
        )


def variant_overrides(name: str) -> dict:
    """The variant's train config as the train stage builds it (params.yaml, and the values
    select chose), as the keys that differ from TrainConfig's defaults: the keys an older
    checkout may lack are left out where they are at their defaults."""
    import dataclasses

    from reinforce.io.config import TrainConfig, load_config

    cfg = load_config(Path(HERE) / "params.yaml")
    trained = cfg.trained_variant(name, cfg.selected_values(HERE, name))
    defaults = TrainConfig()
    return {
        field.name: getattr(trained, field.name)
        for field in dataclasses.fields(TrainConfig)
        if getattr(trained, field.name) != getattr(defaults, field.name)
    }


def compare_variants(checkouts: dict, variants: list[str], seeds: int, rounds: int) -> None:
    """Each variant trained by both checkouts, before then after, in alternated rounds;
    the median of each side's seconds, and their ratio."""
    import statistics

    runs = [[name, variant_overrides(name), seeds, 1] for name in variants]
    seconds = {(when, name): [] for when in checkouts for name in variants}
    for round_ in range(rounds):
        for when, root in checkouts.items():
            for name, steps, took in run(TRAIN, root, json.dumps(runs)):
                seconds[when, name].append(took)
                print(f"round {round_ + 1}, {when}: {name}: {steps} env steps in {took:.1f} s")
    for name in variants:
        before = statistics.median(seconds["before", name])
        after = statistics.median(seconds["after", name])
        print(
            f"{name}: median {before:.1f} s before, {after:.1f} s after: "
            f"throughput after / before {before / after:.2f}x"
        )


if __name__ == "__main__":
    main()
