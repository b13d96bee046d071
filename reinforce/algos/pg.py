"""The policy-gradient family: the article's REINFORCE and its improvements, as options of
one loss (train keys, README "Parameters"):

- REINFORCE (Williams 1992), the article's: the Monte-Carlo return G_t, normalized per
  episode (normalize_returns), weights -log pi(a_t|s_t); no critic (baseline: none).
- with a value baseline (baseline: value): a critic V(s) fitted to the returns, the
  advantage G_t - V(s_t).
- GAE(lambda) advantages (advantage: gae) from the critic, normalized per batch
  (normalize_advantages), several epochs of minibatches (update_epochs, minibatches) with
  PPO's clipped surrogate (clip_ratio; Schulman et al. 2017): the actor-critic variant, and
  on fixed-length rollouts (rollout_steps) the ppo variant.
- an entropy bonus (entropy_coef).

The policy loss is reduced by base.reduce_samples: the article's sum over an episode's
steps, averaged over the update's episodes, on the per-episode schedule; the mean over the
minibatch's samples on rollouts (which hold no whole episodes). The critic's loss is the
mean squared error on both.
"""

from __future__ import annotations

import numpy as np
import torch

from reinforce.algos.base import (
    Batch,
    Experience,
    discounted_returns,
    gae,
    mean_squared_error,
    normalize,
    reduce_samples,
)


def needs_critic(cfg) -> bool:
    return cfg.baseline == "value"


def targets(experience: Experience, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, the critic's targets), float32, fixed before the update's first step.

    advantage: returns -- the Monte-Carlo return G_t (normalized per episode if
    normalize_returns), minus V(s_t) with a critic; the critic's target is that return.
    advantage: gae -- GAE(lambda) from the critic's values before the update; the critic's
    target is the lambda-return A_t + V(s_t).
    """
    values = experience.values
    if cfg.advantage == "gae":
        advantages = gae(
            experience.rewards,
            values.numpy(),
            experience.next_values,
            experience.terminated,
            experience.ended,
            cfg.gamma,
            cfg.gae_lambda,
        )
        advantage = torch.from_numpy(advantages).float()
        target = advantage + values
    else:
        returns = torch.from_numpy(
            discounted_returns(experience.rewards, cfg.gamma, experience.ended)
        ).float()
        if cfg.normalize_returns:
            returns = _per_episode(normalize, returns, experience.ended)
        target = returns
        advantage = target if values is None else target - values
    if cfg.normalize_advantages:
        advantage = normalize(advantage)
    return advantage, target


def _per_episode(function, x: torch.Tensor, ended: np.ndarray) -> torch.Tensor:
    """function applied to each episode's samples of the one row x (episodes end where
    `ended`)."""
    if x.dim() != 1:
        raise ValueError("per-episode normalization takes one seed's whole episodes")
    if not ended[:-1].any():  # one episode: no split (torch.cat would copy)
        return function(x)
    ends = np.flatnonzero(ended[:-1]) + 1
    return torch.cat([function(piece) for piece in torch.tensor_split(x, ends.tolist())])


def losses(batch: Batch, cfg) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Policy loss (-log pi(a_t|s_t) * A_t, or PPO's clipped surrogate with clip_ratio,
    minus entropy_coef times the entropy, reduced over samples by base.reduce_samples) and
    critic loss (the mean squared error of V(s_t) against the targets)."""
    advantage = batch.advantages
    if batch.old_log_probs is None or cfg.clip_ratio is None:
        terms = -(batch.log_probs * advantage)
    else:
        # the same gradient as above at the update's first step
        ratio = torch.exp(batch.log_probs - batch.old_log_probs)
        clipped = torch.clamp(ratio, 1 - cfg.clip_ratio, 1 + cfg.clip_ratio)
        terms = -torch.minimum(ratio * advantage, clipped * advantage)
    policy_loss = reduce_samples(terms, batch.episodes)
    if cfg.entropy_coef:
        entropy = reduce_samples(batch.entropies(), batch.episodes)
        policy_loss = policy_loss - cfg.entropy_coef * entropy
    critic_loss = None
    if batch.values is not None:
        critic_loss = mean_squared_error(batch.values, batch.targets)
    return policy_loss, critic_loss
