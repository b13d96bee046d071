"""The lockstep runner: its CartPole fast path gives exactly the generic path's episodes
(which plays gymnasium.make envs one by one), and training gives the same bytes on both."""

import numpy as np
import pytest

from reinforce.config import TrainConfig
from reinforce.envs import CartPoleBatch
from reinforce.rollout import run_lockstep
from reinforce.train import train_variant


def record(env_id: str, seeds: list[int], episodes: int, fast: bool, noise: float):
    """Play with a rule that depends on the observation and the step, and on each env's own
    noise stream; returns the steps and every (k, episode) in the order they ended."""
    rngs = [np.random.default_rng(seed) for seed in seeds]
    ended = []

    def choose(obs, active, step):
        balanced = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
        flips = np.array([rngs[k].random() < noise for k in active.tolist()])
        return np.where(flips, 1 - balanced, balanced)

    steps = run_lockstep(env_id, seeds, episodes, choose,
                         lambda k, episode: ended.append((k, episode)), fast=fast)
    return steps, ended


@pytest.mark.parametrize("noise", [0.5, 0.03])
def test_cartpole_fast_path_gives_the_generic_paths_episodes(noise):
    seeds = [0, 5, 17, 123456, 2**40]
    fast_steps, fast = record("CartPole-v1", seeds, 5, True, noise)
    slow_steps, slow = record("CartPole-v1", seeds, 5, False, noise)
    assert fast_steps == slow_steps == sum(len(e.actions) for _, e in fast)
    assert [k for k, _ in fast] == [k for k, _ in slow]
    for (_, a), (_, b) in zip(fast, slow):
        for name in ("obs", "actions", "rewards", "final_obs"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        assert a.terminated == b.terminated
    assert a.obs.dtype == np.float32 and a.final_obs.dtype == np.float32
    if noise < 0.1:
        assert any(not e.terminated and len(e.actions) == 500 for _, e in fast)
    assert any(e.terminated for _, e in fast)


def test_episode_end_fields_on_the_generic_path():
    _, ended = record("Acrobot-v1", [0], 1, True, 0.5)
    (_, episode), = ended
    assert episode.final_obs.shape == (6,) and episode.final_obs.dtype == np.float32
    assert isinstance(episode.terminated, bool)


@pytest.mark.parametrize("variant", [TrainConfig(episodes=6, hidden_dim=16),
                                     TrainConfig(episodes=6, hidden_dim=16, baseline="value",
                                                 episodes_per_update=2)])
def test_training_is_the_same_bytes_on_the_fast_and_the_generic_path(variant, monkeypatch):
    fast = train_variant(variant, "CartPole-v1", [0, 1, 2])
    monkeypatch.setattr(CartPoleBatch, "supports", staticmethod(lambda env_id: False))
    slow = train_variant(variant, "CartPole-v1", [0, 1, 2])
    assert fast.curves.to_csv() == slow.curves.to_csv()
    assert fast.checkpoints == slow.checkpoints
    assert fast.env_steps == slow.env_steps

