"""The reference trainer: one seed, one readable file, public APIs only (CleanRL-style).

What the engine (reinforce/agent/train.py, rollouts.py) does fast for many seeds at once,
written as a straight path from config to update for one seed: torch modules' forward for
acting, torch.optim.Adam, gymnasium.make. No compiled kernel, no batch of envs, no stacked
weights. tests/test_reference.py holds the engine to it (docs/algorithms.md, "The
reference trainer"): byte for byte where the engine claims identity, statistically where
it does not.

    train_reference(cfg, env_id, seed)
      -> seeding, once: networks from seeding.init_generator(seed) (policy.make_networks),
         actions from seeding.action_rng(seed), minibatch order from
         seeding.minibatch_rng(seed), env.reset(seed=seed) once (later resets continue the
         env's own RNG)
      -> play: one action per env step, from the policy's forward and the next draws of
         the action stream
      -> update: at episode ends (episodes_per_update whole episodes), or every
         rollout_steps env steps (episodes cut across rollouts): the algorithm's targets
         and losses (reinforce/algos), update_epochs passes of minibatches, one Adam step
         of policy and critic per minibatch

The engine's conventions, which a byte comparison needs:
- the policy acts on a batch of one observation (the call of the engine's torch actor,
  policy.TorchActor); an episode's return is NumPy's sum of its rewards.
- a categorical action is argmax(float64(logits) + g), g the seed's next n_actions draws
  of Gumbel(0, 1) (the Gumbel-max trick: a sample of softmax(logits)); a Gaussian action
  is float32(float64(mean) + float64(std) * eps), eps the next standard normal draws; the
  t-th env step of the seed (counted over its whole run, across episodes and rollouts)
  takes the t-th draws. The engine draws them in blocks of rows (policy.GumbelStreams,
  NormalStreams); NumPy's Generator gives the same numbers one row at a time.
- a Gaussian action is clipped to the action space only where the env steps with it; the
  update takes the log-probability of the unclipped draw.
- a curve row is (episode, return, length, loss): loss is the mean policy loss over the
  update's gradient steps, NaN where no update followed the episode (episodes schedule),
  or the last update's while the episode ran (rollouts schedule).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from reinforce import algos, seeding
from reinforce.agent.policy import GaussianPolicy, checkpoint_meta, make_networks, save_policy
from reinforce.algos.base import Batch, Experience
from reinforce.io.config import TrainConfig

# ------------------------------------------------------------------------------ acting


def act(policy, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The action for one observation, from the policy's forward and rng's next draws:
    a categorical index (int64) by the Gumbel-max trick, or a float32 Gaussian sample
    (unclipped)."""
    with torch.no_grad():  # a batch of one observation, as the engine's torch actor
        out = policy(torch.from_numpy(obs)[None])[0].numpy()  # logits, or the mean
    if isinstance(policy, GaussianPolicy):
        std = policy.log_std.detach().exp().numpy()
        eps = rng.standard_normal(size=out.shape)
        return (out.astype(np.float64) + std.astype(np.float64) * eps).astype(np.float32)
    gumbel = rng.gumbel(size=out.shape)
    return np.argmax(out.astype(np.float64) + gumbel)


def env_step(env: gym.Env, action: np.ndarray):
    """env.step with the action as the env takes it: a Box action clipped to its bounds."""
    if isinstance(env.action_space, gym.spaces.Box):
        action = np.clip(action, env.action_space.low, env.action_space.high)
    else:
        action = int(action)
    obs, reward, terminated, truncated, _ = env.step(action)
    return np.asarray(obs, dtype=np.float32), float(reward), bool(terminated), bool(truncated)


# ---------------------------------------------------------------------------- the update


def log_probs(policy, obs: torch.Tensor, actions: torch.Tensor):
    """log pi(a|s) of the taken actions, and each sample's entropy on demand."""
    if isinstance(policy, GaussianPolicy):
        dist = policy.distribution(obs)
        return dist.log_prob(actions).sum(-1), lambda: dist.entropy().sum(-1)
    all_log_probs = F.log_softmax(policy(obs), dim=-1)
    taken = all_log_probs.gather(1, actions[:, None]).squeeze(1)
    return taken, lambda: -(all_log_probs.exp() * all_log_probs).sum(-1)


def update(policy, critic, optimizers, data: dict, cfg: TrainConfig, shuffle, episodes):
    """One update on a batch of experience (data: obs, next_obs, actions, rewards,
    terminated, ended; samples on the first axis): the algorithm's targets fixed before the
    first step, then update_epochs passes of `minibatches` gradient steps. episodes: the
    whole episodes in the batch (None on rollouts). Returns the mean policy loss."""
    algorithm = algos.load(cfg.algorithm)
    obs = torch.from_numpy(data["obs"])
    actions = torch.from_numpy(data["actions"])
    values = next_values = None
    if critic is not None:
        with torch.no_grad():
            values = critic(obs)
            # V(s_{t+1}): the next row's value where the episode goes on in this batch (as
            # CleanRL's values[t + 1]), else V of the observation step t returned (after a
            # truncation or at a rollout's cut), 0 where t terminated
            next_values = np.append(values.numpy()[1:], 0.0).astype(np.float64)
            last = data["ended"].copy()
            last[-1] = True
            bootstrap = last & ~data["terminated"]
            if bootstrap.any():
                next_obs = torch.from_numpy(data["next_obs"][bootstrap])
                next_values[bootstrap] = critic(next_obs).numpy()
            next_values[data["terminated"]] = 0.0
    experience = Experience(
        rewards=data["rewards"],
        terminated=data["terminated"],
        ended=data["ended"],
        values=values,
        next_values=next_values,
    )
    advantages, targets = algorithm.targets(experience, cfg)
    old_log_probs = None
    if cfg.clip_ratio is not None:
        with torch.no_grad():
            old_log_probs = log_probs(policy, obs, actions)[0]

    n = len(actions)
    losses = []
    for _ in range(cfg.update_epochs):
        if cfg.minibatches == 1:
            minibatches = [torch.arange(n)]
        elif episodes is None:  # rollouts: equal minibatches (minibatches divides n)
            order = torch.from_numpy(shuffle.permutation(n))
            minibatches = order.split(n // cfg.minibatches)
        else:  # whole episodes: np.array_split's sections
            order = torch.from_numpy(shuffle.permutation(n))
            minibatches = [rows for rows in order.tensor_split(cfg.minibatches) if len(rows)]
        for rows in minibatches:
            taken, entropies = log_probs(policy, obs[rows], actions[rows])
            policy_loss, critic_loss = algorithm.losses(
                Batch(
                    log_probs=taken,
                    entropies=entropies,
                    values=None if critic is None else critic(obs[rows]),
                    old_values=None if values is None else values[rows],
                    advantages=advantages[rows],
                    targets=targets[rows],
                    old_log_probs=None if old_log_probs is None else old_log_probs[rows],
                    episodes=episodes,
                ),
                cfg,
            )
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss = policy_loss if critic_loss is None else policy_loss + critic_loss
            loss.backward()
            if cfg.grad_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip_norm)
            for optimizer in optimizers:
                optimizer.step()
            losses.append(policy_loss.item())
    loss = float(np.mean(losses))
    if not math.isfinite(loss):
        raise FloatingPointError(f"the update's policy loss is {loss}")
    return loss


# ------------------------------------------------------------------------------ training


def train_reference(cfg: TrainConfig, env_id: str, seed: int):
    """Train one seed: (curve rows [(episode, return, length, loss)], the checkpoint's
    bytes, env steps of the recorded episodes)."""
    torch.set_num_threads(1)  # as the engine: results must not depend on the core count
    env = gym.make(env_id)
    continuous = isinstance(env.action_space, gym.spaces.Box)
    obs_dim = env.observation_space.shape[0]
    n_actions = env.action_space.shape[0] if continuous else int(env.action_space.n)
    if continuous and cfg.rollout_steps is not None:
        raise ValueError(f"{env_id}: rollout_steps has the categorical head only")

    # seeding, once
    policy, critic = make_networks(seed, obs_dim, n_actions, cfg, continuous)
    rng = seeding.action_rng(seed)
    shuffle = seeding.minibatch_rng(seed) if cfg.minibatches > 1 else None
    obs = np.asarray(env.reset(seed=seed)[0], dtype=np.float32)

    optimizers = [torch.optim.Adam(policy.parameters(), lr=cfg.lr, fused=True)]
    if critic is not None:
        optimizers.append(torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, fused=True))
    buffer = {key: [] for key in ("obs", "next_obs", "actions", "rewards", "terminated", "ended")}
    curve, episode_rewards, env_steps = [], [], 0
    episodes_in_buffer, last_loss = 0, float("nan")

    while len(curve) < cfg.episodes:
        action = act(policy, obs, rng)
        next_obs, reward, terminated, truncated = env_step(env, action)
        for key, value in zip(
            buffer, (obs, next_obs, action, reward, terminated, terminated or truncated)
        ):
            buffer[key].append(value)
        episode_rewards.append(reward)
        obs = next_obs

        if terminated or truncated:
            if cfg.rollout_steps is None:  # update at episode ends
                episodes_in_buffer += 1
                loss = float("nan")  # no update after this episode
                if episodes_in_buffer == cfg.episodes_per_update or len(curve) + 1 == cfg.episodes:
                    loss = update(
                        policy,
                        critic,
                        optimizers,
                        _arrays(buffer),
                        cfg,
                        shuffle,
                        episodes_in_buffer,
                    )
                    buffer, episodes_in_buffer = {key: [] for key in buffer}, 0
            else:  # the last update's while this episode ran
                loss, last_loss = last_loss, float("nan")
            # the return as the engine sums an episode's rewards (NumPy's pairwise sum)
            episode_return = float(np.sum(episode_rewards))
            curve.append((len(curve) + 1, episode_return, len(episode_rewards), loss))
            env_steps += len(episode_rewards)
            episode_rewards = []
            if len(curve) < cfg.episodes:  # the next episode continues the env's own RNG
                obs = np.asarray(env.reset()[0], dtype=np.float32)

        if cfg.rollout_steps is not None and len(buffer["obs"]) == cfg.rollout_steps:
            if len(curve) < cfg.episodes:
                last_loss = update(policy, critic, optimizers, _arrays(buffer), cfg, shuffle, None)
            buffer = {key: [] for key in buffer}
    env.close()

    meta = checkpoint_meta(env_id, obs_dim, n_actions, cfg, continuous)
    checkpoint = save_policy(policy, critic, {**meta, "seed": seed})
    return curve, checkpoint, env_steps


def _arrays(buffer: dict) -> dict:
    """The buffer's lists as the arrays the update takes (the engine's dtypes)."""
    actions = np.stack(buffer["actions"])
    return {
        "obs": np.stack(buffer["obs"]).astype(np.float32),
        "next_obs": np.stack(buffer["next_obs"]).astype(np.float32),
        "actions": actions.astype(np.float32 if actions.ndim > 1 else np.int64),
        "rewards": np.asarray(buffer["rewards"], dtype=np.float64),
        "terminated": np.asarray(buffer["terminated"], dtype=bool),
        "ended": np.asarray(buffer["ended"], dtype=bool),
    }
