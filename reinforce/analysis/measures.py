"""Per-seed measures beyond final return: what a seed cost (environment steps and gradient
steps, in all and until it solved) and its sample efficiency at a common budget.

All exact, from the outputs (runs/<variant>/train/curves.csv) and the train config the
variant was trained with; wall-clock seconds are machine-dependent and stay in logs/.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reinforce.analysis import stats
from reinforce.io.config import TrainConfig

COST_COLUMNS = ("env_steps", "env_steps_to_solve", "gradient_steps", "gradient_steps_to_solve")


def gradient_steps(lengths, cfg: TrainConfig) -> np.ndarray:
    """Cumulative optimizer steps after each episode, as reinforce/agent/train.py takes them.

    An update follows every `episodes_per_update` episodes and the last episode; it makes
    update_epochs passes, each one step per non-empty minibatch of its transitions (one
    step when minibatches is 1). A step moves the policy and, where there is one, the
    critic: it counts once."""
    lengths = np.asarray(lengths, dtype=int)
    episodes = len(lengths)
    steps = np.zeros(episodes, dtype=int)
    pending = 0
    for k in range(episodes):
        pending += lengths[k]
        if (k + 1) % cfg.episodes_per_update == 0 or k + 1 == episodes:
            per_epoch = 1 if cfg.minibatches == 1 else min(cfg.minibatches, pending)
            steps[k] = cfg.update_epochs * per_epoch
            pending = 0
    return np.cumsum(steps)


def cost_table(
    run: stats.VariantRuns, cfg: TrainConfig, solve_window: int, solved_threshold: float
) -> pd.DataFrame:
    """A row per seed: seed, env steps and gradient steps in all and up to the episode at
    which it solved (empty when it never did)."""
    rows = []
    for seed, group in run.curves.sort_values(["seed", "episode"]).groupby("seed"):
        returns = group["return"].to_numpy(dtype=float)
        lengths = group["length"].to_numpy(dtype=int)
        env_steps = np.cumsum(lengths)
        grads = gradient_steps(lengths, cfg)
        solved_at = stats.episodes_to_solve(returns, solve_window, solved_threshold)
        rows.append(
            {
                "seed": int(seed),
                "env_steps": int(env_steps[-1]),
                "env_steps_to_solve": None if solved_at is None else int(env_steps[solved_at - 1]),
                "gradient_steps": int(grads[-1]),
                "gradient_steps_to_solve": None if solved_at is None else int(grads[solved_at - 1]),
            }
        )
    return pd.DataFrame(rows, columns=["seed", *COST_COLUMNS])


def early_return(run: stats.VariantRuns, episodes: int) -> pd.Series:
    """Per seed: the mean training return over its first `episodes` episodes (sample
    efficiency at a budget both variants of a comparison trained for)."""
    seeds, curves = run.curve_matrix()
    if curves.shape[1] < episodes:
        raise ValueError(f"{run.name}: {curves.shape[1]} episodes, fewer than {episodes}")
    return pd.Series(curves[:, :episodes].mean(axis=1), index=seeds).sort_index()
