"""Steps per second of our vectorized trainer against the article's loop, on the same work.

    python -m benchmarks.speed                    # article variant, 10 seeds x 1000 episodes
    python -m benchmarks.speed --episodes 200     # a shorter run of the same kind
    python -m benchmarks.speed --article-seeds 3  # the article's loop on seeds 0-2 only

Both run the `article` variant (params.yaml's train defaults) on the same seeds and episode
count, one after the other, each on one thread. Ours runs twice: in one process, and with
params.yaml's compute.workers processes (as `dvc repro` runs it); the article's loop uses
one process, as the article does. Run it on an otherwise idle machine.

The article's loop takes about 30 minutes for 10 seeds x 1000 episodes. --article-seeds K
runs it on the first K seeds only (the same episodes per seed) while ours runs them all:
the ratio compares steps per second, and the output says so. A seed's episode lengths
(and so its share of per-episode updates) vary, so a subset is a sample, not the figure
of the full set.

Before the timed runs, one untimed episode per worker count pays the one-off costs of a
process (loading the compiled kernels, about 0.4 s here; the worker processes' start):
they would otherwise fall on whichever run comes first and bias the parallel efficiency
upward.
"""

from __future__ import annotations

import argparse
import time

import torch

import reinforce  # noqa: F401  (pins the numeric path before torch is imported)
from benchmarks.article_loop import run_seed
from reinforce.agent.train import train_variant
from reinforce.io.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="episodes per seed (default: train.episodes of params.yaml)",
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--article-seeds",
        type=int,
        default=None,
        help="run the article's loop on the first K seeds only",
    )
    args = parser.parse_args()

    cfg = load_config(args.params)
    train = (
        cfg.train
        if args.episodes is None
        else type(cfg.train)(**{**cfg.train.__dict__, "episodes": args.episodes})
    )
    seeds = list(range(args.seeds))
    torch.set_num_threads(1)

    speeds = {}
    counts = sorted({1, cfg.compute.workers})
    for workers in counts:
        warm_up = type(train)(**{**train.__dict__, "episodes": 1})
        train_variant(warm_up, cfg.env.id, seeds[:workers], workers=workers, label="warm-up")
    for workers in counts:
        ours = train_variant(train, cfg.env.id, seeds, workers=workers, label="ours")
        speeds[workers] = ours.env_steps / ours.seconds
        print(
            f"ours, {workers} process(es): {ours.env_steps:>9} env steps in "
            f"{ours.seconds:7.1f} s = {speeds[workers]:9,.0f} steps/s",
            flush=True,
        )

    article_seeds = seeds[: args.article_seeds] if args.article_seeds else seeds
    start, article_steps = time.perf_counter(), 0
    for seed in article_seeds:
        _, steps = run_seed(seed, train.episodes, cfg.env.id, train.lr, train.gamma)
        article_steps += steps
    article_seconds = time.perf_counter() - start
    article_speed = article_steps / article_seconds
    print(
        f"article's loop, 1 process: {article_steps:>9} env steps in {article_seconds:7.1f} s"
        f" = {article_speed:9,.0f} steps/s [{len(article_seeds)} seeds]"
    )
    article_note = (
        ""
        if article_seeds == seeds
        else f"; the article's loop on seeds 0-{len(article_seeds) - 1} only: a ratio of steps/s"
    )
    for workers, speed in speeds.items():
        print(
            f"ratio, ours with {workers} process(es) / article: {speed / article_speed:.1f}x "
            f"[{len(seeds)} seeds x {train.episodes} episodes, {cfg.env.id}{article_note}]"
        )
    if len(speeds) > 1:
        workers = max(speeds)
        print(
            f"parallel efficiency, 1 -> {workers} processes: "
            f"{speeds[workers] / (workers * speeds[1]):.0%} "
            f"({len(seeds) / workers:.1f} seeds per process)"
        )


if __name__ == "__main__":
    main()
