"""Environment creation, checking and seeding, and compiled fast paths for CartPole and the
other classic-control envs (Acrobot, MountainCar, Pendulum, MountainCarContinuous)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

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
            # the constructor's arguments: the registered ones (made without any here)
            and not env.spec.kwargs.get("sutton_barto_reward", False)
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


class ClassicBatch:
    """Many seeds' `gymnasium.make(env_id)` of one of the other classic-control envs,
    stepped at once in compiled code, float for float (reinforce/sim/_kernels.py: each
    env's step operation by operation, row by row). As CartPoleBatch: resets go through each
    seed's own env (so they draw from its np_random, and the reset observation is the
    env's own), rows are the still-running envs (row r is env self.index[r]), and the
    TimeLimit of the env's spec truncates. The current float32 observations are self.obs
    (rows, obs_dim). tests/test_classic_envs.py holds every subclass against gymnasium.make.

    Box actions (Pendulum, MountainCarContinuous) are (rows, action_dim) float32: the env
    steps with them clipped to the action space's bounds (np.clip, as the generic path),
    and a record keeps them as given.
    """

    env_class: type
    continuous = False
    uses_numpy_trig = True  # cos/sin from NumPy: only where the compiled ones match it

    def __init__(self, env_id: str, seeds: Sequence[int]):
        wrapped = [gym.make(env_id) for _ in seeds]
        self.max_steps = int(wrapped[0].spec.max_episode_steps)
        self.envs = [env.unwrapped for env in wrapped]
        space = self.envs[0].action_space
        if self.continuous:
            self.low, self.high = space.low.copy(), space.high.copy()
        self.physics = self.physics_of(self.envs[0])
        obs_dim = self.envs[0].observation_space.shape[0]
        self._no_record = _kernels.StepRecord(
            np.empty((0, 1, obs_dim), dtype=np.float32),
            np.empty((0, 1, 1), dtype=np.float32)
            if self.continuous
            else np.empty((0, 1), np.int64),
            np.empty((0, 1)),
        )
        self.any_ended = False
        self.index = np.arange(len(seeds))
        self.elapsed = np.zeros(len(seeds), dtype=np.int64)
        self.state = np.empty((self.state_dim, len(seeds)))
        self.obs = np.empty((len(seeds), obs_dim), dtype=np.float32)
        for k, seed in enumerate(seeds):
            self.obs[k] = self._reset(k, int(seed))
            self.state[:, k] = self.envs[k].state

    state_dim = 2

    @staticmethod
    def physics_of(env):  # pragma: no cover  (each subclass has its own)
        raise NotImplementedError

    @classmethod
    def supports(cls, env_id: str) -> bool:
        """True for the registered id of this env class with its registered settings (no
        kwargs), a TimeLimit from the spec, no rendering, and the settings the kernel
        reproduces (compiled_wide_trig_matches_numpy, where the env takes NumPy's cos)."""
        try:
            env = gym.make(env_id)
        except Exception:  # noqa: BLE001  (check_env_id reports it)
            return False
        core = env.unwrapped
        ok = (
            type(core) is cls.env_class
            and env.spec.max_episode_steps is not None
            and not env.spec.kwargs
            and core.render_mode is None
            and cls._settings_are_default(core)
            and (not cls.uses_numpy_trig or _kernels.compiled_wide_trig_matches_numpy())
        )
        env.close()
        return ok

    @staticmethod
    def _settings_are_default(core) -> bool:
        return True

    def _reset(self, k: int, seed: int | None = None) -> np.ndarray:
        obs, _ = self.envs[k].reset(seed=seed)
        return obs

    def observation(self, row: int | None = None) -> np.ndarray:
        """The float32 observations of every row (rows, obs_dim), or of one row."""
        return self.obs.copy() if row is None else self.obs[row].copy()

    def _rows(self) -> _kernels.Rows:
        return _kernels.Rows(self.state, self.elapsed, self.index, self.max_steps)

    def _outputs(self):
        rows = len(self.index)
        return np.empty(rows), np.empty(rows, dtype=bool), np.empty(rows, dtype=bool)

    def step(
        self, actions: np.ndarray, record: tuple[np.ndarray, ...] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One step of every row: (observations float32, rewards float64, terminated,
        truncated). record=(episode_obs, episode_actions, episode_rewards): also write
        each row's observation, action and reward at [env, step of its episode].
        self.any_ended tells whether a row's episode ended at this step."""
        if self.continuous:
            actions = np.ascontiguousarray(actions, dtype=np.float32).reshape(len(self.index), -1)
            bounds = (self.low, self.high)
        else:
            actions = np.ascontiguousarray(actions, dtype=np.int64)
            bounds = ()
        rewards, terminated, truncated = self._outputs()
        ended = self.step_kernel(
            self._rows(),
            actions,
            *bounds,
            self.physics,
            self.obs,
            _kernels.StepRecord(*record) if record else self._no_record,
            rewards,
            terminated,
            truncated,
        )
        self.any_ended = ended > 0
        return self.obs.copy(), rewards, terminated, truncated

    def play(
        self,
        weights: tuple[np.ndarray, ...],
        noise: np.ndarray | None,
        step: int,
        record: tuple[np.ndarray, ...],
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """Play lockstep steps with each env's action from its own stacked policy
        (categorical: w1, b1, w2, b2; Gaussian: those and std), sampled with
        noise[env, step % block] (None: greedy), recording as step does, until an episode
        ends or the next step needs a new noise block. Returns (steps taken, terminated,
        truncated of the last step)."""
        _, terminated, truncated = self._outputs()
        rewards = np.empty(len(self.index))
        sample = noise is not None
        if noise is None:
            noise = np.zeros((len(self.envs), 1, weights[2].shape[2]))
        bounds = (self.low, self.high) if self.continuous else ()
        taken = self.play_kernel(
            self._rows(),
            *bounds,
            self.physics,
            self.obs,
            tuple(weights),
            noise,
            step,
            sample,
            _kernels.StepRecord(*record),
            rewards,
            terminated,
            truncated,
        )
        self.any_ended = bool(terminated.any() or truncated.any())
        return taken, terminated, truncated

    def reset_row(self, row: int) -> np.ndarray:
        """Start the next episode of the env in `row` (from its own RNG); its observation."""
        k = int(self.index[row])
        self.obs[row] = self._reset(k)
        self.state[:, row] = self.envs[k].state
        self.elapsed[row] = 0
        return self.obs[row].copy()

    def drop(self, keep: np.ndarray) -> None:
        """Keep only the rows where `keep` is True."""
        self.index, self.elapsed = self.index[keep], self.elapsed[keep]
        self.state, self.obs = self.state[:, keep], self.obs[keep]

    def close(self) -> None:
        for env in self.envs:
            env.close()


class AcrobotBatch(ClassicBatch):
    env_class = AcrobotEnv
    state_dim = 4
    step_kernel = staticmethod(_kernels.acrobot_step)
    play_kernel = staticmethod(_kernels.acrobot_play)

    @staticmethod
    def _settings_are_default(core) -> bool:
        return core.book_or_nips == "book" and core.torque_noise_max == 0.0

    @staticmethod
    def physics_of(env) -> _kernels.AcrobotPhysics:
        # _dsdt's constant subexpressions, computed as Python computes them there (g is
        # _dsdt's own 9.8; rk4's dt is t[1] - t[0] of t = [0, env.dt]).
        m1, m2 = env.LINK_MASS_1, env.LINK_MASS_2
        l1, lc1, lc2 = env.LINK_LENGTH_1, env.LINK_COM_POS_1, env.LINK_COM_POS_2
        i1 = i2 = env.LINK_MOI
        g, pi = 9.8, math.pi
        dt = env.dt - 0
        torques = [float(t) for t in env.AVAIL_TORQUE]
        return _kernels.AcrobotPhysics(
            dt=dt,
            half_dt=dt / 2.0,
            sixth_dt=dt / 6.0,
            m2=m2,
            d1_first=m1 * lc1**2,
            d1_links=l1**2 + lc2**2,
            d1_coef=2 * l1 * lc2,
            i1=i1,
            i2=i2,
            lc2_sq=lc2**2,
            l1_lc2=l1 * lc2,
            phi2_coef=m2 * lc2 * g,
            half_pi=pi / 2.0,
            phi1_a=-m2 * l1 * lc2,
            phi1_b=2 * m2 * l1 * lc2,
            phi1_c=(m1 * lc1 + m2 * l1) * g,
            dd2_coef=m2 * l1 * lc2,
            dd2_denominator=m2 * lc2**2 + i2,
            pi=pi,
            wrap_diff=pi - (-pi),
            max_vel_1=float(env.MAX_VEL_1),
            max_vel_2=float(env.MAX_VEL_2),
            torque_0=torques[0],
            torque_1=torques[1],
            torque_2=torques[2],
            two=2.0,
        )


class MountainCarBatch(ClassicBatch):
    env_class = MountainCarEnv
    uses_numpy_trig = False  # math.cos, the C library's, as compiled
    step_kernel = staticmethod(_kernels.mountain_car_step)
    play_kernel = staticmethod(_kernels.mountain_car_play)

    @staticmethod
    def physics_of(env) -> _kernels.MountainCarPhysics:
        return _kernels.MountainCarPhysics(
            *(float(getattr(env, name)) for name in _kernels.MountainCarPhysics._fields)
        )


class PendulumBatch(ClassicBatch):
    env_class = PendulumEnv
    continuous = True
    step_kernel = staticmethod(_kernels.pendulum_step)
    play_kernel = staticmethod(_kernels.pendulum_play)

    @staticmethod
    def _settings_are_default(core) -> bool:
        # The env clips again with its max_torque: a no-op where that is the space's bound.
        return float(core.max_torque) == float(core.action_space.high[0])

    @staticmethod
    def physics_of(env) -> _kernels.PendulumPhysics:
        g, m, l = env.g, env.m, env.l  # noqa: E741  (PendulumEnv's names)
        return _kernels.PendulumPhysics(
            max_speed=float(env.max_speed),
            dt=env.dt,
            sin_coef=3 * g / (2 * l),
            torque_coef=3.0 / (m * l**2),
            pi=np.pi,
            two_pi=2 * np.pi,
            two=2.0,
        )


class MountainCarContinuousBatch(ClassicBatch):
    env_class = Continuous_MountainCarEnv
    continuous = True
    uses_numpy_trig = False  # math.cos
    step_kernel = staticmethod(_kernels.mountain_car_continuous_step)
    play_kernel = staticmethod(_kernels.mountain_car_continuous_play)

    @staticmethod
    def _settings_are_default(core) -> bool:
        # step's min(max(action, min_action), max_action): a no-op on the clipped action.
        space = core.action_space
        return (core.min_action, core.max_action) == (space.low[0], space.high[0])

    @staticmethod
    def physics_of(env) -> _kernels.MountainCarContinuousPhysics:
        # 0.0025, 100.0 and 0.1 are written in Continuous_MountainCarEnv.step itself.
        return _kernels.MountainCarContinuousPhysics(
            power=env.power,
            cos_coef=0.0025,
            max_speed=env.max_speed,
            min_position=env.min_position,
            max_position=env.max_position,
            goal_position=env.goal_position,
            goal_velocity=float(env.goal_velocity),
            goal_reward=100.0,
            action_cost=0.1,
            two=2.0,
        )


CLASSIC_BATCHES = (AcrobotBatch, MountainCarBatch, PendulumBatch, MountainCarContinuousBatch)


def classic_batch(env_id: str) -> type[ClassicBatch] | None:
    """The compiled batch that reproduces env_id exactly, or None (the generic path)."""
    return next((batch for batch in CLASSIC_BATCHES if batch.supports(env_id)), None)
