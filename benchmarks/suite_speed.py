"""Steps per second of our trainer against the article-style loop on every classic-control
env, each pair measured one after the other in one run.

    python -m benchmarks.suite_speed                                  # 10 seeds x 30 episodes
    python -m benchmarks.suite_speed --episodes 10 --article-seeds 1  # a few minutes here

The article-style loop is the article's (benchmarks/article_loop.py: one gymnasium env, a
torch forward and a distribution per step, one update per episode); for Box actions its
Gaussian version below (a Normal over the network's mean with a learned log-std, the sample
clipped to the bounds for the env step, log-probability of the sample). Ours is
train_variant with params.yaml's train settings (the article variant), all seeds in one
process, on one thread. A ratio of steps per second: the article-style loop runs on the
first --article-seeds seeds only (its speed hardly depends on the seed), ours on all.
Both run in this process on one thread, so the ratio is of steps per CPU second (what
other processes on a loaded machine take does not count); the wall-clock ratio is
printed beside it, and agrees on an idle machine.

Before the timed runs, one untimed episode per env pays the one-off costs of a process
(loading the compiled kernels, the first torch calls).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

import reinforce  # noqa: F401  (pins the numeric path before torch is imported)
from benchmarks.article_loop import EPS, run_seed
from reinforce.agent.train import train_variant
from reinforce.io.config import load_config

ENVS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"]


class ArticleGaussianPolicy(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int, hidden_dim: int = 128):
        super().__init__()
        self.affine1 = nn.Linear(obs_dim, hidden_dim)
        self.affine2 = nn.Linear(hidden_dim, action_dim)
        self.log_std = nn.Parameter(torch.zeros(action_dim))
        self.saved_log_probs: list[torch.Tensor] = []
        self.rewards: list[float] = []

    def forward(self, x):
        return self.affine2(F.relu(self.affine1(x)))


def run_seed_gaussian(
    seed: int, episodes: int, env_id: str, lr: float, gamma: float, hidden_dim: int
) -> int:
    """The article's main() with a Gaussian policy: returns the env steps."""
    torch.manual_seed(seed)
    env = gym.make(env_id)
    low, high = env.action_space.low, env.action_space.high
    policy = ArticleGaussianPolicy(
        env.observation_space.shape[0], env.action_space.shape[0], hidden_dim
    )
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    state, _ = env.reset(seed=seed)
    steps = 0
    for episode in range(episodes):
        if episode:
            state, _ = env.reset()
        while True:
            mean = policy(torch.from_numpy(state).float().unsqueeze(0))
            m = Normal(mean, policy.log_std.exp())
            action = m.sample()
            policy.saved_log_probs.append(m.log_prob(action).sum(-1))
            played = np.clip(action[0].numpy(), low, high)
            state, reward, terminated, truncated, _ = env.step(played)
            policy.rewards.append(float(reward))
            steps += 1
            if terminated or truncated:
                break
        R, returns = 0.0, []
        for r in policy.rewards[::-1]:
            R = r + gamma * R
            returns.insert(0, R)
        returns_t = torch.tensor(returns)
        returns_t = (returns_t - returns_t.mean()) / (returns_t.std() + EPS)
        loss = torch.cat([-lp * G for lp, G in zip(policy.saved_log_probs, returns_t)]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        del policy.rewards[:], policy.saved_log_probs[:]
    env.close()
    return steps


def article_style(env_id: str, seeds: list[int], episodes: int, train) -> int:
    """The article-style loop on each seed in turn; the env steps taken."""
    continuous = isinstance(gym.spec(env_id).make().action_space, gym.spaces.Box)
    steps = 0
    for seed in seeds:
        if continuous:
            steps += run_seed_gaussian(
                seed, episodes, env_id, train.lr, train.gamma, train.hidden_dim
            )
        else:
            steps += run_seed(seed, episodes, env_id, train.lr, train.gamma)[1]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--episodes", type=int, default=30, help="episodes per seed")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--article-seeds", type=int, default=2)
    parser.add_argument("--envs", nargs="*", default=ENVS)
    args = parser.parse_args()

    train = dataclasses.replace(load_config(args.params).train, episodes=args.episodes)
    seeds = list(range(args.seeds))
    torch.set_num_threads(1)
    for env_id in args.envs:
        train_variant(dataclasses.replace(train, episodes=1), env_id, seeds[:1], label="warm-up")

        article_style(env_id, seeds[:1], 1, train)

    ratios = {}
    for env_id in args.envs:
        wall, cpu = time.perf_counter(), time.process_time()
        ours = train_variant(train, env_id, seeds, label="ours")
        ours_wall, ours_cpu = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        article_steps = article_style(env_id, seeds[: args.article_seeds], train.episodes, train)
        article_wall, article_cpu = time.perf_counter() - wall, time.process_time() - cpu
        speeds = {
            "ours": (ours.env_steps / ours_wall, ours.env_steps / ours_cpu),
            "article": (article_steps / article_wall, article_steps / article_cpu),
        }
        ratios[env_id] = speeds["ours"][1] / speeds["article"][1]
        print(
            f"{env_id:<25} ours {speeds['ours'][1]:>9,.0f} steps/CPU-s "
            f"({speeds['ours'][0]:>9,.0f}/s wall; {ours.env_steps} steps, {len(seeds)} seeds) | "
            f"article-style {speeds['article'][1]:>7,.0f} steps/CPU-s "
            f"({speeds['article'][0]:>7,.0f}/s wall; {article_steps} steps, "
            f"{args.article_seeds} seeds) | ratio {ratios[env_id]:6.1f}x "
            f"(wall: {speeds['ours'][0] / speeds['article'][0]:.1f}x)",
            flush=True,
        )
    print(
        f"[{train.episodes} episodes per seed; lowest ratio of CPU time "
        f"{min(ratios.values()):.1f}x ({min(ratios, key=ratios.get)})]"
    )


if __name__ == "__main__":
    main()
