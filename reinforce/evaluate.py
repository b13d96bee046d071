"""Playing trained policies on the untouched Gymnasium environment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reinforce.config import EvaluateConfig
from reinforce.policy import GumbelStreams, StackedPolicies, load_policy, policy_path
from reinforce.rollout import Episode, run_lockstep


def evaluate_policies(train_dir: str | Path, env_id: str, seeds: Sequence[int],
                      cfg: EvaluateConfig) -> pd.DataFrame:
    """Each seed's policy plays cfg.episodes episodes of gymnasium.make(env_id); seed k's
    env starts from seed cfg.seed_offset + k. Returns rows (seed, episode, return)."""
    torch.set_num_threads(1)
    policies = [load_policy(policy_path(train_dir, seed))[0] for seed in seeds]
    stack = StackedPolicies(policies)
    env_seeds = [cfg.seed_offset + seed for seed in seeds]
    # Sampled evaluation draws from a stream of its own, apart from training's.
    noise = GumbelStreams([np.random.default_rng(np.random.SeedSequence([s, 1]))
                           for s in env_seeds], stack.w2.shape[2])
    rows: list[tuple[int, int, float]] = []
    counts = [0] * len(seeds)

    def choose(obs_rows: np.ndarray, active: np.ndarray, step: int) -> np.ndarray:
        gumbel = noise.at(step, active) if cfg.policy == "sample" else None
        return stack.subset(active).act(obs_rows, gumbel)

    def on_episode_end(k: int, episode: Episode) -> None:
        counts[k] += 1
        rows.append((seeds[k], counts[k], float(episode.rewards.sum())))

    run_lockstep(env_id, env_seeds, cfg.episodes, choose, on_episode_end)
    return pd.DataFrame(sorted(rows), columns=["seed", "episode", "return"])

