"""The actor-critic family: GAE(lambda) against hand-computed values, the episode ends it
bootstraps from, epochs / minibatches / the clipped objective, bad parameters, and the
same bytes alone, beside other seeds and in workers."""

import copy
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reinforce.agent.train import (
    batch_losses,
    gae_advantages,
    make_learner,
    reinforce_losses,
    update_batch,
    update_seed,
)
from reinforce.algos.base import discounted_returns
from reinforce.io.config import TrainConfig, parse_config
from reinforce.sim.rollout import Episode, run_lockstep
from tests.conftest import assert_refused, tiny_params

AC = TrainConfig(
    episodes=4,
    hidden_dim=16,
    baseline="value",
    advantage="gae",
    normalize_returns=False,
    gae_lambda=0.9,
)


def episode(length=7, terminated=True, seed=0) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        obs=rng.normal(size=(length, 4)).astype(np.float32),
        actions=rng.integers(0, 2, size=length),
        rewards=rng.uniform(0, 2, size=length),
        terminated=terminated,
        final_obs=rng.normal(size=4).astype(np.float32),
    )


# ------------------------------------------------------------------------- the maths


def test_gae_by_hand_at_a_terminated_end():
    # gamma 0.9, lambda 0.8: deltas 1 + 0.9*1 - 0.5 = 1.4, 1 + 0.9*2 - 1 = 1.8, 1 + 0 - 2 = -1
    advantages = gae_advantages(
        [1, 1, 1], [0.5, 1.0, 2.0], final_value=3.0, terminated=True, gamma=0.9, gae_lambda=0.8
    )
    np.testing.assert_allclose(advantages, [1.4 + 0.72 * 1.08, 1.8 + 0.72 * -1.0, -1.0])


def test_gae_by_hand_at_a_truncated_end_bootstraps_from_the_final_value():
    # the last delta is 1 + 0.9 * V(final_obs) - 2 = 1 + 2.7 - 2 = 1.7
    advantages = gae_advantages(
        [1, 1, 1], [0.5, 1.0, 2.0], final_value=3.0, terminated=False, gamma=0.9, gae_lambda=0.8
    )
    np.testing.assert_allclose(advantages, [1.4 + 0.72 * 3.024, 1.8 + 0.72 * 1.7, 1.7])


episodes_strategy = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-5, 5), min_size=n, max_size=n),
        st.lists(st.floats(-50, 50), min_size=n, max_size=n),
        st.floats(-50, 50),
        st.floats(0.01, 1.0),
    )
)


@settings(max_examples=50, deadline=None)
@given(episodes_strategy)
def test_lambda_one_on_a_terminated_episode_is_the_monte_carlo_advantage(case):
    rewards, values, final_value, gamma = case
    advantages = gae_advantages(rewards, values, final_value, True, gamma, 1.0)
    expected = discounted_returns(rewards, gamma) - np.asarray(values)
    np.testing.assert_allclose(advantages, expected, rtol=1e-9, atol=1e-7)


@settings(max_examples=50, deadline=None)
@given(episodes_strategy)
def test_lambda_one_on_a_truncated_episode_adds_the_discounted_bootstrap(case):
    rewards, values, final_value, gamma = case
    steps_left = np.arange(len(rewards), 0, -1)
    expected = (
        discounted_returns(rewards, gamma) + gamma**steps_left * final_value - np.asarray(values)
    )
    np.testing.assert_allclose(
        gae_advantages(rewards, values, final_value, False, gamma, 1.0),
        expected,
        rtol=1e-9,
        atol=1e-7,
    )


@settings(max_examples=50, deadline=None)
@given(episodes_strategy, st.booleans())
def test_lambda_zero_gives_the_one_step_td_errors(case, terminated):
    rewards, values, final_value, gamma = case
    next_values = np.append(values[1:], 0.0 if terminated else final_value)
    expected = np.asarray(rewards) + gamma * next_values - np.asarray(values)
    np.testing.assert_allclose(
        gae_advantages(rewards, values, final_value, terminated, gamma, 0.0),
        expected,
        rtol=1e-9,
        atol=1e-7,
    )


def test_update_batch_bootstraps_from_the_critic_only_where_the_time_limit_cut():
    learner = make_learner(0, 4, 2, AC)
    cut, ended = episode(5, terminated=False, seed=1), episode(3, terminated=True, seed=2)
    batch = update_batch(learner.policy, learner.critic, [cut, ended], AC)

    with torch.no_grad():
        values = [learner.critic(torch.from_numpy(e.obs)).numpy() for e in (cut, ended)]
        final = float(learner.critic(torch.from_numpy(cut.final_obs[None]))[0])
    expected = np.concatenate(
        [
            gae_advantages(cut.rewards, values[0], final, False, AC.gamma, AC.gae_lambda),
            gae_advantages(ended.rewards, values[1], 123.0, True, AC.gamma, AC.gae_lambda),
        ]
    )
    np.testing.assert_allclose(batch.advantages.numpy(), expected, rtol=1e-5, atol=1e-5)
    # the critic regresses on the lambda-returns A_t + V(s_t)
    np.testing.assert_allclose(
        batch.targets.numpy(), expected + np.concatenate(values), rtol=1e-5, atol=1e-5
    )
    # a different V(final_obs) moves only the cut episode's advantages
    moved = dataclasses.replace(cut, final_obs=cut.final_obs + 1.0)
    other = update_batch(learner.policy, learner.critic, [moved, ended], AC).advantages
    assert not torch.equal(other[:5], batch.advantages[:5])
    assert torch.equal(other[5:], batch.advantages[5:])


def test_normalize_advantages_over_the_batch():
    learner = make_learner(0, 4, 2, AC)
    episodes = [episode(6, seed=3), episode(4, terminated=False, seed=4)]
    raw = update_batch(learner.policy, learner.critic, episodes, AC).advantages
    normed = update_batch(
        learner.policy, learner.critic, episodes, dataclasses.replace(AC, normalize_advantages=True)
    ).advantages
    torch.testing.assert_close(normed, (raw - raw.mean()) / (raw.std() + 1e-9))


def test_policy_loss_weights_log_probs_with_the_gae_advantages_and_fits_the_critic():
    learner = make_learner(0, 4, 2, AC)
    data = [episode(8, terminated=False, seed=5)]
    batch = update_batch(learner.policy, learner.critic, data, AC)
    loss, critic_loss = reinforce_losses(learner.policy, learner.critic, data, AC)
    obs = torch.from_numpy(data[0].obs)
    chosen = (
        F.log_softmax(learner.policy(obs), -1)
        .gather(1, torch.from_numpy(data[0].actions)[:, None])
        .squeeze(1)
    )
    assert float(loss) == pytest.approx(float(-(chosen * batch.advantages).sum()), rel=1e-5)
    values = learner.critic(obs).detach()
    assert float(critic_loss) == pytest.approx(
        float(((values - batch.targets) ** 2).mean()), rel=1e-5
    )
    # with lambda = 1 on a terminated episode the targets are the returns, which the
    # critic's updates do not move: its error against them shrinks
    mc = dataclasses.replace(AC, gae_lambda=1.0)
    data = [episode(8, terminated=True, seed=5)]
    returns = torch.from_numpy(discounted_returns(data[0].rewards, AC.gamma)).float()
    errors = []
    for _ in range(30):
        learner.pending = list(data)
        update_seed(learner, mc)
        errors.append(float(F.mse_loss(learner.critic(torch.from_numpy(data[0].obs)), returns)))
    assert errors[-1] < errors[0] / 2


# ----------------------------------------------------- epochs, minibatches, clipping


def test_clipped_objective_has_the_plain_gradient_at_the_first_step():
    plain = make_learner(0, 4, 2, AC)
    clipped_cfg = dataclasses.replace(AC, clip_ratio=0.2)
    clipped = make_learner(0, 4, 2, clipped_cfg)
    data = [episode(9, seed=6)]
    reinforce_losses(plain.policy, plain.critic, data, AC)[0].backward()
    reinforce_losses(clipped.policy, clipped.critic, data, clipped_cfg)[0].backward()
    for a, b in zip(plain.policy.parameters(), clipped.policy.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def test_clipping_stops_the_gradient_of_a_step_that_moved_too_far():
    cfg = dataclasses.replace(AC, clip_ratio=0.1)
    learner = make_learner(0, 4, 2, cfg)
    data = [episode(9, seed=7)]
    batch = update_batch(learner.policy, learner.critic, data, cfg)
    # pretend the old policy gave every action far less probability: ratio >> 1 + clip
    batch.old_log_probs = batch.old_log_probs - 5.0
    batch.advantages = torch.ones_like(batch.advantages)
    batch_losses(learner.policy, learner.critic, batch, cfg)[0].backward()
    assert all(float(p.grad.abs().max()) == 0.0 for p in learner.policy.parameters())


def test_update_epochs_and_minibatches_take_one_step_per_minibatch():
    cfg = dataclasses.replace(AC, update_epochs=3, minibatches=2, clip_ratio=0.2)
    learner = make_learner(0, 4, 2, cfg)
    learner.pending = [episode(10, seed=8), episode(7, terminated=False, seed=9)]
    update_seed(learner, cfg)
    for optimizer in (learner.optimizer, learner.critic_optimizer):
        steps = {int(state["step"]) for state in optimizer.state.values()}
        assert steps == {6}
    assert learner.pending == []
    assert make_learner(0, 4, 2, AC).shuffle is None  # one minibatch draws nothing


def test_minibatch_order_comes_from_the_seed_and_leaves_the_other_streams_alone():
    cfg = dataclasses.replace(AC, minibatches=4)
    a, b, c = make_learner(0, 4, 2, cfg), make_learner(0, 4, 2, cfg), make_learner(1, 4, 2, cfg)
    assert a.shuffle.random() == b.shuffle.random() != c.shuffle.random()
    plain = make_learner(0, 4, 2, AC)
    assert plain.rng.random() == make_learner(0, 4, 2, cfg).rng.random()
    for p, q in zip(plain.policy.parameters(), a.policy.parameters()):
        assert torch.equal(p, q)


# --------------------------------------------------------- the episodes it is fed


def test_episodes_carry_how_they_ended_and_the_last_observation():
    ends = []
    run_lockstep(
        "CartPole-v1",
        [0],
        2,
        lambda obs, active, step: np.zeros(len(active), int),
        lambda k, e: ends.append(e),
    )
    replay = gym.make("CartPole-v1")
    replay.reset(seed=0)
    for _ in ends[0].actions:
        last, _, terminated, truncated, _ = replay.step(0)
    assert all(e.terminated for e in ends) and terminated and not truncated
    np.testing.assert_array_equal(ends[0].final_obs, np.asarray(last, np.float32))
    assert ends[0].final_obs.dtype == np.float32
    assert abs(ends[0].final_obs[2]) > 0.2  # the pole fell: a terminal state

    cut = []  # Acrobot's constant torque never reaches the goal: the 500-step limit cuts
    run_lockstep(
        "Acrobot-v1",
        [0],
        1,
        lambda obs, active, step: np.zeros(len(active), int),
        lambda k, e: cut.append(e),
    )
    assert len(cut[0].rewards) == 500 and cut[0].terminated is False
    assert cut[0].final_obs.shape == (6,)


# ------------------------------------------------------------------- bad parameters


def params_with(**overrides) -> dict:
    params = copy.deepcopy(tiny_params())
    params["variants"]["ac"] = {
        "baseline": "value",
        "advantage": "gae",
        "normalize_returns": False,
        **overrides,
    }
    return params


BAD = [
    (params_with(gae_lambda=-0.1), ["variants.ac.gae_lambda", "-0.1", "[0, 1]"]),
    (params_with(gae_lambda=1.5), ["variants.ac.gae_lambda", "1.5", "[0, 1]"]),
    (params_with(gae_lambda="high"), ["variants.ac.gae_lambda", "'high'", "a number"]),
    (params_with(advantage="td"), ["variants.ac.advantage", "'td'", "returns | gae"]),
    (params_with(baseline="none"), ["variants.ac.advantage", "'gae'", "baseline: value"]),
    (
        params_with(normalize_returns=True),
        ["variants.ac.normalize_returns", "True", "false with advantage: gae"],
    ),
    (params_with(update_epochs=0), ["variants.ac.update_epochs", "0", ">= 1"]),
    (params_with(minibatches=0), ["variants.ac.minibatches", "0", ">= 1"]),
    (params_with(clip_ratio=0), ["variants.ac.clip_ratio", "0", "null or a number > 0"]),
    (
        params_with(normalize_advantages="yes"),
        ["variants.ac.normalize_advantages", "'yes'", "true or false"],
    ),
    (params_with(lambda_=0.9), ["variants.ac.lambda_", "unknown key"]),
    (
        dict(params_with(), tune={"seeds": [10, 11], "search": {"ac": {"gae_lambda": [0.9, 1.2]}}}),
        ["tune.search.ac.gae_lambda", "1.2", "[0, 1]"],
    ),
]


@pytest.mark.parametrize("params,words", BAD, ids=[" ".join(w[:2]) for _, w in BAD])
def test_bad_actor_critic_parameter_is_named_with_value_and_what_is_allowed(params, words):
    assert_refused(params, words)


def test_a_good_actor_critic_variant_parses_and_the_defaults_change_nothing():
    cfg = parse_config(
        params_with(
            gae_lambda=1, update_epochs=2, minibatches=4, clip_ratio=0.2, normalize_advantages=True
        )
    )
    ac = cfg.variants["ac"]
    assert (ac.advantage, ac.gae_lambda, ac.update_epochs, ac.minibatches, ac.clip_ratio) == (
        "gae",
        1.0,
        2,
        4,
        0.2,
    )
    article = cfg.variants["article"]
    assert (
        article.advantage,
        article.normalize_advantages,
        article.update_epochs,
        article.minibatches,
        article.clip_ratio,
    ) == ("returns", False, 1, 1, None)


# --------------------------------------------------------------------------- bytes

# The seed-invariance of the actor-critic switches: tests/test_training.py
# (test_a_seed_is_the_same_bytes_alone_beside_others_and_in_workers).
