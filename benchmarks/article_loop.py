"""A faithful re-implementation of the article's REINFORCE loop, the reference for speed.

One seed at a time, a Python loop per step, the policy's forward pass and a Categorical
distribution built with autograd at every step, and one update per episode:
    loss = sum_t -log pi(a_t|s_t) * G_t, G normalized per episode ((G - mean) / (std + eps)).
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical

EPS = 1e-9


class ArticlePolicy(nn.Module):
    def __init__(self, obs_dim: int = 4, n_actions: int = 2, hidden_dim: int = 128):
        super().__init__()
        self.affine1 = nn.Linear(obs_dim, hidden_dim)
        self.affine2 = nn.Linear(hidden_dim, n_actions)
        self.saved_log_probs: list[torch.Tensor] = []
        self.rewards: list[float] = []

    def forward(self, x):
        return F.softmax(self.affine2(F.relu(self.affine1(x))), dim=1)


def select_action(policy: ArticlePolicy, state: np.ndarray) -> int:
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode(policy: ArticlePolicy, optimizer, gamma: float) -> float:
    R = 0.0
    returns: deque[float] = deque()
    for r in policy.rewards[::-1]:
        R = r + gamma * R
        returns.appendleft(R)
    returns_t = torch.tensor(returns)
    returns_t = (returns_t - returns_t.mean()) / (returns_t.std() + EPS)
    policy_loss = [-log_prob * G for log_prob, G in zip(policy.saved_log_probs, returns_t)]
    optimizer.zero_grad()
    loss = torch.cat(policy_loss).sum()
    loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]
    return float(loss)


def run_seed(
    seed: int, episodes: int, env_id: str = "CartPole-v1", lr: float = 0.01, gamma: float = 0.99
) -> tuple[list[float], int]:
    """The article's main(): returns (episode returns, env steps)."""
    torch.manual_seed(seed)
    env = gym.make(env_id)
    policy = ArticlePolicy(env.observation_space.shape[0], env.action_space.n)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    state, _ = env.reset(seed=seed)
    episode_returns, steps = [], 0
    for _ in range(episodes):
        state, _ = env.reset() if episode_returns else (state, None)
        ep_reward = 0.0
        while True:
            action = select_action(policy, state)
            state, reward, terminated, truncated, _ = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            steps += 1
            if terminated or truncated:
                break
        finish_episode(policy, optimizer, gamma)
        episode_returns.append(ep_reward)
    env.close()
    return episode_returns, steps
