"""The compiled policy forward (reinforce/sim/_kernels.py) against its definition, computed
here in NumPy float32 scalars one operation at a time, and against the torch policy."""

import numpy as np
import torch

from reinforce.agent.policy import GumbelStreams, Policy, StackedPolicies
from reinforce.sim import _kernels


def reference_logits(x, w1, b1, w2, b2):
    """The kernel's documented float32 forward, operation by operation."""
    hidden = []
    for j in range(w1.shape[1]):
        total = np.float32(0.0)
        for i in range(len(x)):
            total = np.float32(total + np.float32(x[i] * w1[i, j]))
        value = np.float32(total + b1[0, j])
        hidden.append(np.float32(0.0) if value < 0 else value)
    logits = []
    for a in range(w2.shape[1]):
        total = np.float32(0.0)
        for j, value in enumerate(hidden):
            total = np.float32(total + np.float32(value * w2[j, a]))
        logits.append(np.float32(total + b2[0, a]))
    return np.array(logits, dtype=np.float32)


def stack_of(n_seeds, obs_dim, n_actions, hidden_dim):
    policies = [
        Policy(obs_dim, n_actions, hidden_dim, torch.Generator().manual_seed(s))
        for s in range(n_seeds)
    ]
    return policies, StackedPolicies(policies)


def test_compiled_forward_is_its_definition_bit_for_bit():
    policies, stack = stack_of(3, 6, 3, 32)
    rng = np.random.default_rng(0)
    obs = rng.normal(scale=2.0, size=(40, 6)).astype(np.float32)
    envs = rng.integers(0, 3, size=40)
    gumbel = rng.gumbel(size=(40, 3))
    greedy = stack.act(obs, envs)
    sampled = stack.act(obs, envs, gumbel)
    for row, k in enumerate(envs.tolist()):
        logits = reference_logits(obs[row], stack.w1[k], stack.b1[k], stack.w2[k], stack.b2[k])
        assert greedy[row] == int(np.argmax(logits))
        assert sampled[row] == int(np.argmax(logits.astype(np.float64) + gumbel[row]))
        # the definition is the torch policy's forward up to float32 rounding
        with torch.no_grad():
            expected = policies[k](torch.from_numpy(obs[row][None]))[0].numpy()
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def test_a_seeds_actions_do_not_depend_on_the_other_rows():
    _, stack = stack_of(5, 4, 2, 16)
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(200, 4)).astype(np.float32)
    envs = rng.integers(0, 5, size=200)
    gumbel = rng.gumbel(size=(200, 2))
    together = stack.act(obs, envs, gumbel)
    alone = [stack.act(obs[r : r + 1], envs[r : r + 1], gumbel[r : r + 1])[0] for r in range(200)]
    assert together.tolist() == alone


def test_play_cartpole_chooses_the_actions_policy_actions_chooses():
    """The fused loop's actions equal policy_actions' on the observations it recorded."""
    from reinforce.sim.envs import CartPoleBatch

    _, stack = stack_of(4, 4, 2, 16)
    batch = CartPoleBatch("CartPole-v1", [0, 1, 2, 3])
    noise = GumbelStreams([np.random.default_rng(s) for s in range(4)], 2, block=5)
    record = (np.zeros((4, 500, 4), np.float32), np.zeros((4, 500), np.int64))
    noise.prepare(0, batch.index)
    taken, _, _ = batch.play(stack.weights, noise.noise, 0, record)
    assert 1 <= taken <= 5
    for k in range(4):
        gumbel = noise.noise[k, :taken]
        expected = stack.act(record[0][k, :taken], np.full(taken, k), gumbel)
        assert record[1][k, :taken].tolist() == expected.tolist()


def test_the_compiled_trig_is_numpys_here():
    # Where this fails, training still gives the same bytes, on the slower per-step path.
    assert _kernels.compiled_trig_matches_numpy()


def test_discounted_sums_are_lfilter_bit_for_bit():
    """The compiled discounted sum (returns and GAE) against the scipy.signal.lfilter call
    it replaced, on rewards, TD errors of both signs, zeros, and long and one-step episodes."""
    import scipy.signal

    rng = np.random.default_rng(0)
    cases = [np.ones(500), np.ones(1), np.zeros(7), rng.normal(scale=3.0, size=1000)]
    cases += [rng.normal(size=rng.integers(1, 400)) * rng.integers(0, 2) for _ in range(200)]
    cases += [rng.integers(-2, 3, size=300).astype(np.float64)]
    for factor in (0.99, 0.5, 0.99 * 0.95, 0.0, 1.0, 0.9405):
        for values in cases:
            expected = scipy.signal.lfilter([1.0], [1.0, -factor], values[::-1])[::-1]
            out = np.empty((1, len(values)))
            ended = np.zeros((1, len(values)), dtype=bool)
            ended[0, -1] = True
            _kernels.discounted_sums(values[None], factor, ended, out)
            assert out[0].tobytes() == expected.tobytes()
    # the rows side by side, each cut where its episodes end: each piece is its own sum
    values = rng.normal(size=(3, 50))
    ended = rng.random((3, 50)) < 0.1
    out = np.empty_like(values)
    _kernels.discounted_sums(values, 0.9, ended, out)
    for r in range(3):
        cuts = [0, *(np.flatnonzero(ended[r]) + 1).tolist(), 50]
        for start, stop in zip(cuts, cuts[1:]):
            piece = values[r, start:stop]
            expected = scipy.signal.lfilter([1.0], [1.0, -0.9], piece[::-1])[::-1]
            assert out[r, start:stop].tobytes() == expected.tobytes()
