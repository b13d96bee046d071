"""Environment creation, checking and seeding, and a NumPy fast path for CartPole."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from reinforce.io.env_ids import (  # noqa: F401  (its users import them from here too)
    check_env_id,
    is_continuous,
)
from reinforce.sim import _kernels


def make_env(env_id: str) -> gym.Env:
    """The plain Gymnasium environment, with its registered time limit."""
    return gym.make(env_id)


class CartPoleBatch:
    """Many seeds' `gymnasium.make("CartPole-v1")` stepped at once, float for float.

    The physics is CartPoleEnv.step's, on a (4, rows) float64 state instead of one row, in
    one compiled loop over the rows (reinforce/sim/_kernels.py): the same float64
    operations in the same order (row by row, so a row's result does not depend on the
    others), the same float32 cast of the observation, the same termination
    test on the float64 state, and the TimeLimit truncation. Resets go through each seed's
    own CartPoleEnv (kept only for that), so they draw from that env's own np_random
    exactly as gymnasium does. tests/test_envs.py holds it against gymnasium.make.

    Rows are the still-running envs: row r is env `self.index[r]`;
    `drop` removes the envs that have played all their episodes.
    """

    def __init__(self, env_id: str, seeds: Sequence[int]):
        wrapped = [gym.make(env_id) for _ in seeds]
        self.max_steps = int(wrapped[0].spec.max_episode_steps)
        self.envs: list[CartPoleEnv] = [env.unwrapped for env in wrapped]
        first = self.envs[0]
        # The constants as CartPoleEnv computes them (Python floats), read from the env.
        self.physics = _kernels.CartPolePhysics(
            *(float(getattr(first, name)) for name in _kernels.CartPolePhysics._fields)
        )
        self._no_record = _kernels.Record(
            np.empty((0, 1, 4), dtype=np.float32), np.empty((0, 1), dtype=np.int64)
        )
        self.any_ended = False
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
        ok = (
            type(core) is CartPoleEnv
            and env.spec.max_episode_steps is not None
            and core.kinematics_integrator == "euler"
            and not core._sutton_barto_reward
            and core.render_mode is None
        )
        env.close()
        return ok

    def _reset(self, k: int, seed: int | None = None) -> np.ndarray:
        self.envs[k].reset(seed=seed)
        return self.envs[k].state  # float64 (4,), a fresh array at every reset

    def observation(self, row: int | None = None) -> np.ndarray:
        """The float32 observations of every row (rows, 4), or of one row (4,)."""
        if row is not None:
            return self.state[:, row].astype(np.float32)
        return self.state.T.astype(np.float32, order="C")

    def step(
        self,
        actions: np.ndarray,
        record: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step of every row: (observations float32, terminated, truncated). The reward
        is 1.0 for every step, the terminating one included (CartPoleEnv's default).

        record=(episode_obs, episode_actions): first write each row's current observation
        and its action at [env, step of its episode]. self.any_ended tells whether a row's
        episode ended at this step."""
        rows = self.state.shape[1]
        theta = self.state[2]
        state = np.empty_like(self.state)
        obs = np.empty((rows, 4), dtype=np.float32)
        terminated = np.empty(rows, dtype=bool)
        truncated = np.empty(rows, dtype=bool)
        self.any_ended = (
            _kernels.euler_step(
                self._rows(),
                actions,
                np.cos(theta),
                np.sin(theta),
                self.physics,
                state,
                obs,
                _kernels.Record(*record) if record else self._no_record,
                terminated,
                truncated,
            )
            > 0
        )
        self.state = state
        return obs, terminated, truncated

    def play(
        self,
        weights: tuple[np.ndarray, ...],
        noise: np.ndarray | None,
        step: int,
        record: tuple[np.ndarray, np.ndarray],
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """Play lockstep steps with each env's action from its own stacked policy (weights:
        w1, b1, w2, b2 indexed by env, as policy.StackedPolicies holds them), sampled with
        noise[env, step % block] (noise (envs, block, actions), None for greedy), recording
        into record=(episode_obs, episode_actions) as step does, until an episode ends or
        the next step needs a new noise block. Returns (steps taken, terminated, truncated
        of the last step); self.any_ended tells whether a row's episode ended.
        Only where _kernels.compiled_trig_matches_numpy(): the compiled loop takes cos and
        sin from the C library, not from NumPy."""
        rows = self.state.shape[1]
        terminated = np.empty(rows, dtype=bool)
        truncated = np.empty(rows, dtype=bool)
        sample = noise is not None
        if noise is None:
            noise = np.zeros((len(self.envs), 1, weights[2].shape[2]))
        taken = _kernels.play_cartpole(
            self._rows(),
            self.physics,
            tuple(weights),
            noise,
            step,
            sample,
            _kernels.Record(*record),
            terminated,
            truncated,
        )
        self.any_ended = bool(terminated.any() or truncated.any())
        return taken, terminated, truncated

    def _rows(self) -> _kernels.Rows:
        return _kernels.Rows(self.state, self.elapsed, self.index, self.max_steps)

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
