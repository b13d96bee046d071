"""A variant as the train stage trains it (its selected values) on seeds nothing has seen:
how many solve, and when. A replication of one claim stated in advance, without a sweep.

    python -m benchmarks.replicate actor-critic --seeds 30-49

The same numbers as `dvc exp run -S 'seeds=[30,...,49]'` gives for that variant (a seed's
run is the same bytes whichever seeds it trains with), without retraining the others.
Seeds must be disjoint from tune.seeds (the config refuses them as reporting seeds too).
"""

from __future__ import annotations

import argparse

import numpy as np

from reinforce.agent.train import train_variant
from reinforce.analysis import stats
from reinforce.io.config import load_config


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    try:
        seeds = list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: FIRST-LAST, e.g. 30-49") from None
    if not seeds or seeds[0] < 0:
        raise argparse.ArgumentTypeError(f"got {text!r}; allowed: FIRST-LAST, 0 <= FIRST <= LAST")
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variant")
    parser.add_argument("--seeds", type=seed_range, required=True, help="FIRST-LAST")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    cfg = load_config(args.params)
    if args.variant not in cfg.variants:
        parser.error(f"variant: got {args.variant!r}; allowed: {', '.join(cfg.variants)}")
    if shared := sorted(set(args.seeds) & set(cfg.tune.seeds)):
        parser.error(f"--seeds: {shared} are tuning seeds (tune.seeds); pick others")
    train = cfg.trained_variant(args.variant, cfg.selected_values(".", args.variant))
    result = train_variant(
        train, cfg.env.id, args.seeds, workers=cfg.compute.workers, label=args.variant
    )
    curves: dict[int, list[float]] = {seed: [] for seed in args.seeds}
    for seed, _, episode_return, *_ in result.rows:
        curves[seed].append(episode_return)
    solves = {
        seed: stats.episodes_to_solve(
            np.asarray(curve, dtype=float), cfg.env.solve_window, cfg.env.solved_threshold
        )
        for seed, curve in curves.items()
    }
    solved = sum(n is not None for n in solves.values())
    median = stats.median_episodes_to_solve(list(solves.values()))
    print(
        f"{args.variant} on seeds {args.seeds[0]}-{args.seeds[-1]}: solved "
        f"{solved}/{len(solves)} within {train.episodes} episodes; median episodes to solve "
        f"{'never' if median is None else f'{median:g}'} (unsolved seeds counted as never)"
    )
    print("episodes to solve per seed: " + ", ".join(f"{s}: {n}" for s, n in solves.items()))


if __name__ == "__main__":
    main()
