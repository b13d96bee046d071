"""The lockstep runner and Episode, shared by training and evaluation.

run_lockstep plays many seeds' environments side by side: at each lockstep step, every
still-running env gets its action from one call of `choose` and takes one step. For
CartPole it steps all of them at once in compiled code (envs.CartPoleBatch, float for
float the Gymnasium env), and when `choose` is a CompiledActor (agent.policy.StackedActor),
the compiled loop chooses the actions too and returns only at an episode's end. The other
classic-control envs (Acrobot-v1, MountainCar-v0, Pendulum-v1, MountainCarContinuous-v0:
envs.ClassicBatch) do the same, with the categorical StackedActor or the Gaussian
GaussianActor as the compiled chooser. Any other env id takes the generic path, one
gymnasium.make env per seed. All paths give the same episodes (tests/test_rollout.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from reinforce.sim._kernels import compiled_trig_matches_numpy
from reinforce.sim.envs import CartPoleBatch, ClassicBatch, classic_batch, make_env

Choose = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
OnEpisodeEnd = Callable[[int, "Episode"], None]


@runtime_checkable
class CompiledActor(Protocol):
    """A choose that the compiled loop can play without calling back into Python: it hands
    over its stacked weights and prepared noise (agent.policy.StackedActor; named here by
    what it does, since the simulation layer sits below the agent)."""

    def __call__(self, obs_rows: np.ndarray, active: np.ndarray, step: int) -> np.ndarray: ...

    def arrays_at(
        self,
        step: int,
        active: np.ndarray,
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]: ...


@dataclass
class Episode:
    obs: np.ndarray  # (T, obs_dim) float32, the states actions were taken in
    actions: np.ndarray  # (T,) int64, or (T, action_dim) float32 unclipped for a Box
    rewards: np.ndarray  # (T,) float64
    # True when the episode ended by termination, False when the time limit truncated it.
    terminated: bool = True
    # (obs_dim,) float32: the observation the last step returned, before any reset (the
    # state to bootstrap from after a truncation). None only for hand-made episodes.
    final_obs: np.ndarray | None = None


def run_lockstep(
    env_id: str,
    env_seeds: Sequence[int],
    episodes: int,
    choose: Choose,
    on_episode_end: OnEpisodeEnd,
    fast: bool = True,
) -> int:
    """Play `episodes` episodes in each of len(env_seeds) environments side by side.

    choose(obs_rows, active, step) gets the current observation of every active env (rows
    in the order of `active`, an index array) and the lockstep step number, and returns
    their actions. Env k is reset with seed env_seeds[k] once, then continues its own RNG.
    on_episode_end(k, episode) is called at each episode's end, for the envs ending at one
    step in increasing k, before the next call of choose. Returns the number of env steps.
    Box actions are float32, the env's action dtype (the compiled steps take no other).
    fast=False forces the generic path (the reference the fast one is tested against).
    """
    if fast and CartPoleBatch.supports(env_id):
        return _run_cartpole(env_id, env_seeds, episodes, choose, on_episode_end)
    batch_class = classic_batch(env_id) if fast else None
    if batch_class is not None:
        return _run_classic(batch_class, env_id, env_seeds, episodes, choose, on_episode_end)
    return _run_generic(env_id, env_seeds, episodes, choose, on_episode_end)


def _run_cartpole(
    env_id: str,
    env_seeds: Sequence[int],
    episodes: int,
    choose: Choose,
    on_episode_end: OnEpisodeEnd,
) -> int:
    batch = CartPoleBatch(env_id, env_seeds)
    n, limit = len(env_seeds), batch.max_steps
    # Each env's running episode, written in place: row k, step t.
    record = (np.empty((n, limit, 4), dtype=np.float32), np.empty((n, limit), dtype=np.int64))

    def step(actions) -> tuple[np.ndarray, np.ndarray]:
        _, terminated, truncated = batch.step(np.asarray(actions, dtype=np.int64), record)
        return terminated, truncated

    compiled = isinstance(choose, CompiledActor) and compiled_trig_matches_numpy()
    return _run_batch(batch, record, compiled, choose, step, episodes, on_episode_end)


def _run_classic(
    batch_class: type[ClassicBatch],
    env_id: str,
    env_seeds: Sequence[int],
    episodes: int,
    choose: Choose,
    on_episode_end: OnEpisodeEnd,
) -> int:
    batch = batch_class(env_id, env_seeds)
    n, limit, obs_dim = len(env_seeds), batch.max_steps, batch.obs.shape[1]
    if batch.continuous:
        actions_record = np.empty((n, limit, len(batch.low)), dtype=np.float32)
    else:
        actions_record = np.empty((n, limit), dtype=np.int64)
    # Each env's running episode, written in place: row k, step t.
    record = (np.empty((n, limit, obs_dim), dtype=np.float32), actions_record, np.empty((n, limit)))

    def step(actions) -> tuple[np.ndarray, np.ndarray]:
        actions = np.asarray(actions)
        if batch.continuous and actions.dtype != np.float32:
            # The generic path would step the env with them as they are, which the
            # compiled float32 step does not reproduce.
            raise TypeError(f"{env_id}: Box actions must be float32, got {actions.dtype}")
        _, _, terminated, truncated = batch.step(actions, record)
        return terminated, truncated

    compiled = isinstance(choose, CompiledActor)
    return _run_batch(batch, record, compiled, choose, step, episodes, on_episode_end)


def _run_batch(
    batch: CartPoleBatch | ClassicBatch,
    record: tuple[np.ndarray, ...],
    compiled: bool,
    choose: Choose,
    step_actions: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    episodes: int,
    on_episode_end: OnEpisodeEnd,
) -> int:
    """The lockstep loop of a compiled batch. A CompiledActor needs no call back into
    Python per step (compiled): the compiled loop plays until an episode ends (or a noise
    block is used up), a few hundred steps per call; any other choose is called once per
    step, and step_actions steps every row with its actions."""
    try:
        done_episodes = np.zeros(len(batch.index), dtype=np.int64)
        step = env_steps = 0
        while len(batch.index):
            active = batch.index
            if compiled:
                taken, terminated, truncated = batch.play(
                    *choose.arrays_at(step, active), step, record
                )
            else:
                terminated, truncated = step_actions(choose(batch.observation(), active, step))
                taken = 1
            step += taken
            env_steps += taken * len(active)
            if batch.any_ended:
                _end_episodes(
                    batch, record, terminated, truncated, episodes, done_episodes, on_episode_end
                )
        return env_steps
    finally:
        batch.close()


def _end_episodes(
    batch: CartPoleBatch | ClassicBatch,
    record: tuple[np.ndarray, ...],
    terminated: np.ndarray,
    truncated: np.ndarray,
    episodes: int,
    done_episodes: np.ndarray,
    on_episode_end: OnEpisodeEnd,
) -> None:
    """Hand every row's ended episode to on_episode_end, in increasing env index, from the
    batch's record (obs, actions[, rewards]: CartPole's reward is 1 at every step, so its
    record keeps none), then reset the row or drop the env that has played all its
    episodes."""
    active = batch.index
    keep = np.ones(len(active), dtype=bool)
    for row in np.flatnonzero(terminated | truncated).tolist():
        k, length = int(active[row]), int(batch.elapsed[row])
        rewards = record[2][k, :length].copy() if len(record) > 2 else np.ones(length)
        on_episode_end(
            k,
            Episode(
                obs=record[0][k, :length].copy(),
                actions=record[1][k, :length].copy(),
                rewards=rewards,
                terminated=bool(terminated[row]),
                final_obs=batch.observation(row),
            ),
        )
        done_episodes[k] += 1
        if done_episodes[k] == episodes:
            keep[row] = False
        else:
            batch.reset_row(row)
    if not keep.all():
        batch.drop(keep)


def _run_generic(
    env_id: str,
    env_seeds: Sequence[int],
    episodes: int,
    choose: Choose,
    on_episode_end: OnEpisodeEnd,
) -> int:
    envs = [make_env(env_id) for _ in env_seeds]
    space = envs[0].action_space
    # Box actions (the Gaussian head): the env steps with the action clipped to its
    # bounds, and the episode keeps the unclipped sample, whose log-probability the
    # update takes. Discrete actions go to the env as they are.
    continuous = isinstance(space, gym.spaces.Box)
    try:
        current = [env.reset(seed=int(s))[0] for env, s in zip(envs, env_seeds)]
        obs = np.stack(current).astype(np.float32)
        buffers = [([], [], []) for _ in envs]
        done_episodes = [0] * len(envs)
        active = list(range(len(envs)))
        step = env_steps = 0
        while active:
            actions = choose(obs[active], np.asarray(active), step)
            step += 1
            env_steps += len(active)
            still_active = []
            for k, action in zip(active, actions):
                played = np.clip(action, space.low, space.high) if continuous else action
                next_obs, reward, terminated, truncated, _ = envs[k].step(played)
                states, acts, rewards = buffers[k]
                states.append(current[k])
                acts.append(action)
                rewards.append(reward)
                if terminated or truncated:
                    buffers[k] = ([], [], [])
                    done_episodes[k] += 1
                    on_episode_end(
                        k,
                        Episode(
                            obs=np.stack(states).astype(np.float32),
                            actions=(
                                np.stack(acts).astype(np.float32)
                                if continuous
                                else np.asarray(acts, dtype=np.int64)
                            ),
                            rewards=np.asarray(rewards, dtype=np.float64),
                            terminated=bool(terminated),
                            final_obs=np.asarray(next_obs, dtype=np.float32),
                        ),
                    )
                    if done_episodes[k] == episodes:
                        continue
                    next_obs, _ = envs[k].reset()
                current[k] = next_obs
                obs[k] = next_obs
                still_active.append(k)
            active = still_active
        return env_steps
    finally:
        for env in envs:
            env.close()
