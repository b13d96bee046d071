"""The maths every algorithm may use, written once for every schedule.

Tensors and arrays hold samples on their last axis: (T,) for one seed's batch of whole
episodes (the per-episode path), (seeds, T) for every seed's rollout side by side (the
stacked path). Every operation works along that axis only, so a seed's numbers never
depend on the rows beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from reinforce.sim._kernels import discounted_sums

# The article's normalization, (x - mean) / (std + NORMALIZE_EPS), of returns and of
# advantages.
NORMALIZE_EPS = 1e-9


def discounted_returns(
    rewards: np.ndarray, gamma: float, ended: np.ndarray | None = None
) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1} in float64 (as the article's Python-float loop), the sum
    restarting after every step where `ended` (None: one episode)."""
    rewards = np.ascontiguousarray(rewards, dtype=np.float64)
    ended = (
        np.zeros(rewards.shape, dtype=bool)
        if ended is None
        else np.ascontiguousarray(ended, dtype=bool)
    )
    out = np.empty(rewards.shape)
    width = rewards.shape[-1]
    discounted_sums(
        rewards.reshape(-1, width),
        float(gamma),
        ended.reshape(-1, width),
        out.reshape(-1, width),
    )
    return out


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    ended: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> np.ndarray:
    """Generalized advantage estimation (Schulman et al. 2016), float64, of one episode,
    episodes side by side, or rollouts cut across episodes: delta_t = r_t + gamma *
    V(s_{t+1}) - V(s_t), with next_values = V(s_{t+1}) (the critic on the observation step
    t returned: the next state, the last one at a time-limit truncation, the state after a
    rollout's cut) and 0 where t terminated; A_t = delta_t + gamma * lambda * A_{t+1}, the
    sum cut after every step where an episode ended. lambda = 1 gives the Monte-Carlo
    advantage G_t - V(s_t) (with the bootstrap at a cut), lambda = 0 the TD error.

    The article's formulation differs: Monte-Carlo returns with no critic, normalized per
    episode, and the 500-step cut of CartPole-v1 scored as a terminal state (no bootstrap),
    so the last states of a perfect episode are taught that the future is worth nothing.
    """
    values = np.asarray(values, dtype=np.float64)
    bootstrap = np.where(terminated, 0.0, np.asarray(next_values, dtype=np.float64))
    deltas = np.asarray(rewards, dtype=np.float64) + gamma * bootstrap - values
    out = np.empty(deltas.shape)
    width = deltas.shape[-1]
    discounted_sums(
        deltas.reshape(-1, width),  # a new array: contiguous
        float(gamma * gae_lambda),
        np.ascontiguousarray(ended, dtype=bool).reshape(-1, width),
        out.reshape(-1, width),
    )
    return out


def normalize(x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / (std + eps) along the last axis with torch's unbiased std, as the
    article; fewer than two samples (std undefined) give 0."""
    if x.shape[-1] < 2:
        return torch.zeros_like(x)
    if x.dim() == 1:
        return (x - x.mean()) / (x.std() + NORMALIZE_EPS)
    return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + NORMALIZE_EPS)


def reduce_samples(x: torch.Tensor, episodes: int | None) -> torch.Tensor:
    """A loss's reduction over the samples of the last axis: on whole episodes (the
    per-episode schedule), the mean over episodes of each episode's sum, as the article's
    REINFORCE; on rollouts, which hold no whole episodes (episodes None), the mean over
    samples, as CleanRL's and SB3's PPO."""
    return x.mean(-1) if episodes is None else x.sum(-1) / episodes


def mean_squared_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean over the last axis of (x - target)^2: F.mse_loss on one row (one autograd
    node, where the expression takes three: this runs on every minibatch step), the mean of
    its per-sample terms on rows side by side (the same bytes, from the same kernels)."""
    if x.dim() == 1:
        return F.mse_loss(x, target)
    return F.mse_loss(x, target, reduction="none").mean(-1)


@dataclass
class Experience:
    """A batch of experience before an update, samples on the last axis."""

    rewards: np.ndarray  # float64
    terminated: np.ndarray  # bool: the step ended its episode by termination (V after it = 0)
    ended: np.ndarray  # bool: the step ended its episode (terminated or truncated)
    values: torch.Tensor | None  # V(s_t), float32, without gradient; None without a critic
    next_values: np.ndarray | None  # V(s_{t+1}) as gae takes it; None without a critic


@dataclass
class Batch:
    """What the networks give on one minibatch, and the targets fixed before the update."""

    log_probs: torch.Tensor  # log pi(a_t|s_t) of the taken actions, with gradient
    entropies: Callable[[], torch.Tensor]  # each sample's entropy of pi(.|s_t), on demand
    values: torch.Tensor | None  # V(s_t), with gradient; None without a critic
    old_values: torch.Tensor | None  # V(s_t) at the update's start (Experience.values)
    advantages: torch.Tensor
    targets: torch.Tensor
    old_log_probs: torch.Tensor | None  # log pi_old(a_t|s_t) at the update's start
    episodes: int | None  # whole episodes in the batch; None on rollouts
