"""CartPoleEnv.step for many rows in one compiled loop (Numba), imported only by the
CartPole fast path (envs.CartPoleBatch), so that nothing else pays numba's import.

Written by hand because no library steps many seeded Gymnasium CartPoles float for float:
Gymnasium's own CartPoleVectorEnv shares one RNG over its resets. As NumPy, the loop
spent ~25 array calls of ~1 us each per lockstep step on a handful of rows; compiled, the
physics costs well under a microsecond per row.

Exactness: the float64 operations are CartPoleEnv.step's, in its order (Numba compiles
without fast-math, so no reassociation or fused multiply-add), and cos and sin come in
from NumPy (np.cos / np.sin, the functions CartPoleEnv calls), not from the compiler's
libm, whose last bit may differ from NumPy's SIMD versions. tests/test_envs.py holds the
batch against gymnasium.make.
"""

from __future__ import annotations

import numba
import numpy as np


def _compile(function):
    # The compiled code is cached beside this file (or in the user's cache folder); where
    # neither can be written (a read-only install with no writable HOME), numba refuses to
    # cache, and each process compiles it again (about a second) instead of failing.
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)


@_compile
def euler_step(state, actions, costheta, sintheta, constants, elapsed, max_steps,
               new_state, obs, terminated, truncated, index, episode_obs, episode_actions):
    """One Euler step of every row: state (4, rows) float64 -> new_state, the float32
    observation obs (rows, 4), termination, and the time limit (elapsed is advanced).
    Returns the number of rows whose episode ended.

    constants: force_mag, polemass_length, total_mass, gravity, length, masspole, tau,
    x_threshold, theta_threshold. With episode_obs (envs, steps, 4) and episode_actions
    (envs, steps), row r first records the observation it acts in and its action at
    [index[r], elapsed[r]] (an empty episode_obs records nothing).
    """
    force_mag, polemass_length, total_mass = constants[0], constants[1], constants[2]
    gravity, length, masspole, tau = constants[3], constants[4], constants[5], constants[6]
    x_threshold, theta_threshold = constants[7], constants[8]
    record = episode_obs.shape[0] > 0
    ended = 0
    for row in range(state.shape[1]):
        if record:
            k, t = index[row], elapsed[row]
            for i in range(4):
                # The observation is the float32 cast of the state (observation(),
                # reset_row), so the row records it from the state it steps from.
                episode_obs[k, t, i] = np.float32(state[i, row])
            episode_actions[k, t] = actions[row]
        x, x_dot, theta_dot = state[0, row], state[1, row], state[3, row]
        theta = state[2, row]
        force = force_mag if actions[row] == 1 else -force_mag
        cos, sin = costheta[row], sintheta[row]
        temp = (force + polemass_length * (theta_dot * theta_dot) * sin) / total_mass
        thetaacc = (gravity * sin - cos * temp) / (
            length * (4.0 / 3.0 - masspole * (cos * cos) / total_mass))
        xacc = temp - polemass_length * thetaacc * cos / total_mass
        x = x + tau * x_dot
        x_dot = x_dot + tau * xacc
        theta = theta + tau * theta_dot
        theta_dot = theta_dot + tau * thetaacc
        new_state[0, row], new_state[1, row] = x, x_dot
        new_state[2, row], new_state[3, row] = theta, theta_dot
        obs[row, 0], obs[row, 1] = np.float32(x), np.float32(x_dot)
        obs[row, 2], obs[row, 3] = np.float32(theta), np.float32(theta_dot)
        terminated[row] = (x < -x_threshold or x > x_threshold
                           or theta < -theta_threshold or theta > theta_threshold)
        elapsed[row] += 1
        truncated[row] = elapsed[row] >= max_steps
        if terminated[row] or truncated[row]:
            ended += 1
    return ended
