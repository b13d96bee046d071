"""The compiled inner loops (Numba): the stacked policies' action choice, CartPoleEnv.step
for many rows, and both together for many lockstep steps per call.

Written by hand because no library steps many seeded Gymnasium CartPoles float for float
(Gymnasium's own CartPoleVectorEnv shares one RNG over its resets), and because at a
handful of rows per lockstep step, NumPy spends its time in ~40 array calls of ~1 us each
per step, not in arithmetic: compiled, a row's step and action cost well under a
microsecond.

Exactness:
- CartPole: the float64 operations are CartPoleEnv.step's, in its order (Numba compiles
  without fast-math, so no reassociation or fused multiply-add). euler_step takes cos and
  sin from NumPy (np.cos / np.sin, the functions CartPoleEnv calls); play_cartpole calls
  the C library's, which it is used with only where they give NumPy's bits
  (compiled_trig_matches_numpy). tests/test_envs.py holds both against gymnasium.make.
- Policy: the float32 forward is defined here, operation by operation, the same on every
  machine (no BLAS, whose kernels differ by CPU): hidden_j = relu(sum_i x_i w1_ij + b1_j)
  and logit_a = sum_j hidden_j w2_ja + b2_a, each sum from i = 0 (j = 0) up, each product
  and sum rounded to float32. A sampled action is argmax_a(float64(logit_a) + gumbel_a), a
  greedy one argmax_a logit_a, the first index among equals.

Everything compiled lives in this one file: Numba's cache is invalidated by its function's
own file only, so a kernel calling into another file could run a stale copy of it.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numba
import numpy as np

from reinforce.sim import _numba_cache


def _compile(function):
    # The compiled code is cached in the user's cache folder, keyed by this file's bytes
    # (_numba_cache.py), else beside this file; where none can be written (a read-only
    # install with no writable HOME), numba refuses to cache, and each process compiles it
    # again (a few seconds) instead of failing.
    saved = getattr(numba.core.config, "CACHE_LOCATOR_CLASSES", "")
    numba.core.config.CACHE_LOCATOR_CLASSES = saved or _numba_cache.LOCATORS
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:
        return numba.njit(nogil=True)(function)
    finally:
        numba.core.config.CACHE_LOCATOR_CLASSES = saved


# ------------------------------------------------------------------------------- policy


@_compile
def _row_action(x, w1, b1, w2, b2, gumbel, sample, hidden, logits):
    """One seed's action for the float32 observation x: (in,) with its weights w1 (in, H),
    b1 (1, H), w2 (H, A), b2 (1, A); gumbel (A,) float64 is read only when sample.
    hidden (H,) and logits (A,) are float32 scratch space."""
    n_in, n_hidden = w1.shape
    n_actions = w2.shape[1]
    # The sums run over i (then j) in the outer loop, so each output's sum is in order
    # while the inner loop runs over independent outputs.
    hidden[:] = np.float32(0.0)
    for i in range(n_in):
        for j in range(n_hidden):
            hidden[j] += x[i] * w1[i, j]
    logits[:] = np.float32(0.0)
    for j in range(n_hidden):
        value = hidden[j] + b1[0, j]
        if value < 0:
            value = np.float32(0.0)
        for a in range(n_actions):
            logits[a] += value * w2[j, a]
    best, best_value = 0, -np.inf
    for a in range(n_actions):
        logit = logits[a] + b2[0, a]
        value = np.float64(logit) + gumbel[a] if sample else np.float64(logit)
        if a == 0 or value > best_value:
            best, best_value = a, value
    return best


@_compile
def policy_actions(obs, envs, w1, b1, w2, b2, gumbel, sample, actions):
    """actions[r] = the action of env envs[r]'s policy (w1[envs[r]], ...) for obs[r], with
    noise gumbel[r] when sample."""
    hidden = np.empty(w1.shape[2], dtype=np.float32)
    logits = np.empty(w2.shape[2], dtype=np.float32)
    for row in range(obs.shape[0]):
        k = envs[row]
        actions[row] = _row_action(
            obs[row], w1[k], b1[k], w2[k], b2[k], gumbel[row], sample, hidden, logits
        )


# ----------------------------------------------------------------------------- CartPole


class CartPolePhysics(NamedTuple):
    """CartPoleEnv's constants, as it computes them (Python floats, float64 here)."""

    force_mag: float
    polemass_length: float
    total_mass: float
    gravity: float
    length: float
    masspole: float
    tau: float
    x_threshold: float
    theta_threshold_radians: float


class Rows(NamedTuple):
    """The still-running envs: row r is env index[r], its float64 state state[:, r]
    (4, rows) and the steps elapsed[r] of its episode, cut at max_steps."""

    state: np.ndarray
    elapsed: np.ndarray
    index: np.ndarray
    max_steps: int


class Record(NamedTuple):
    """The running episodes, written in place: observation obs[env, t] (envs, steps, 4)
    float32 and action actions[env, t] (envs, steps) int64."""

    obs: np.ndarray
    actions: np.ndarray


@_compile
def _record_observation(state, row, record, k, t):
    # The observation is the float32 cast of the state (observation(), reset_row), so the
    # row records it from the state it steps from.
    for i in range(4):
        record.obs[k, t, i] = np.float32(state[i, row])


@_compile
def _step_row(rows, row, action, cos, sin, physics, new_state, terminated, truncated):
    """CartPoleEnv.step's Euler update of rows.state[:, row] into new_state[:, row] (which
    may be rows.state itself), its termination (x or theta out of bounds) and the time
    limit (rows.elapsed is advanced); returns whether the row's episode ended."""
    force_mag, polemass_length, total_mass = (
        physics.force_mag,
        physics.polemass_length,
        physics.total_mass,
    )
    gravity, length, masspole, tau = physics.gravity, physics.length, physics.masspole, physics.tau
    x_threshold, theta_threshold = physics.x_threshold, physics.theta_threshold_radians
    state, elapsed = rows.state, rows.elapsed
    x, x_dot, theta_dot = state[0, row], state[1, row], state[3, row]
    theta = state[2, row]
    force = force_mag if action == 1 else -force_mag
    temp = (force + polemass_length * (theta_dot * theta_dot) * sin) / total_mass
    thetaacc = (gravity * sin - cos * temp) / (
        length * (4.0 / 3.0 - masspole * (cos * cos) / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * cos / total_mass
    x = x + tau * x_dot
    x_dot = x_dot + tau * xacc
    theta = theta + tau * theta_dot
    theta_dot = theta_dot + tau * thetaacc
    new_state[0, row], new_state[1, row] = x, x_dot
    new_state[2, row], new_state[3, row] = theta, theta_dot
    terminated[row] = (
        x < -x_threshold or x > x_threshold or theta < -theta_threshold or theta > theta_threshold
    )
    elapsed[row] += 1
    truncated[row] = elapsed[row] >= rows.max_steps
    return terminated[row] or truncated[row]


@_compile
def euler_step(
    rows, actions, costheta, sintheta, physics, new_state, obs, record, terminated, truncated
):
    """One Euler step of every row: rows.state (4, rows) float64 -> new_state, the float32
    observation obs (rows, 4), termination, and the time limit (rows.elapsed is advanced).
    Returns the number of rows whose episode ended. Row r first records the observation it
    acts in and its action at [index[r], elapsed[r]] (an empty record.obs records nothing).
    """
    recording = record.obs.shape[0] > 0
    state, elapsed, index = rows.state, rows.elapsed, rows.index
    ended = 0
    for row in range(state.shape[1]):
        if recording:
            k, t = index[row], elapsed[row]
            _record_observation(state, row, record, k, t)
            record.actions[k, t] = actions[row]
        if _step_row(
            rows,
            row,
            actions[row],
            costheta[row],
            sintheta[row],
            physics,
            new_state,
            terminated,
            truncated,
        ):
            ended += 1
        for i in range(4):
            obs[row, i] = np.float32(new_state[i, row])
    return ended


@_compile
def play_cartpole(rows, physics, weights, noise, step, sample, record, terminated, truncated):
    """Lockstep steps of every row, each row's action from its env's policy (weights: the
    stacks w1, b1, w2, b2 indexed by env, as policy_actions) with noise[env, step % block]
    (noise: (envs, block, actions)) when sample, until an episode ends or, sampling, the
    next step starts a new noise block. Each row records its observation and action at
    [index[r], elapsed[r]] as euler_step does, and rows.state is advanced in place.
    Returns the number of lockstep steps taken; terminated and truncated are those of the
    last one."""
    w1, b1, w2, b2 = weights
    state, elapsed, index = rows.state, rows.elapsed, rows.index
    block = noise.shape[1]
    hidden = np.empty(w1.shape[2], dtype=np.float32)
    logits = np.empty(w2.shape[2], dtype=np.float32)
    taken = 0
    while True:
        column = step % block
        ended = 0
        for row in range(state.shape[1]):
            k, t = index[row], elapsed[row]
            _record_observation(state, row, record, k, t)
            action = _row_action(
                record.obs[k, t],
                w1[k],
                b1[k],
                w2[k],
                b2[k],
                noise[k, column],
                sample,
                hidden,
                logits,
            )
            record.actions[k, t] = action
            theta = state[2, row]
            if _step_row(
                rows,
                row,
                action,
                np.cos(theta),
                np.sin(theta),
                physics,
                state,
                terminated,
                truncated,
            ):
                ended += 1
        step += 1
        taken += 1
        if ended or (sample and step % block == 0):
            return taken


# ------------------------------------------------------------------ discounted sums


@_compile
def discounted_sums(values, factor, out):
    """out[t] = values[t] + factor * out[t + 1] from the end (out[T] = 0), in float64:
    the recurrence scipy.signal.lfilter([1.0], [1.0, -factor], values[::-1])[::-1] runs,
    with the same two roundings per element (the product, then the sum). Compiled here
    because importing scipy.signal costs a stage ~0.8 s; tests/test_kernels.py holds it
    against lfilter bit for bit."""
    acc = 0.0
    for t in range(values.shape[0] - 1, -1, -1):
        acc = factor * acc + values[t]
        out[t] = acc


@_compile
def _compiled_cos_sin(angles, cos, sin):
    for i in range(angles.shape[0]):
        cos[i], sin[i] = np.cos(angles[i]), np.sin(angles[i])


@cache
def compiled_trig_matches_numpy() -> bool:
    """Whether the compiled cos and sin (the C library's, as play_cartpole calls them) give
    NumPy's bits over the angles CartPole takes them of (|theta| stays under the 12-degree
    limit before a step, 0.05 at a reset). With the pinned NumPy both are the C library's
    here; a NumPy with SIMD float64 sin/cos would differ in some last bits, and the
    lockstep runner then takes the per-step path, which passes NumPy's values in."""
    angles = np.concatenate(
        [np.linspace(-0.25, 0.25, 200_001), np.random.default_rng(0).uniform(-0.25, 0.25, 200_000)]
    )
    cos, sin = np.empty_like(angles), np.empty_like(angles)
    _compiled_cos_sin(angles, cos, sin)
    return cos.tobytes() == np.cos(angles).tobytes() and sin.tobytes() == np.sin(angles).tobytes()
