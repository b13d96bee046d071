"""The compiled classic-control batches (envs.AcrobotBatch, MountainCarBatch, PendulumBatch,
MountainCarContinuousBatch) against gymnasium.make, float for float: observations,
rewards, terminated/truncated and reset observations, over many seeds and action
sequences (random ones, and controllers that reach the goals), the time limit included."""

import gymnasium as gym
import numpy as np
import pytest

from reinforce.sim import _kernels
from reinforce.sim.envs import (
    AcrobotBatch,
    CartPoleBatch,
    MountainCarBatch,
    MountainCarContinuousBatch,
    PendulumBatch,
    classic_batch,
)

SEEDS = [0, 1, 2, 7, 123, 4096, 99991, 2**31 + 5, 2**62 + 1, 1_000_000]


def acrobot_actions(obs, rng, noise):
    # Pumping energy: torque with the second link's velocity, so that episodes terminate.
    pumped = np.where(obs[:, 5] > 0, 2, 0)
    return np.where(rng.random(len(obs)) < noise, rng.integers(0, 3, len(obs)), pumped)


def mountain_car_actions(obs, rng, noise):
    pumped = np.where(obs[:, 1] > 0, 2, 0)  # push with the velocity: reaches the goal
    return np.where(rng.random(len(obs)) < noise, rng.integers(0, 3, len(obs)), pumped)


def pendulum_actions(obs, rng, noise):
    # Beyond the bounds (clipped at the step) as often as within them.
    wild = rng.uniform(-4.0, 4.0, (len(obs), 1))
    swing = 2.0 * np.sign(obs[:, 2:3]) + rng.normal(0, 0.3, (len(obs), 1))
    return np.where(rng.random((len(obs), 1)) < noise, wild, swing).astype(np.float32)


def mountain_car_continuous_actions(obs, rng, noise):
    pumped = 1.5 * np.sign(obs[:, 1:2]) + rng.normal(0, 0.2, (len(obs), 1))
    pumped[obs[:, 1] == 0] = -1.0
    wild = rng.normal(0, 1.5, (len(obs), 1))
    return np.where(rng.random((len(obs), 1)) < noise, wild, pumped).astype(np.float32)


CASES = {
    "Acrobot-v1": (AcrobotBatch, acrobot_actions),
    "MountainCar-v0": (MountainCarBatch, mountain_car_actions),
    "Pendulum-v1": (PendulumBatch, pendulum_actions),
    "MountainCarContinuous-v0": (MountainCarContinuousBatch, mountain_car_continuous_actions),
}


def play_both(env_id, seeds, episodes, noise, action_seed):
    """Step the batch and one gymnasium env per seed with the same actions (the gymnasium
    env with them clipped to its bounds, as the rollout does); assert every step and reset
    agrees exactly. Returns (episode lengths, terminations, truncations)."""
    batch_class, policy = CASES[env_id]
    batch = batch_class(env_id, seeds)
    reference = [gym.make(env_id) for _ in seeds]
    space = reference[0].action_space
    first = [env.reset(seed=seed)[0] for env, seed in zip(reference, seeds)]
    obs = batch.observation()
    assert obs.dtype == np.float32 and obs.tobytes() == np.stack(first).tobytes()
    rng = np.random.default_rng(action_seed)
    done = np.zeros(len(seeds), dtype=int)
    lengths, terminations, truncations = [], 0, 0
    while len(batch.index):
        actions = policy(obs, rng, noise)
        obs, rewards, terminated, truncated = batch.step(actions)
        assert obs.dtype == np.float32 and rewards.dtype == np.float64
        keep = np.ones(len(batch.index), dtype=bool)
        for row, k in enumerate(batch.index.tolist()):
            action = actions[row]
            played = np.clip(action, space.low, space.high) if batch.continuous else action
            ref_obs, reward, ref_term, ref_trunc, _ = reference[k].step(played)
            where = (env_id, k, int(batch.elapsed[row]))
            assert obs[row].tobytes() == ref_obs.tobytes(), where
            assert rewards[row] == reward and type(reward)(rewards[row]) == reward, where
            assert (bool(terminated[row]), bool(truncated[row])) == (ref_term, ref_trunc), where
            if ref_term or ref_trunc:
                lengths.append(int(batch.elapsed[row]))
                terminations += bool(ref_term)
                truncations += bool(ref_trunc and not ref_term)
                done[k] += 1
                if done[k] == episodes:
                    keep[row] = False
                else:
                    ours = batch.reset_row(row)
                    assert ours.tobytes() == reference[k].reset()[0].tobytes(), where
                    obs[row] = ours
        batch.drop(keep)
        obs = obs[keep]
    batch.close()
    return lengths, terminations, truncations


@pytest.mark.parametrize("env_id", list(CASES))
@pytest.mark.parametrize("noise", [1.0, 0.2])
def test_batch_equals_gymnasium(env_id, noise):
    lengths, terminations, truncations = play_both(
        env_id, SEEDS, episodes=3, noise=noise, action_seed=int(noise * 100)
    )
    limit = gym.spec(env_id).max_episode_steps
    assert len(lengths) == 3 * len(SEEDS) and max(lengths) <= limit
    if env_id != "Pendulum-v1" and noise < 1:  # the controllers reach the goal
        assert terminations > 0
    if env_id == "Pendulum-v1" or noise == 1.0:
        assert truncations > 0 and max(lengths) == limit


@pytest.mark.parametrize("env_id", list(CASES))
def test_batch_many_seeds(env_id):
    lengths, _, _ = play_both(env_id, list(range(100, 180)), episodes=2, noise=0.5, action_seed=9)
    assert len(lengths) == 160


def test_the_step_records_observations_actions_and_rewards():
    seeds = [4, 5, 6]
    batch = PendulumBatch("Pendulum-v1", seeds)
    record = (
        np.zeros((3, 200, 3), np.float32),
        np.zeros((3, 200, 1), np.float32),
        np.zeros((3, 200)),
    )
    obs = batch.observation()
    actions = np.array([[3.0], [-1.0], [0.5]], dtype=np.float32)
    new_obs, rewards, _, _ = batch.step(actions, record)
    assert record[0][:, 0].tobytes() == obs.tobytes()
    assert record[1][:, 0].tobytes() == actions.tobytes()  # unclipped
    assert record[2][:, 0].tobytes() == rewards.tobytes()
    assert not np.array_equal(new_obs, obs)


def test_compiled_paths_only_for_the_registered_envs():
    for env_id, (batch_class, _) in CASES.items():
        assert batch_class.supports(env_id) and classic_batch(env_id) is batch_class
        assert not CartPoleBatch.supports(env_id)
    assert classic_batch("CartPole-v1") is None
    assert classic_batch("NoSuchEnv-v0") is None
    assert not AcrobotBatch.supports("MountainCar-v0")
    assert _kernels.compiled_wide_trig_matches_numpy()


def test_other_settings_take_the_generic_path(monkeypatch):
    gym.register(
        "PendulumMoon-v0",
        "gymnasium.envs.classic_control.pendulum:PendulumEnv",
        max_episode_steps=50,
        kwargs={"g": 1.6},
    )
    try:
        assert PendulumBatch.supports("Pendulum-v1") and not PendulumBatch.supports(
            "PendulumMoon-v0"
        )
    finally:
        del gym.registry["PendulumMoon-v0"]
    from gymnasium.envs.classic_control.acrobot import AcrobotEnv

    monkeypatch.setattr(AcrobotEnv, "book_or_nips", "nips")
    assert not AcrobotBatch.supports("Acrobot-v1")
