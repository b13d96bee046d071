"""REINFORCE: the update and the training loop that runs many seeds in one process.

The path from config to update, for one variant:

    train_variant(cfg, env_id, seeds)
      -> per seed: networks and optimizers from seed_streams(seed)      (seeding, once)
      -> run_lockstep: every seed's env steps side by side; actions from NumPy copies of
         the policies, without autograd
      -> at each seed's episode end: update_seed -> reinforce_losses on the whole episode
         in one batched pass -> Adam step -> refresh that seed's NumPy copy

Seeds never share a computation whose result depends on the others, so a seed's curves
and weights are the same bytes whether it trains alone or beside other seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import scipy.signal
import torch
import torch.nn.functional as F

from reinforce.backends import LocalBackend, RayBackend
from reinforce.config import TrainConfig
from reinforce.envs import check_env_id
from reinforce.policy import GumbelStreams, Policy, StackedPolicies, ValueNet, save_policy
from reinforce.rollout import Episode, run_lockstep
from reinforce.workers import Progress

NORMALIZE_EPS = 1e-9


# ----------------------------------------------------------------------------- the maths

def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1}, in float64 (as the article's Python-float loop)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return scipy.signal.lfilter([1.0], [1.0, -gamma], rewards[::-1])[::-1].copy()


def normalize(returns: torch.Tensor) -> torch.Tensor:
    """(G - mean) / (std + eps) with torch's unbiased std, as the article; a one-step
    episode (std undefined) gives 0."""
    if returns.numel() < 2:
        return torch.zeros_like(returns)
    return (returns - returns.mean()) / (returns.std() + NORMALIZE_EPS)


def reinforce_losses(policy: Policy, critic: ValueNet | None, episodes: Sequence[Episode],
                     cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Policy loss (mean over episodes of sum_t -log pi(a_t|s_t) * A_t - entropy bonus)
    and critic loss (MSE of V(s_t) against the return targets), in one batched pass."""
    targets = []
    for episode in episodes:
        returns = torch.from_numpy(discounted_returns(episode.rewards, cfg.gamma)).float()
        targets.append(normalize(returns) if cfg.normalize_returns else returns)
    target = torch.cat(targets)
    obs = torch.from_numpy(np.concatenate([e.obs for e in episodes]))
    actions = torch.from_numpy(np.concatenate([e.actions for e in episodes]))

    log_probs_all = F.log_softmax(policy(obs), dim=-1)
    log_probs = log_probs_all.gather(1, actions[:, None]).squeeze(1)

    critic_loss = None
    if critic is not None:
        values = critic(obs)
        advantage = target - values.detach()
        critic_loss = F.mse_loss(values, target)
    else:
        advantage = target

    policy_loss = -(log_probs * advantage).sum()
    if cfg.entropy_coef:
        entropy = -(log_probs_all.exp() * log_probs_all).sum()
        policy_loss = policy_loss - cfg.entropy_coef * entropy
    return policy_loss / len(episodes), critic_loss


# ------------------------------------------------------------------------------ seeding

@dataclass
class SeedStreams:
    """Everything random in one seed's run, derived from that seed alone."""
    init: torch.Generator         # network initialization
    actions: np.random.Generator  # action sampling
    # env resets: env.reset(seed=seed) once, later resets continue the env's own RNG


def seed_streams(seed: int) -> SeedStreams:
    init_seq, action_seq = np.random.SeedSequence(seed).spawn(2)
    init = torch.Generator().manual_seed(int(init_seq.generate_state(1, np.uint64)[0]))
    return SeedStreams(init=init, actions=np.random.default_rng(action_seq))


# ------------------------------------------------------------------------ training loop

@dataclass
class SeedLearner:
    seed: int
    policy: Policy
    optimizer: torch.optim.Optimizer
    critic: ValueNet | None
    critic_optimizer: torch.optim.Optimizer | None
    rng: np.random.Generator
    pending: list[Episode] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)  # (episode, return, length, loss)


def make_learner(seed: int, obs_dim: int, n_actions: int, cfg: TrainConfig) -> SeedLearner:
    streams = seed_streams(seed)
    policy = Policy(obs_dim, n_actions, cfg.hidden_dim, streams.init)
    critic = critic_optimizer = None
    if cfg.baseline == "value":
        critic = ValueNet(obs_dim, cfg.hidden_dim, streams.init)
        critic_optimizer = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, fused=True)
    # fused: the same Adam update in one kernel per step, ~20% faster on these tiny nets
    return SeedLearner(seed=seed, policy=policy,
                       optimizer=torch.optim.Adam(policy.parameters(), lr=cfg.lr, fused=True),
                       critic=critic, critic_optimizer=critic_optimizer, rng=streams.actions)


def update_seed(learner: SeedLearner, cfg: TrainConfig) -> float:
    policy_loss, critic_loss = reinforce_losses(learner.policy, learner.critic,
                                                learner.pending, cfg)
    learner.optimizer.zero_grad()
    policy_loss.backward()
    if cfg.grad_clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(learner.policy.parameters(), cfg.grad_clip_norm)
    learner.optimizer.step()
    if critic_loss is not None:
        learner.critic_optimizer.zero_grad()
        critic_loss.backward()
        learner.critic_optimizer.step()
    learner.pending = []
    return float(policy_loss.detach())


@dataclass
class TrainResult:
    curves: pd.DataFrame              # seed, episode, return, length, loss
    checkpoints: dict[int, bytes]     # seed -> saved policy (and critic)
    obs_dim: int
    n_actions: int
    env_steps: int
    seconds: float


def train_seeds(cfg: TrainConfig, env_id: str, obs_dim: int, n_actions: int,
                seeds: Sequence[int], report: Callable[[float], None],
                ) -> tuple[list[tuple], dict[int, bytes], int]:
    """Train the given seeds side by side in this process: (curve rows, checkpoints, steps).
    obs_dim and n_actions are env_id's, as check_env_id gives them."""
    torch.set_num_threads(1)  # results must not depend on the machine's core count

    learners = [make_learner(seed, obs_dim, n_actions, cfg) for seed in seeds]
    stack = StackedPolicies([learner.policy for learner in learners])
    noise = GumbelStreams([learner.rng for learner in learners], n_actions)

    def choose(obs_rows: np.ndarray, active: np.ndarray, step: int) -> np.ndarray:
        return stack.subset(active).act(obs_rows, noise.at(step, active))

    def on_episode_end(k: int, episode: Episode) -> None:
        learner = learners[k]
        learner.pending.append(episode)
        loss = float("nan")  # no update after this episode (episodes_per_update > 1)
        if len(learner.pending) == cfg.episodes_per_update or \
                len(learner.rows) + 1 == cfg.episodes:
            loss = update_seed(learner, cfg)
            stack.refresh(k, learner.policy)
        episode_return = float(episode.rewards.sum())
        learner.rows.append((len(learner.rows) + 1, episode_return, len(episode.rewards), loss))
        report(episode_return)

    steps = run_lockstep(env_id, seeds, cfg.episodes, choose, on_episode_end)
    meta = {"env_id": env_id, "obs_dim": obs_dim, "n_actions": n_actions,
            "hidden_dim": cfg.hidden_dim}
    rows = [(learner.seed, *row) for learner in learners for row in learner.rows]
    checkpoints = {learner.seed: save_policy(learner.policy, learner.critic,
                                             {**meta, "seed": learner.seed})
                   for learner in learners}
    return rows, checkpoints, steps


def train_variant(cfg: TrainConfig, env_id: str, seeds: Sequence[int], workers: int = 1,
                  label: str = "train", backend: LocalBackend | RayBackend | None = None,
                  ) -> TrainResult:
    """Train every seed of one variant, the seeds split over `workers` processes, or as
    the given backend (reinforce/backends.py) splits them."""
    obs_dim, n_actions = check_env_id(env_id)
    backend = backend or LocalBackend(workers)
    start = time.perf_counter()
    groups = backend.map(partial(train_seeds, cfg, env_id, obs_dim, n_actions), seeds,
                         Progress(label, cfg.episodes * len(seeds)))
    seconds = time.perf_counter() - start
    rows = sorted(row for group_rows, _, _ in groups for row in group_rows)
    checkpoints = {seed: data for _, group_checkpoints, _ in groups
                   for seed, data in group_checkpoints.items()}
    curves = pd.DataFrame(rows, columns=["seed", "episode", "return", "length", "loss"])
    return TrainResult(curves=curves, checkpoints=dict(sorted(checkpoints.items())),
                       obs_dim=obs_dim, n_actions=n_actions,
                       env_steps=sum(steps for _, _, steps in groups), seconds=seconds)
