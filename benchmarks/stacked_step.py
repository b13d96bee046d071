"""What batching actor-critic's per-episode update across seeds could save, measured on
the code that exists: `train.update_seed` (each seed's 8 epochs x 4 minibatches of
torch calls on its own episode, as the per-episode path runs it) for n seeds, against
`rollouts._update` (the same epochs and minibatches of the same clipped objective, one
stacked call per minibatch for all n seeds, as `ppo` runs it; it takes the policy
loss's mean over a minibatch where actor-critic takes its sum, at the same cost) on n
episodes of the same length.

    python -m benchmarks.stacked_step                   # 5 and 10 seeds, 500-step episodes
    python -m benchmarks.stacked_step --seeds 20 --steps 200 --rounds 9

`actor-critic` is params.yaml's, with the learning rate its select stage chose
(tuning/selected/actor-critic.json). The episodes are synthetic (random CartPole-range
states and actions, reward 1, the last step terminal): the cost of an update depends on
its shapes, not on what it learns. The two are alternated for --rounds rounds; the
figures are medians. It prints the ratio per episode update for every seed; what the
default sweep would gain depends on how much of its time those updates are
(benchmarks/sweep_cost.py gives the stages' times).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from reinforce.agent import rollouts
from reinforce.agent.policy import Policy, ValueNet
from reinforce.agent.train import make_learner, update_seed
from reinforce.io.config import TrainConfig, load_config
from reinforce.sim.rollout import Episode

REPO = Path(__file__).resolve().parents[1]
SCALE = np.array([2.4, 3.0, 0.21, 3.0], dtype=np.float32)


def episodes(n: int, steps: int, rng: np.random.Generator) -> list[Episode]:
    return [
        Episode(
            obs=(rng.uniform(-1, 1, (steps, 4)) * SCALE).astype(np.float32),
            actions=rng.integers(0, 2, steps),
            rewards=np.ones(steps),
            terminated=True,
            final_obs=(rng.uniform(-1, 1, 4) * SCALE).astype(np.float32),
        )
        for _ in range(n)
    ]


def per_seed_seconds(cfg: TrainConfig, played: list[Episode]) -> float:
    learners = [make_learner(seed, 4, 2, cfg) for seed in range(len(played))]
    start = time.perf_counter()
    for learner, episode in zip(learners, played):
        learner.pending = [episode]
        update_seed(learner, cfg)
    return time.perf_counter() - start


def stacked_seconds(cfg: TrainConfig, played: list[Episode]) -> float:
    n, steps = len(played), len(played[0].rewards)
    rows = max(n, rollouts.MIN_STACK)
    policies, critics = [], []
    for seed in range(n):
        init = torch.Generator().manual_seed(seed)
        policies.append(Policy(4, 2, cfg.hidden_dim, init))
        critics.append(ValueNet(4, cfg.hidden_dim, init))
    policy, critic = rollouts._stack(policies, rows), rollouts._stack(critics, rows)
    adams = (rollouts.StackedAdam(policy, cfg.lr), rollouts.StackedAdam(critic, cfg.critic_lr))
    shuffles = [np.random.default_rng(seed) for seed in range(n)]
    obs = np.stack([e.obs for e in played])
    following = np.concatenate([obs[:, 1:], np.stack([e.final_obs for e in played])[:, None]], 1)
    ended = np.zeros((n, steps), dtype=bool)
    ended[:, -1] = True
    buffers = (obs, following, np.stack([e.actions for e in played]), np.ones((n, steps)))
    buffers += (ended.copy(), ended)
    start = time.perf_counter()
    rollouts._update(policy, critic, adams, shuffles, buffers, rows, cfg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--steps", type=int, default=500, help="each episode's length")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the stages train
    # actor-critic as the default sweep trains it: params.yaml's, with the selected lr
    config = load_config(REPO / "params.yaml", check_env=False)
    cfg = config.trained_variant("actor-critic", config.selected_values(REPO, "actor-critic"))
    rng = np.random.default_rng(0)
    warm = episodes(2, args.steps, rng)
    per_seed_seconds(cfg, warm), stacked_seconds(cfg, warm)  # one-off costs, untimed
    for n in args.seeds:
        played = episodes(n, args.steps, rng)
        plain, stacked = [], []
        for _ in range(args.rounds):
            plain.append(per_seed_seconds(cfg, played))
            stacked.append(stacked_seconds(cfg, played))
        plain_s, stacked_s = statistics.median(plain), statistics.median(stacked)
        print(
            f"{n} seeds x one {args.steps}-step episode, 8 epochs x 4 minibatches: "
            f"per seed {plain_s * 1e3:.0f} ms, stacked {stacked_s * 1e3:.0f} ms "
            f"(medians of {args.rounds}): {plain_s / stacked_s:.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
