"""The compiled inner loops (Numba): the stacked policies' action choice (categorical and
Gaussian), CartPoleEnv.step and the other classic-control envs' steps for many rows, and
both together for many lockstep steps per call.

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

import math
from functools import cache
from typing import NamedTuple

import numba
import numpy as np

from reinforce import internals

internals.skip_blas_check_import()  # before the first kernel loads Numba's NumPy support


def _compile(function):
    # The compiled code is cached in the user's cache folder, keyed by this file's bytes
    # (reinforce/internals.py, numba_cache), else beside this file; where none can be
    # written (a read-only install with no writable HOME), numba refuses to cache, and
    # each process compiles it again (a few seconds) instead of failing.
    with internals.kernel_cache():
        try:
            return numba.njit(cache=True, nogil=True)(function)
        except RuntimeError:
            return numba.njit(nogil=True)(function)


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
def discounted_sums(values, factor, ended, out):
    """out[r, t] = values[r, t] + factor * out[r, t + 1] from the end of each row, the sum
    cut after every step where ended[r, t] (there out[r, t] = values[r, t]), in float64:
    within a cut, the recurrence scipy.signal.lfilter([1.0], [1.0, -factor], x[::-1])[::-1]
    runs, with the same two roundings per element (the product, then the sum). The one
    discounted sum of the package: returns (on rewards) and GAE (on TD errors), for one
    episode, a batch of episodes side by side, or rollouts cut across episodes. Compiled
    here because importing scipy.signal costs a stage ~0.8 s; tests/test_kernels.py holds
    it against lfilter bit for bit."""
    for r in range(values.shape[0]):
        acc = 0.0
        for t in range(values.shape[1] - 1, -1, -1):
            if ended[r, t]:
                acc = 0.0
            acc = factor * acc + values[r, t]
            out[r, t] = acc


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


# ------------------------------------------------------- the other classic-control envs
#
# Each env's step for one row, then per env a loop over the rows (step) and, for the
# policies here, a loop that also chooses the actions (play). The rows' float64 states are
# state[:, row] (as CartPole's); their float32 observations obs[row] are kept beside them,
# since a reset's observation comes from the env itself (Acrobot's takes float32 cos and
# sin of its float32 state, which NumPy computes with its own SIMD code).
#
# Exactness: every float64 (and, where NumPy computes in float32 under its NEP 50
# promotion rules, float32) operation of the env's step, in its order. Where the env
# squares with `**` on a NumPy scalar, NumPy calls the C library's pow, which differs from
# x * x in about one case in a thousand: math.pow / np.power with the exponent passed in
# at run time (physics.two) calls that same pow, where a constant 2 would be folded into
# x * x. cos and sin are the C library's, used only where they give NumPy's bits
# (compiled_wide_trig_matches_numpy). tests/test_classic_envs.py holds every env against
# gymnasium.make.
#
# Why each env's step and play loops are written out rather than one loop taking the row
# step as an argument: Numba caches neither a function that takes a compiled function as
# an argument nor a closure over one (tried with numba 0.68: both compile again in every
# process), and a compile in every process is what the cache is for avoiding.


class StepRecord(NamedTuple):
    """The running episodes, written in place at [env, t]: the observation obs (envs, steps,
    obs_dim) float32 acted in, the action actions (envs, steps) int64 or (envs, steps,
    action_dim) float32 as chosen (unclipped), and the reward rewards (envs, steps) float64.
    An empty obs (0 envs) records nothing."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray


class AcrobotPhysics(NamedTuple):
    """AcrobotEnv's constants and the constant subexpressions of its _dsdt, as Python
    computes them (envs.AcrobotBatch), so that each kernel operation is one of _dsdt's."""

    dt: float  # rk4's t[1] - t[0]
    half_dt: float  # dt / 2.0
    sixth_dt: float  # dt / 6.0
    m2: float
    d1_first: float  # m1 * lc1**2
    d1_links: float  # l1**2 + lc2**2
    d1_coef: float  # 2 * l1 * lc2
    i1: float
    i2: float
    lc2_sq: float  # lc2**2
    l1_lc2: float  # l1 * lc2
    phi2_coef: float  # m2 * lc2 * g
    half_pi: float  # pi / 2.0
    phi1_a: float  # -m2 * l1 * lc2
    phi1_b: float  # 2 * m2 * l1 * lc2
    phi1_c: float  # (m1 * lc1 + m2 * l1) * g
    dd2_coef: float  # m2 * l1 * lc2
    dd2_denominator: float  # m2 * lc2**2 + I2
    pi: float
    wrap_diff: float  # pi - (-pi)
    max_vel_1: float
    max_vel_2: float
    torque_0: float
    torque_1: float
    torque_2: float
    two: float  # the exponent of `**2`, at run time (see above)


@_compile
def _acrobot_dsdt(y, p, out):
    """AcrobotEnv._dsdt (the "book" dynamics) of y = (theta1, theta2, dtheta1, dtheta2,
    torque) into out[:4] (the torque's derivative is 0)."""
    theta1, theta2, dtheta1, dtheta2, a = y[0], y[1], y[2], y[3], y[4]
    cos2, sin2 = np.cos(theta2), np.sin(theta2)
    d1 = p.d1_first + p.m2 * (p.d1_links + p.d1_coef * cos2) + p.i1 + p.i2
    d2 = p.m2 * (p.lc2_sq + p.l1_lc2 * cos2) + p.i2
    phi2 = p.phi2_coef * np.cos(theta1 + theta2 - p.half_pi)
    phi1 = (
        p.phi1_a * math.pow(dtheta2, p.two) * sin2
        - p.phi1_b * dtheta2 * dtheta1 * sin2
        + p.phi1_c * np.cos(theta1 - p.half_pi)
        + phi2
    )
    ddtheta2 = (a + d2 / d1 * phi1 - p.dd2_coef * math.pow(dtheta1, p.two) * sin2 - phi2) / (
        p.dd2_denominator - math.pow(d2, p.two) / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    out[0], out[1], out[2], out[3] = dtheta1, dtheta2, ddtheta1, ddtheta2


@_compile
def _bound(x, limit):
    # bound(x, -limit, limit) = min(max(x, -limit), limit): Python's max takes the second
    # argument only when it is greater, min only when it is less.
    if -limit > x:
        x = -limit
    if limit < x:
        x = limit
    return x


@_compile
def _acrobot_row(state, row, action, p, scratch, obs):
    """AcrobotEnv.step of state[:, row] in place (rk4 over [0, dt], wrap, bound), its
    float32 observation into obs[row]; returns (reward, terminated)."""
    y0, y, k1, k2, k3, k4 = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4], scratch[5]
    for i in range(4):
        y0[i] = state[i, row]
    if action == 0:
        y0[4] = p.torque_0
    elif action == 1:
        y0[4] = p.torque_1
    else:
        y0[4] = p.torque_2
    # rk4: the fifth component (the torque) has derivative 0.0, so it stays y0[4].
    y[4] = y0[4]
    _acrobot_dsdt(y0, p, k1)
    for i in range(4):
        y[i] = y0[i] + p.half_dt * k1[i]
    _acrobot_dsdt(y, p, k2)
    for i in range(4):
        y[i] = y0[i] + p.half_dt * k2[i]
    _acrobot_dsdt(y, p, k3)
    for i in range(4):
        y[i] = y0[i] + p.dt * k3[i]
    _acrobot_dsdt(y, p, k4)
    for i in range(4):
        y[i] = y0[i] + p.sixth_dt * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])
    for i in range(2):  # wrap(ns[i], -pi, pi)
        x = y[i]
        while x > p.pi:
            x = x - p.wrap_diff
        while x < -p.pi:
            x = x + p.wrap_diff
        y[i] = x
    y[2] = _bound(y[2], p.max_vel_1)
    y[3] = _bound(y[3], p.max_vel_2)
    for i in range(4):
        state[i, row] = y[i]
    s0, s1 = y[0], y[1]
    terminated = -np.cos(s0) - np.cos(s1 + s0) > 1.0
    obs[row, 0], obs[row, 1] = np.float32(np.cos(s0)), np.float32(np.sin(s0))
    obs[row, 2], obs[row, 3] = np.float32(np.cos(s1)), np.float32(np.sin(s1))
    obs[row, 4], obs[row, 5] = np.float32(y[2]), np.float32(y[3])
    return (0.0 if terminated else -1.0), terminated


class MountainCarPhysics(NamedTuple):
    force: float
    gravity: float
    max_speed: float
    min_position: float
    max_position: float
    goal_position: float
    goal_velocity: float


@_compile
def _mountain_car_row(state, row, action, p, scratch, obs):
    """MountainCarEnv.step of state[:, row] in place (math.cos, np.clip); returns
    (reward, terminated)."""
    position, velocity = state[0, row], state[1, row]
    velocity += (action - 1) * p.force + math.cos(3 * position) * (-p.gravity)
    if velocity < -p.max_speed:
        velocity = -p.max_speed
    if velocity > p.max_speed:
        velocity = p.max_speed
    position += velocity
    if position < p.min_position:
        position = p.min_position
    if position > p.max_position:
        position = p.max_position
    if position == p.min_position and velocity < 0:
        velocity = 0.0
    terminated = position >= p.goal_position and velocity >= p.goal_velocity
    state[0, row], state[1, row] = position, velocity
    obs[row, 0], obs[row, 1] = np.float32(position), np.float32(velocity)
    return -1.0, terminated


class PendulumPhysics(NamedTuple):
    max_speed: float
    dt: float
    sin_coef: float  # 3 * g / (2 * l)
    torque_coef: float  # 3.0 / (m * l**2)
    pi: float  # np.pi
    two_pi: float  # 2 * np.pi
    two: float  # the exponent of `**2`, at run time (see above)


@_compile
def _pendulum_row(state, row, u, p, scratch, obs):
    """PendulumEnv.step of state[:, row] in place with the float32 torque u (already
    clipped); returns (reward, False). Under NumPy's promotion, Python floats times the
    float32 u are float32 products (0.001 * u**2, 3.0 / (m * l**2) * u)."""
    th, thdot = state[0, row], state[1, row]
    f32 = np.float32
    normalized = ((th + p.pi) % p.two_pi) - p.pi
    u_squared = np.power(u, f32(p.two))
    costs = math.pow(normalized, p.two) + 0.1 * math.pow(thdot, p.two) + f32(0.001) * u_squared
    newthdot = thdot + (p.sin_coef * np.sin(th) + f32(p.torque_coef) * u) * p.dt
    if newthdot < -p.max_speed:
        newthdot = -p.max_speed
    if newthdot > p.max_speed:
        newthdot = p.max_speed
    newth = th + newthdot * p.dt
    state[0, row], state[1, row] = newth, newthdot
    obs[row, 0], obs[row, 1] = f32(np.cos(newth)), f32(np.sin(newth))
    obs[row, 2] = f32(newthdot)
    return -costs, False


class MountainCarContinuousPhysics(NamedTuple):
    power: float
    cos_coef: float  # the 0.0025 of velocity's update
    max_speed: float
    min_position: float
    max_position: float
    goal_position: float
    goal_velocity: float
    goal_reward: float  # 100.0
    action_cost: float  # 0.1
    two: float  # math.pow's exponent, at run time (see above)


@_compile
def _mountain_car_continuous_row(state, row, force, p, first, obs):
    """Continuous_MountainCarEnv.step of state[:, row] in place with the float32 force
    (already clipped); returns (reward, terminated). The env's state is float64 after a
    reset and float32 after a step (it stores np.array(..., dtype=np.float32)); `first`
    says which. On float32 scalars NumPy computes in float32 and casts the Python floats
    they meet to float32 (comparisons included), so the float32 branch does the same."""
    f32 = np.float32
    # Both branches: force * power is float32 (NumPy), 0.0025 * math.cos(...) a Python
    # float, their difference float32.
    if first:
        position, velocity = state[0, row], state[1, row]
        push = f32(force * f32(p.power)) - f32(p.cos_coef * math.cos(3 * position))
        velocity += np.float64(push)
        if velocity > p.max_speed:
            velocity = p.max_speed
        if velocity < -p.max_speed:
            velocity = -p.max_speed
        position += velocity
        if position > p.max_position:
            position = p.max_position
        if position < p.min_position:
            position = p.min_position
        if position == p.min_position and velocity < 0:
            velocity = 0.0
        terminated = position >= p.goal_position and velocity >= p.goal_velocity
        position32, velocity32 = f32(position), f32(velocity)
    else:
        position32, velocity32 = f32(state[0, row]), f32(state[1, row])
        angle = np.float64(f32(3) * position32)
        push = f32(force * f32(p.power)) - f32(p.cos_coef * math.cos(angle))
        velocity32 = velocity32 + push
        if velocity32 > f32(p.max_speed):
            velocity32 = f32(p.max_speed)
        if velocity32 < f32(-p.max_speed):
            velocity32 = f32(-p.max_speed)
        position32 = position32 + velocity32
        if position32 > f32(p.max_position):
            position32 = f32(p.max_position)
        if position32 < f32(p.min_position):
            position32 = f32(p.min_position)
        if position32 == f32(p.min_position) and velocity32 < 0:
            velocity32 = f32(0.0)
        terminated = position32 >= f32(p.goal_position) and velocity32 >= f32(p.goal_velocity)
    state[0, row], state[1, row] = position32, velocity32
    obs[row, 0], obs[row, 1] = position32, velocity32
    reward = p.goal_reward if terminated else 0.0
    reward -= math.pow(np.float64(force), p.two) * p.action_cost
    return reward, terminated


# The loops. Each row first records the observation it acts in and its action at
# [index[r], elapsed[r]], then steps, then records its reward; rows.elapsed is advanced
# and the time limit sets truncated. They return the number of rows whose episode ended
# (step) or the lockstep steps taken (play, which stops once an episode ends or, sampling,
# when the next step starts a new noise block, as play_cartpole does).


@_compile
def _before_step(rows, row, obs, record, action):
    """Record row's observation and its discrete action."""
    k, t = rows.index[row], rows.elapsed[row]
    for i in range(obs.shape[1]):
        record.obs[k, t, i] = obs[row, i]
    record.actions[k, t] = action


@_compile
def _before_box_step(rows, row, obs, record, action):
    """Record row's observation and its Box action (A,) float32, unclipped."""
    k, t = rows.index[row], rows.elapsed[row]
    for i in range(obs.shape[1]):
        record.obs[k, t, i] = obs[row, i]
    for i in range(action.shape[0]):
        record.actions[k, t, i] = action[i]


@_compile
def _after_step(rows, row, reward, ended, recording, record, rewards, terminated, truncated):
    k, t = rows.index[row], rows.elapsed[row]
    if recording:
        record.rewards[k, t] = reward
    rewards[row] = reward
    terminated[row] = ended
    rows.elapsed[row] += 1
    truncated[row] = rows.elapsed[row] >= rows.max_steps
    return terminated[row] or truncated[row]


@_compile
def _acrobot_scratch():
    return np.empty((6, 5))


@_compile
def acrobot_step(rows, actions, p, obs, record, rewards, terminated, truncated):
    """One AcrobotEnv.step of every row with actions (rows,) int64; obs (rows, 6) float32
    is overwritten with the new observations."""
    recording, scratch, ended = record.obs.shape[0] > 0, _acrobot_scratch(), 0
    for row in range(obs.shape[0]):
        if recording:
            _before_step(rows, row, obs, record, actions[row])
        reward, term = _acrobot_row(rows.state, row, actions[row], p, scratch, obs)
        ended += _after_step(
            rows, row, reward, term, recording, record, rewards, terminated, truncated
        )
    return ended


@_compile
def acrobot_play(
    rows, p, obs, weights, noise, step, sample, record, rewards, terminated, truncated
):
    """Lockstep Acrobot steps with each row's action from its env's stacked categorical
    policy (weights, noise and sample as play_cartpole's)."""
    w1, b1, w2, b2 = weights
    block, scratch = noise.shape[1], _acrobot_scratch()
    hidden = np.empty(w1.shape[2], dtype=np.float32)
    logits = np.empty(w2.shape[2], dtype=np.float32)
    action = np.empty(1, dtype=np.int64)
    taken = 0
    while True:
        column, ended = step % block, 0
        for row in range(obs.shape[0]):
            k = rows.index[row]
            action[0] = _row_action(
                obs[row], w1[k], b1[k], w2[k], b2[k], noise[k, column], sample, hidden, logits
            )
            _before_step(rows, row, obs, record, action[0])
            reward, term = _acrobot_row(rows.state, row, action[0], p, scratch, obs)
            ended += _after_step(
                rows, row, reward, term, True, record, rewards, terminated, truncated
            )
        step += 1
        taken += 1
        if ended or (sample and step % block == 0):
            return taken


@_compile
def mountain_car_step(rows, actions, p, obs, record, rewards, terminated, truncated):
    """One MountainCarEnv.step of every row with actions (rows,) int64; obs (rows, 2)."""
    recording, ended = record.obs.shape[0] > 0, 0
    for row in range(obs.shape[0]):
        if recording:
            _before_step(rows, row, obs, record, actions[row])
        reward, term = _mountain_car_row(rows.state, row, actions[row], p, None, obs)
        ended += _after_step(
            rows, row, reward, term, recording, record, rewards, terminated, truncated
        )
    return ended


@_compile
def mountain_car_play(
    rows, p, obs, weights, noise, step, sample, record, rewards, terminated, truncated
):
    """Lockstep MountainCar steps, the actions from the stacked categorical policies."""
    w1, b1, w2, b2 = weights
    block = noise.shape[1]
    hidden = np.empty(w1.shape[2], dtype=np.float32)
    logits = np.empty(w2.shape[2], dtype=np.float32)
    action = np.empty(1, dtype=np.int64)
    taken = 0
    while True:
        column, ended = step % block, 0
        for row in range(obs.shape[0]):
            k = rows.index[row]
            action[0] = _row_action(
                obs[row], w1[k], b1[k], w2[k], b2[k], noise[k, column], sample, hidden, logits
            )
            _before_step(rows, row, obs, record, action[0])
            reward, term = _mountain_car_row(rows.state, row, action[0], p, None, obs)
            ended += _after_step(
                rows, row, reward, term, True, record, rewards, terminated, truncated
            )
        step += 1
        taken += 1
        if ended or (sample and step % block == 0):
            return taken


@_compile
def _clip(value, low, high):
    # np.clip(value, low, high) = minimum(maximum(value, low), high), on float32.
    if value < low:
        value = low
    if value > high:
        value = high
    return value


@_compile
def pendulum_step(rows, actions, low, high, p, obs, record, rewards, terminated, truncated):
    """One PendulumEnv.step of every row with actions (rows, 1) float32, clipped to
    [low, high] for the step and recorded as given; obs (rows, 3)."""
    recording, ended = record.obs.shape[0] > 0, 0
    for row in range(obs.shape[0]):
        if recording:
            _before_box_step(rows, row, obs, record, actions[row])
        u = _clip(actions[row, 0], low[0], high[0])
        reward, term = _pendulum_row(rows.state, row, u, p, None, obs)
        ended += _after_step(
            rows, row, reward, term, recording, record, rewards, terminated, truncated
        )
    return ended


@_compile
def mountain_car_continuous_step(
    rows, actions, low, high, p, obs, record, rewards, terminated, truncated
):
    """One Continuous_MountainCarEnv.step of every row with actions (rows, 1) float32,
    clipped for the step and recorded as given; obs (rows, 2)."""
    recording, ended = record.obs.shape[0] > 0, 0
    for row in range(obs.shape[0]):
        if recording:
            _before_box_step(rows, row, obs, record, actions[row])
        force = _clip(actions[row, 0], low[0], high[0])
        first = rows.elapsed[row] == 0
        reward, term = _mountain_car_continuous_row(rows.state, row, force, p, first, obs)
        ended += _after_step(
            rows, row, reward, term, recording, record, rewards, terminated, truncated
        )
    return ended


# ------------------------------------------------------------------ Gaussian policy


@_compile
def _row_mean(x, w1, b1, w2, b2, hidden, mean):
    """The Gaussian head's mean for one seed: the float32 forward of _row_action (the same
    operations in the same order), its outputs plus b2 into mean (A,) float32."""
    n_in, n_hidden = w1.shape
    n_out = w2.shape[1]
    hidden[:] = np.float32(0.0)
    for i in range(n_in):
        for j in range(n_hidden):
            hidden[j] += x[i] * w1[i, j]
    mean[:] = np.float32(0.0)
    for j in range(n_hidden):
        value = hidden[j] + b1[0, j]
        if value < 0:
            value = np.float32(0.0)
        for a in range(n_out):
            mean[a] += value * w2[j, a]
    for a in range(n_out):
        mean[a] = mean[a] + b2[0, a]


@_compile
def _row_gaussian(x, w1, b1, w2, b2, std, eps, sample, hidden, out):
    """One seed's action: mean + std * eps (float64, then float32), or the mean."""
    _row_mean(x, w1, b1, w2, b2, hidden, out)
    if sample:
        for a in range(out.shape[0]):
            out[a] = np.float32(np.float64(out[a]) + np.float64(std[a]) * eps[a])


@_compile
def gaussian_actions(obs, envs, w1, b1, w2, b2, std, eps, sample, actions):
    """actions[r] (A,) float32 = the action of env envs[r]'s Gaussian policy for obs[r],
    with its standard normal draws eps[r] (A,) float64 when sample."""
    hidden = np.empty(w1.shape[2], dtype=np.float32)
    for row in range(obs.shape[0]):
        k = envs[row]
        _row_gaussian(
            obs[row], w1[k], b1[k], w2[k], b2[k], std[k], eps[row], sample, hidden, actions[row]
        )


@_compile
def pendulum_play(
    rows, low, high, p, obs, weights, noise, step, sample, record, rewards, terminated, truncated
):
    """Lockstep Pendulum steps, each row's action from its env's Gaussian policy (weights:
    w1, b1, w2, b2, std stacked by env) with noise[env, step % block] (envs, block, A)."""
    w1, b1, w2, b2, std = weights
    block = noise.shape[1]
    hidden = np.empty(w1.shape[2], dtype=np.float32)
    action = np.empty((1, w2.shape[2]), dtype=np.float32)
    taken = 0
    while True:
        column, ended = step % block, 0
        for row in range(obs.shape[0]):
            k = rows.index[row]
            _row_gaussian(
                obs[row],
                w1[k],
                b1[k],
                w2[k],
                b2[k],
                std[k],
                noise[k, column],
                sample,
                hidden,
                action[0],
            )
            _before_box_step(rows, row, obs, record, action[0])
            u = _clip(action[0, 0], low[0], high[0])
            reward, term = _pendulum_row(rows.state, row, u, p, None, obs)
            ended += _after_step(
                rows, row, reward, term, True, record, rewards, terminated, truncated
            )
        step += 1
        taken += 1
        if ended or (sample and step % block == 0):
            return taken


@_compile
def mountain_car_continuous_play(
    rows, low, high, p, obs, weights, noise, step, sample, record, rewards, terminated, truncated
):
    """Lockstep MountainCarContinuous steps, the actions from the Gaussian policies."""
    w1, b1, w2, b2, std = weights
    block = noise.shape[1]
    hidden = np.empty(w1.shape[2], dtype=np.float32)
    action = np.empty((1, w2.shape[2]), dtype=np.float32)
    taken = 0
    while True:
        column, ended = step % block, 0
        for row in range(obs.shape[0]):
            k = rows.index[row]
            _row_gaussian(
                obs[row],
                w1[k],
                b1[k],
                w2[k],
                b2[k],
                std[k],
                noise[k, column],
                sample,
                hidden,
                action[0],
            )
            _before_box_step(rows, row, obs, record, action[0])
            force = _clip(action[0, 0], low[0], high[0])
            first = rows.elapsed[row] == 0
            reward, term = _mountain_car_continuous_row(rows.state, row, force, p, first, obs)
            ended += _after_step(
                rows, row, reward, term, True, record, rewards, terminated, truncated
            )
        step += 1
        taken += 1
        if ended or (sample and step % block == 0):
            return taken


@cache
def compiled_wide_trig_matches_numpy() -> bool:
    """Whether the compiled cos and sin give NumPy's bits (on arrays and on scalars, as
    the envs call them) and math.cos's (MountainCar's) over the angles the other
    classic-control envs take them of: Acrobot's stay within a few pi, Pendulum's theta
    moves at most 0.4 a step for 200 steps from [-pi, pi]. Where not, those envs take the
    generic path."""
    rng = np.random.default_rng(1)
    angles = np.concatenate([np.linspace(-100.0, 100.0, 400_001), rng.uniform(-100, 100, 200_000)])
    cos, sin = np.empty_like(angles), np.empty_like(angles)
    _compiled_cos_sin(angles, cos, sin)
    if cos.tobytes() != np.cos(angles).tobytes() or sin.tobytes() != np.sin(angles).tobytes():
        return False
    sample = rng.integers(0, len(angles), 5000)
    return all(
        cos[i] == np.cos(angles[i]) == math.cos(angles[i]) and sin[i] == np.sin(angles[i])
        for i in sample.tolist()
    )
