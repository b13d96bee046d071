"""Environment creation, checking and seeding, and a NumPy fast path for CartPole."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from reinforce.errors import ConfigError


def check_env_id(env_id: str) -> tuple[int, int]:
    """Return (observation size, number of actions), or raise ConfigError naming env.id."""
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"env.id: {env_id!r} is not a registered Gymnasium environment.{hint}")
    try:
        env = gym.make(env_id)
    except Exception as err:  # an installed id whose dependencies are missing, e.g. Box2D
        raise ConfigError(f"env.id: {env_id!r} cannot be created here: {err}") from None
    obs, act = env.observation_space, env.action_space
    env.close()
    if not (isinstance(obs, spaces.Box) and len(obs.shape) == 1):
        raise ConfigError(f"env.id: {env_id!r} has observation space {obs}; allowed: a "
                          "one-dimensional Box (e.g. CartPole-v1, Acrobot-v1)")
    if not isinstance(act, spaces.Discrete):
        raise ConfigError(f"env.id: {env_id!r} has action space {act}; allowed: Discrete "
                          "(e.g. CartPole-v1, Acrobot-v1)")
    return int(obs.shape[0]), int(act.n)


def make_env(env_id: str) -> gym.Env:
    """The plain Gymnasium environment, with its registered time limit."""
    return gym.make(env_id)


class CartPoleBatch:
    """Many seeds' `gymnasium.make("CartPole-v1")` stepped at once, float for float.

    The physics is CartPoleEnv.step's, on a (rows, 4) float64 state instead of one row:
    the same float64 operations in the same order (elementwise, so a row's result does not
    depend on the others), the same float32 cast of the observation, the same termination
    test on the float64 state, and the TimeLimit truncation. Resets go through each seed's
    own CartPoleEnv (kept only for that), so they draw from that env's own np_random
    exactly as gymnasium does. tests/test_envs.py holds it against gymnasium.make.

    The state is stored component-major, (4, rows), so that each physical quantity is one
    contiguous array. Rows are the still-running envs: row r is env `self.index[r]`;
    `drop` removes the envs that have played all their episodes.
    """

    def __init__(self, env_id: str, seeds: Sequence[int]):
        wrapped = [gym.make(env_id) for _ in seeds]
        self.max_steps = int(wrapped[0].spec.max_episode_steps)
        self.envs: list[CartPoleEnv] = [env.unwrapped for env in wrapped]
        first = self.envs[0]
        # The constants as CartPoleEnv computes them (Python floats), read from the env.
        self.gravity, self.masspole = first.gravity, first.masspole
        self.total_mass, self.length = first.total_mass, first.length
        self.polemass_length, self.force_mag = first.polemass_length, first.force_mag
        self.tau = first.tau
        self.thresholds = np.array([[first.x_threshold], [first.theta_threshold_radians]])
        self.forces = np.array([-first.force_mag, first.force_mag])  # action 0 left, 1 right
        self.index = np.arange(len(seeds))
        self.state = np.stack([self._reset(k, int(seed)) for k, seed in enumerate(seeds)], axis=1)
        self.elapsed = np.zeros(len(seeds), dtype=np.int64)

    @staticmethod
    def supports(env_id: str) -> bool:
        """True for the registered CartPole ids this class reproduces exactly: the plain
        CartPoleEnv (Euler integration, reward 1 per step) under a TimeLimit."""
        try:
            env = gym.make(env_id)
        except Exception:  # noqa: BLE001  (check_env_id reports it)
            return False
        core = env.unwrapped
        ok = (type(core) is CartPoleEnv and env.spec.max_episode_steps is not None
              and core.kinematics_integrator == "euler" and not core._sutton_barto_reward
              and core.render_mode is None)
        env.close()
        return ok

    def _reset(self, k: int, seed: int | None = None) -> np.ndarray:
        self.envs[k].reset(seed=seed)
        return self.envs[k].state  # float64 (4,), a fresh array at every reset

    def observation(self) -> np.ndarray:
        return self.state.T.astype(np.float32, order="C")

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step of every row: (observations float32, terminated, truncated). The reward
        is 1.0 for every step, the terminating one included (CartPoleEnv's default)."""
        x, x_dot, theta, theta_dot = self.state
        force = self.forces[actions]
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        state = np.empty_like(self.state)
        np.add(x, self.tau * x_dot, out=state[0])
        np.add(x_dot, self.tau * xacc, out=state[1])
        np.add(theta, self.tau * theta_dot, out=state[2])
        np.add(theta_dot, self.tau * thetaacc, out=state[3])
        self.state = state
        # |v| > t is (v < -t or v > t), for every float64 v, NaN included (both False).
        beyond = np.abs(state[::2]) > self.thresholds
        terminated = beyond[0] | beyond[1]
        self.elapsed += 1
        return state.T.astype(np.float32, order="C"), terminated, self.elapsed >= self.max_steps

    def reset_row(self, row: int) -> np.ndarray:
        """Start the next episode of the env in `row` (from its own RNG); its observation."""
        self.state[:, row] = self._reset(int(self.index[row]))
        self.elapsed[row] = 0
        return self.state[:, row].astype(np.float32)

    def drop(self, keep: np.ndarray) -> None:
        """Keep only the rows where `keep` is True."""
        self.index, self.elapsed = self.index[keep], self.elapsed[keep]
        self.state = self.state[:, keep]

    def close(self) -> None:
        for env in self.envs:
            env.close()
