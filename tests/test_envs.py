"""The NumPy CartPole (envs.CartPoleBatch) against gymnasium.make("CartPole-v1"), float
for float: observations, rewards, terminated/truncated and reset observations, over many
seeds and action sequences, truncation at the time limit included."""

import gymnasium as gym
import numpy as np
import pytest

from reinforce.sim.envs import CartPoleBatch


def controller_actions(obs: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A balancing rule (so that episodes reach the time limit) mixed with random actions."""
    balanced = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
    random = rng.integers(0, 2, size=len(obs))
    return np.where(rng.random(len(obs)) < noise, random, balanced)


def play_both(env_id: str, seeds: list[int], episodes: int, noise: float, action_seed: int):
    """Step the batch and one gymnasium env per seed with the same actions; assert every
    step and reset agrees. Returns (episode lengths, how many ended by truncation)."""
    batch = CartPoleBatch(env_id, seeds)
    reference = [gym.make(env_id) for _ in seeds]
    first = [env.reset(seed=seed)[0] for env, seed in zip(reference, seeds)]
    obs = batch.observation()
    np.testing.assert_array_equal(obs, np.stack(first))
    assert obs.dtype == np.float32
    rng = np.random.default_rng(action_seed)
    done = np.zeros(len(seeds), dtype=int)
    lengths, truncations = [], 0
    while len(batch.index):
        actions = controller_actions(obs, rng, noise)
        obs, terminated, truncated = batch.step(actions)
        keep = np.ones(len(batch.index), dtype=bool)
        for row, k in enumerate(batch.index.tolist()):
            ref_obs, reward, ref_term, ref_trunc, _ = reference[k].step(int(actions[row]))
            assert obs[row].tobytes() == ref_obs.tobytes(), (k, batch.elapsed[row])
            assert reward == 1.0
            assert (bool(terminated[row]), bool(truncated[row])) == (ref_term, ref_trunc)
            if ref_term or ref_trunc:
                lengths.append(int(batch.elapsed[row]))
                truncations += bool(ref_trunc)
                done[k] += 1
                if done[k] == episodes:
                    keep[row] = False
                else:
                    ours = batch.reset_row(row)
                    assert ours.tobytes() == reference[k].reset()[0].tobytes()
                    obs[row] = ours
        batch.drop(keep)
        obs = obs[keep]
    return lengths, truncations


@pytest.mark.parametrize("noise", [1.0, 0.3, 0.02])
def test_cartpole_batch_equals_gymnasium(noise):
    seeds = [0, 1, 2, 7, 123, 4096, 99991, 2**31 + 5, 2**62 + 1, 1_000_000]
    lengths, truncations = play_both(
        "CartPole-v1", seeds, episodes=6, noise=noise, action_seed=int(noise * 1000)
    )
    assert len(lengths) == 6 * len(seeds)
    if noise == 0.02:  # the balancing rule keeps most episodes up to the 500-step limit
        assert truncations > 0 and max(lengths) == 500


def test_cartpole_batch_many_seeds_random_actions():
    lengths, _ = play_both("CartPole-v1", list(range(200)), episodes=3, noise=1.0, action_seed=5)
    assert len(lengths) == 600


def test_cartpole_v0_time_limit_is_read_from_the_spec():
    lengths, truncations = play_both("CartPole-v0", [3, 4], episodes=2, noise=0.0, action_seed=0)
    assert max(lengths) <= 200 and truncations > 0


def test_fast_path_only_for_plain_cartpole():
    assert CartPoleBatch.supports("CartPole-v1") and CartPoleBatch.supports("CartPole-v0")
    assert not CartPoleBatch.supports("Acrobot-v1")
    assert not CartPoleBatch.supports("NoSuchEnv-v0")
