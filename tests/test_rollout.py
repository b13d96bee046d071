"""The lockstep runner: its fast paths (CartPole's and the other classic-control envs': per
step, and the compiled loop that also chooses the actions) give exactly the generic path's
episodes (which plays gymnasium.make envs one by one), and training and evaluation give the
same bytes on all paths."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from reinforce.agent.evaluate import evaluate_checkpoints
from reinforce.agent.policy import (
    GaussianActor,
    GaussianPolicy,
    GumbelStreams,
    NormalStreams,
    Policy,
    StackedActor,
    StackedPolicies,
)
from reinforce.agent.train import train_variant
from reinforce.io.config import EvaluateConfig, TrainConfig
from reinforce.sim import rollout
from reinforce.sim.envs import CartPoleBatch
from reinforce.sim.rollout import run_lockstep

PATHS = ["compiled", "per-step", "generic"]


def use_path(path: str, monkeypatch) -> None:
    """Force the lockstep runner onto one path (the default is the compiled loop)."""
    if path == "per-step":
        monkeypatch.setattr(rollout, "compiled_trig_matches_numpy", lambda: False)
    if path == "generic":
        monkeypatch.setattr(CartPoleBatch, "supports", staticmethod(lambda env_id: False))


def record(env_id: str, seeds: list[int], episodes: int, fast: bool, noise: float):
    """Play with a rule that depends on the observation and the step, and on each env's own
    noise stream; returns the steps and every (k, episode) in the order they ended."""
    rngs = [np.random.default_rng(seed) for seed in seeds]
    ended = []

    def choose(obs, active, step):
        balanced = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
        flips = np.array([rngs[k].random() < noise for k in active.tolist()])
        return np.where(flips, 1 - balanced, balanced)

    steps = run_lockstep(
        env_id, seeds, episodes, choose, lambda k, episode: ended.append((k, episode)), fast=fast
    )
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
    ((_, episode),) = ended
    assert episode.final_obs.shape == (6,) and episode.final_obs.dtype == np.float32
    assert isinstance(episode.terminated, bool)


@pytest.mark.parametrize(
    "variant",
    [
        TrainConfig(episodes=6, hidden_dim=16),
        TrainConfig(episodes=6, hidden_dim=16, baseline="value", episodes_per_update=2),
    ],
)
def test_training_is_the_same_bytes_on_every_path(variant, monkeypatch):
    results = []
    for path in PATHS:
        with monkeypatch.context() as patch:
            use_path(path, patch)
            results.append(train_variant(variant, "CartPole-v1", [0, 1, 2]))
    compiled, *others = results
    for other in others:
        assert compiled.curves.to_csv() == other.curves.to_csv()
        assert compiled.checkpoints == other.checkpoints
        assert compiled.env_steps == other.env_steps


@pytest.mark.parametrize("policy", ["greedy", "sample"])
def test_evaluation_is_the_same_bytes_on_every_path(policy, monkeypatch):
    trained = train_variant(TrainConfig(episodes=30, hidden_dim=16), "CartPole-v1", [0, 1, 2])
    cfg = EvaluateConfig(episodes=4, policy=policy)
    tables = []
    for path in PATHS:
        with monkeypatch.context() as patch:
            use_path(path, patch)
            tables.append(
                evaluate_checkpoints(trained.checkpoints, "CartPole-v1", [0, 1, 2], cfg).to_csv()
            )
    assert tables[0] == tables[1] == tables[2]


def test_the_compiled_loop_steps_as_gymnasium_does_over_many_seeds():
    """Random small policies, sampled with short noise blocks (so that the loop often stops
    for new noise), over 64 seeds: every recorded episode, replayed action by action on
    gymnasium.make with the same seed, gives the same observations and ending."""
    seeds = [3 * s + 11 for s in range(64)]
    policies = [Policy(4, 2, 8, torch.Generator().manual_seed(s)) for s in seeds]
    actor = StackedActor(
        StackedPolicies(policies),
        GumbelStreams([np.random.default_rng(s) for s in seeds], 2, block=7),
    )
    ended = []
    run_lockstep("CartPole-v1", seeds, 3, actor, lambda k, e: ended.append((k, e)))
    assert len(ended) == 3 * len(seeds)
    envs = {}
    for k, episode in ended:
        if k in envs:
            first, _ = envs[k].reset()
        else:
            envs[k] = gym.make("CartPole-v1")
            first, _ = envs[k].reset(seed=seeds[k])
        assert episode.obs[0].tobytes() == first.tobytes()
        for t, action in enumerate(episode.actions.tolist()):
            obs, _, terminated, truncated, _ = envs[k].step(action)
            last = t == len(episode.actions) - 1
            assert (terminated or truncated) == last
            expected = episode.final_obs if last else episode.obs[t + 1]
            assert obs.tobytes() == expected.tobytes()
        assert episode.terminated == terminated


# ------------------------------------------------------ the other classic-control envs

CLASSIC = ["Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"]


def rule(env_id: str, rngs, noise: float):
    """A choose that depends on the observation, the step and each env's own noise."""
    continuous = gym.spec(env_id).id in ("Pendulum-v1", "MountainCarContinuous-v0")

    def choose(obs, active, step):
        draws = np.array([rngs[k].random() for k in active.tolist()])
        if continuous:  # beyond the bounds now and then: clipped at the step only
            return (np.sign(obs[:, -1:]) * 1.5 + (draws[:, None] - 0.5) * 4 * noise).astype(
                np.float32
            )
        pumped = np.where(obs[:, -1] > 0, 2, 0)
        return np.where(draws < noise, (step + active) % 3, pumped)

    return choose


class Ended(list):
    def append_pair(self, k, episode):
        self.append((k, episode))


def assert_same_episodes(fast, slow):
    assert [k for k, _ in fast] == [k for k, _ in slow]
    for (_, a), (_, b) in zip(fast, slow):
        for name in ("obs", "actions", "rewards", "final_obs"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        assert a.terminated == b.terminated


@pytest.mark.parametrize("env_id", CLASSIC)
def test_classic_fast_step_gives_the_generic_paths_episodes(env_id):
    seeds = [0, 5, 17, 123456]
    runs = []
    for fast in (True, False):
        rngs = [np.random.default_rng(s) for s in seeds]
        ended = Ended()
        steps = run_lockstep(env_id, seeds, 3, rule(env_id, rngs, 0.3), ended.append_pair, fast)
        assert steps == sum(len(e.actions) for _, e in ended)
        runs.append(ended)
    assert_same_episodes(*runs)
    assert len(runs[0]) == 3 * len(seeds)


def compiled_actor(env_id: str, seeds: list[int], sample: bool, block: int = 7):
    """Random small policies of env_id's head, sampled with short noise blocks (so that
    the compiled loop often stops for new noise)."""
    env = gym.make(env_id)
    obs_dim = env.observation_space.shape[0]
    if isinstance(env.action_space, gym.spaces.Box):
        policies = [GaussianPolicy(obs_dim, 1, 8, torch.Generator().manual_seed(s)) for s in seeds]
        actor = GaussianActor(
            policies, [np.random.default_rng(s) for s in seeds] if sample else None
        )
        if sample:
            actor.noise = NormalStreams([np.random.default_rng(s) for s in seeds], 1, block=block)
        return actor
    n = int(env.action_space.n)
    policies = [Policy(obs_dim, n, 8, torch.Generator().manual_seed(s)) for s in seeds]
    noise = GumbelStreams([np.random.default_rng(s) for s in seeds], n, block=block)
    return StackedActor(StackedPolicies(policies), noise if sample else None)


@pytest.mark.parametrize("sample", [True, False], ids=["sample", "greedy"])
@pytest.mark.parametrize("env_id", CLASSIC)
def test_classic_compiled_loop_gives_the_generic_paths_episodes(env_id, sample):
    seeds = [3 * s + 11 for s in range(6)]
    runs = []
    for fast in (True, False):
        ended = Ended()
        actor = compiled_actor(env_id, seeds, sample)
        run_lockstep(env_id, seeds, 2, actor, ended.append_pair, fast)
        runs.append(ended)
    assert_same_episodes(*runs)


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "Pendulum-v1"])
def test_classic_training_is_the_same_bytes_on_both_paths(env_id, monkeypatch):
    variant = TrainConfig(episodes=3, hidden_dim=16, baseline="value", episodes_per_update=2)
    fast = train_variant(variant, env_id, [0, 1])
    monkeypatch.setattr(rollout, "classic_batch", lambda env_id: None)
    slow = train_variant(variant, env_id, [0, 1])
    assert fast.curves.to_csv() == slow.curves.to_csv()
    assert fast.checkpoints == slow.checkpoints and fast.env_steps == slow.env_steps
