"""The REINFORCE maths, each switch, seeding and batching invariance."""

import dataclasses
from collections import deque
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical

from reinforce.agent.policy import GumbelStreams, Policy, StackedPolicies
from reinforce.agent.train import (
    Episode,
    FusedAdamStep,
    adam_step,
    check_finite,
    make_learner,
    reinforce_losses,
    seed_streams,
    train_variant,
    update_seed,
)
from reinforce.algos.base import discounted_returns, normalize
from reinforce.io.config import TrainConfig
from reinforce.io.errors import TrainingDiverged

ARTICLE = TrainConfig()
SMALL = dataclasses.replace(ARTICLE, episodes=4, hidden_dim=16)


def fixed_episode(length=7, obs_dim=4, n_actions=2, seed=0) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        obs=rng.normal(size=(length, obs_dim)).astype(np.float32),
        actions=rng.integers(0, n_actions, size=length),
        rewards=rng.uniform(0, 2, size=length),
    )


# --------------------------------------------------------------------------- returns


def test_discounted_returns_by_hand():
    np.testing.assert_allclose(discounted_returns([1, 1, 1], 0.5), [1.75, 1.5, 1.0])
    np.testing.assert_allclose(discounted_returns([0, 0, 2], 0.9), [1.62, 1.8, 2.0])
    np.testing.assert_allclose(discounted_returns([3.0], 0.99), [3.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=40), st.floats(0.01, 1.0))
def test_discounted_returns_match_the_articles_loop(rewards, gamma):
    expected, running = deque(), 0.0
    for reward in reversed(rewards):
        running = reward + gamma * running
        expected.appendleft(running)
    np.testing.assert_allclose(
        discounted_returns(rewards, gamma), list(expected), rtol=1e-12, atol=1e-9
    )


def test_normalize_is_zero_mean_unit_unbiased_std():
    returns = torch.tensor([1.0, 2.0, 3.0, 6.0])
    out = normalize(returns)
    assert abs(float(out.mean())) < 1e-6
    assert float(out.std()) == pytest.approx(1.0, abs=1e-6)
    assert normalize(torch.tensor([5.0])).tolist() == [0.0]


# ---------------------------------------------------------------------- loss & gradient


def article_loss(policy: Policy, episode: Episode, gamma: float) -> torch.Tensor:
    """The article's formulation, step by step: a Categorical per step, a deque of returns,
    torch.tensor of them normalized with (std + eps), and cat(-log_prob * G).sum()."""
    log_probs = []
    for state, action in zip(episode.obs, episode.actions):
        probs = F.softmax(policy(torch.from_numpy(state).unsqueeze(0)), dim=1)
        log_probs.append(Categorical(probs).log_prob(torch.tensor([int(action)])))
    running, returns = 0.0, deque()
    for reward in episode.rewards[::-1]:
        running = float(reward) + gamma * running
        returns.appendleft(running)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + 1e-9)
    return torch.cat([-lp * g for lp, g in zip(log_probs, returns)]).sum()


def test_batched_loss_and_gradient_equal_the_articles_step_by_step():
    episode = fixed_episode(length=23)
    ours = Policy(4, 2, 128, torch.Generator().manual_seed(1))
    reference = Policy(4, 2, 128, torch.Generator().manual_seed(1))

    loss, critic_loss = reinforce_losses(ours, None, [episode], ARTICLE)
    loss.backward()
    expected = article_loss(reference, episode, 0.99)
    expected.backward()

    assert critic_loss is None
    assert float(loss) == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    for mine, theirs in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-5, atol=1e-6)


def test_policy_init_matches_nn_linear_default_distribution():
    policy = Policy(4, 2, 128, torch.Generator().manual_seed(0))
    first, second = policy.net[0], policy.net[2]
    assert first.weight.abs().max() <= 1 / 2 and second.weight.abs().max() <= 1 / np.sqrt(128)
    assert first.weight.std() > 0.2  # U(-0.5, 0.5) has std 0.289


# ------------------------------------------------------------------- each switch


def test_gamma_changes_the_returns():
    episode = fixed_episode()
    policy = Policy(4, 2, 16, torch.Generator().manual_seed(0))
    low = dataclasses.replace(SMALL, gamma=0.5, normalize_returns=False)
    high = dataclasses.replace(SMALL, gamma=0.99, normalize_returns=False)
    assert float(reinforce_losses(policy, None, [episode], low)[0]) != float(
        reinforce_losses(policy, None, [episode], high)[0]
    )


def test_normalize_returns_switch():
    episode = fixed_episode()
    policy = Policy(4, 2, 16, torch.Generator().manual_seed(0))
    raw = dataclasses.replace(SMALL, normalize_returns=False)
    log_probs = F.log_softmax(policy(torch.from_numpy(episode.obs)), -1)
    chosen = log_probs.gather(1, torch.from_numpy(episode.actions)[:, None]).squeeze(1)
    returns = torch.from_numpy(discounted_returns(episode.rewards, raw.gamma)).float()
    expected_raw = -(chosen * returns).sum()
    expected_norm = -(chosen * normalize(returns)).sum()
    assert float(reinforce_losses(policy, None, [episode], raw)[0]) == pytest.approx(
        float(expected_raw), rel=1e-6
    )
    assert float(reinforce_losses(policy, None, [episode], SMALL)[0]) == pytest.approx(
        float(expected_norm), rel=1e-6
    )


def test_value_baseline_subtracts_the_critic_and_fits_it():
    cfg = dataclasses.replace(SMALL, baseline="value")
    learner = make_learner(0, 4, 2, cfg)
    assert learner.critic is not None and learner.critic_optimizer is not None
    episode = fixed_episode()
    loss, critic_loss = reinforce_losses(learner.policy, learner.critic, [episode], cfg)

    obs = torch.from_numpy(episode.obs)
    target = normalize(torch.from_numpy(discounted_returns(episode.rewards, cfg.gamma)).float())
    values = learner.critic(obs).detach()
    chosen = (
        F.log_softmax(learner.policy(obs), -1)
        .gather(1, torch.from_numpy(episode.actions)[:, None])
        .squeeze(1)
    )
    assert float(loss) == pytest.approx(float(-(chosen * (target - values)).sum()), rel=1e-5)
    assert float(critic_loss) == pytest.approx(float(((values - target) ** 2).mean()), rel=1e-5)

    before = [p.detach().clone() for p in learner.critic.parameters()]
    errors = []
    for _ in range(30):
        learner.pending = [episode]
        update_seed(learner, cfg)
        errors.append(float(reinforce_losses(learner.policy, learner.critic, [episode], cfg)[1]))
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.critic.parameters()))
    assert errors[-1] < errors[0]
    assert make_learner(0, 4, 2, SMALL).critic is None


def test_entropy_coef_subtracts_the_entropy_bonus():
    episode = fixed_episode()
    policy = Policy(4, 2, 16, torch.Generator().manual_seed(0))
    plain = float(reinforce_losses(policy, None, [episode], SMALL)[0])
    bonus = float(
        reinforce_losses(policy, None, [episode], dataclasses.replace(SMALL, entropy_coef=0.5))[0]
    )
    probs = F.softmax(policy(torch.from_numpy(episode.obs)), -1)
    entropy = float(Categorical(probs).entropy().sum())
    assert bonus == pytest.approx(plain - 0.5 * entropy, rel=1e-5)


def test_grad_clip_norm_bounds_the_gradient():
    episode = fixed_episode(length=40)

    def grad_norm(cfg):
        learner = make_learner(0, 4, 2, cfg)
        learner.pending = [episode]
        update_seed(learner, cfg)
        return float(torch.nn.utils.get_total_norm([p.grad for p in learner.policy.parameters()]))

    unclipped = grad_norm(dataclasses.replace(SMALL, normalize_returns=False))
    clipped = grad_norm(dataclasses.replace(SMALL, normalize_returns=False, grad_clip_norm=0.01))
    assert unclipped > 0.01
    assert clipped == pytest.approx(0.01, rel=1e-3)


def test_episodes_per_update_averages_episodes_and_updates_less_often():
    first, second = fixed_episode(seed=1), fixed_episode(seed=2)
    policy = Policy(4, 2, 16, torch.Generator().manual_seed(0))
    cfg = dataclasses.replace(SMALL, episodes_per_update=2)
    both = float(reinforce_losses(policy, None, [first, second], cfg)[0])
    each = [float(reinforce_losses(policy, None, [e], cfg)[0]) for e in (first, second)]
    assert both == pytest.approx(sum(each) / 2, rel=1e-5)

    result = train_variant(
        dataclasses.replace(SMALL, episodes=5, episodes_per_update=2), "CartPole-v1", [0]
    )
    updated = result.curves["loss"].notna().tolist()
    assert updated == [False, True, False, True, True]  # the last, partial batch updates too


def test_lr_hidden_dim_and_episodes_switches():
    learner = make_learner(0, 4, 2, dataclasses.replace(SMALL, lr=0.123, hidden_dim=7))
    assert learner.optimizer.param_groups[0]["lr"] == 0.123
    assert learner.policy.net[0].out_features == 7
    result = train_variant(dataclasses.replace(SMALL, episodes=3), "CartPole-v1", [0, 1])
    assert len(result.curves) == 6
    assert result.curves.groupby("seed")["episode"].apply(list).tolist() == [[1, 2, 3]] * 2


def test_larger_lr_moves_the_policy_further():
    episode = fixed_episode()

    def step_size(lr):
        learner = make_learner(0, 4, 2, dataclasses.replace(SMALL, lr=lr))
        before = [p.detach().clone() for p in learner.policy.parameters()]
        learner.pending = [episode]
        update_seed(learner, dataclasses.replace(SMALL, lr=lr))
        return sum(float((p - b).abs().sum()) for p, b in zip(learner.policy.parameters(), before))

    assert step_size(0.01) > 5 * step_size(0.001)


# --------------------------------------------------------------- sampling & seeding


def test_gumbel_max_sampling_follows_softmax():
    policy = Policy(4, 3, 8, torch.Generator().manual_seed(0))
    stack = StackedPolicies([policy])
    obs = np.array([[0.3, -0.2, 0.1, 0.5]], dtype=np.float32)
    noise = GumbelStreams([np.random.default_rng(0)], 3)
    actions = np.array([stack.act(obs, [0], noise.at(t, np.array([0])))[0] for t in range(20000)])
    expected = F.softmax(policy(torch.from_numpy(obs)), -1)[0].detach().numpy()
    frequencies = np.bincount(actions, minlength=3) / len(actions)
    np.testing.assert_allclose(frequencies, expected, atol=0.015)
    assert stack.act(obs, [0])[0] == expected.argmax()


def test_one_seed_fixes_everything_and_global_rng_is_not_read():
    torch.manual_seed(123)
    np.random.seed(123)
    first = train_variant(SMALL, "CartPole-v1", [5])
    torch.manual_seed(999)
    np.random.seed(999)
    torch.rand(10)
    second = train_variant(SMALL, "CartPole-v1", [5])
    pd.testing.assert_frame_equal(first.curves, second.curves)
    assert first.checkpoints == second.checkpoints
    other = train_variant(SMALL, "CartPole-v1", [6])
    assert other.checkpoints[6] != first.checkpoints[5]


def test_seed_streams_are_independent_of_each_other():
    a, b = seed_streams(1), seed_streams(2)
    assert a.actions.random() != b.actions.random()
    assert torch.rand(1, generator=a.init) != torch.rand(1, generator=b.init)


ACTOR_CRITIC = dataclasses.replace(
    SMALL, baseline="value", advantage="gae", normalize_returns=False, gae_lambda=0.9
)


@pytest.mark.parametrize(
    "variant",
    [
        SMALL,
        dataclasses.replace(SMALL, baseline="value", episodes_per_update=2),
        dataclasses.replace(ACTOR_CRITIC, normalize_advantages=True),
        dataclasses.replace(
            ACTOR_CRITIC, update_epochs=2, minibatches=3, clip_ratio=0.2, episodes_per_update=2
        ),
    ],
)
def test_a_seed_is_the_same_bytes_alone_beside_others_and_in_workers(variant):
    cfg = dataclasses.replace(variant, episodes=8)
    alone = train_variant(cfg, "CartPole-v1", [3])
    together = train_variant(cfg, "CartPole-v1", [0, 1, 2, 3, 4])
    in_workers = train_variant(cfg, "CartPole-v1", [0, 1, 2, 3, 4], workers=2)
    seed3 = together.curves[together.curves.seed == 3].reset_index(drop=True)
    assert alone.curves.to_csv() == seed3.to_csv()
    assert alone.checkpoints[3] == together.checkpoints[3] == in_workers.checkpoints[3]
    assert together.curves.to_csv() == in_workers.curves.to_csv()


def test_acrobot_trains():
    result = train_variant(dataclasses.replace(SMALL, episodes=2), "Acrobot-v1", [0])
    assert result.obs_dim == 6 and result.n_actions == 3
    assert len(result.curves) == 2 and (result.curves["return"] <= 0).all()


@pytest.mark.parametrize("forkserver", [False, True])
def test_workers_start_safely_after_training_in_this_process(forkserver, monkeypatch):
    """A process that has run autograd (training in-process) then trains with workers:
    forked from this process only where torch has no accelerator (whose autograd threads
    do not survive fork), else from a forkserver that never ran torch. Both paths run
    here; the first is what the CPU build takes, the second what a CUDA build takes."""
    import torch

    from reinforce.agent.train import train_seeds
    from reinforce.compute import workers

    if forkserver:
        monkeypatch.setattr(workers, "fork_is_safe", lambda: False)
    cfg = dataclasses.replace(SMALL, episodes=3)
    in_process = train_variant(cfg, "CartPole-v1", [0, 1, 2, 3])
    in_workers = train_variant(cfg, "CartPole-v1", [0, 1, 2, 3], workers=2)
    assert in_process.curves.to_csv() == in_workers.curves.to_csv()
    assert in_process.checkpoints == in_workers.checkpoints
    method = workers.start_context(train_seeds).get_start_method()
    assert method == ("forkserver" if forkserver or torch.version.cuda else "fork")


@pytest.mark.parametrize("where", ["train", "variants"])
def test_a_huge_network_fails_fast_in_config_naming_the_key_and_the_memory(where):
    from reinforce.io.config import MAX_HIDDEN_DIM, ConfigError, parse_config

    raw = (
        {"train": {"hidden_dim": 10**9}}
        if where == "train"
        else {"variants": {"wide": {"hidden_dim": 10**9}}}
    )
    with pytest.raises(ConfigError) as error:
        parse_config(raw, check_env=False)
    message = str(error.value)
    key = "train.hidden_dim" if where == "train" else "variants.wide.hidden_dim"
    assert "\n" not in message and message.startswith(f"{key}: got 1000000000")
    assert f"<= {MAX_HIDDEN_DIM}" in message and "74.5 GiB" in message
    parse_config({"train": {"hidden_dim": MAX_HIDDEN_DIM}}, check_env=False)


@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"weight_decay": 0.01, "betas": (0.8, 0.9)},
        {"maximize": True, "eps": 1e-6},
        {"weight_decay": 0.01, "decoupled_weight_decay": True},
    ],
)
def test_adam_step_is_optimizer_step_byte_for_byte(settings, cached):
    """The fast path of the update (adam_step, or one FusedAdamStep stepping throughout,
    as a learner's) against torch's own Adam.step: same parameters and state after every
    step, from the first (which creates the state)."""

    def net():
        return Policy(4, 2, 16, torch.Generator().manual_seed(3))

    fast, plain = net(), net()
    fast_opt = torch.optim.Adam(fast.parameters(), lr=0.01, fused=True, **settings)
    plain_opt = torch.optim.Adam(plain.parameters(), lr=0.01, fused=True, **settings)
    step_fast = FusedAdamStep(fast_opt) if cached else partial(adam_step, fast_opt)
    obs = torch.from_numpy(np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32))
    for step in range(5):
        for model, _optimizer in ((fast, fast_opt), (plain, plain_opt)):
            for p in model.parameters():
                p.grad = None
            (model(obs * (step + 1)) ** 2).sum().backward()
        step_fast()
        plain_opt.step()
        for a, b in zip(fast.parameters(), plain.parameters()):
            assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()
        for a, b in zip(fast_opt.state.values(), plain_opt.state.values()):
            assert all(a[k].numpy().tobytes() == b[k].numpy().tobytes() for k in a)


@pytest.mark.parametrize(
    "env_id", ["Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"]
)
def test_on_every_compiled_env_a_seed_is_the_same_bytes_alone_beside_others_and_in_workers(
    env_id,
):
    """A suite's promise on each of its envs: the compiled loop plays a seed the same way
    whatever seeds run beside it and in whichever process."""
    cfg = dataclasses.replace(ACTOR_CRITIC, episodes=2, update_epochs=2, minibatches=2)
    alone = train_variant(cfg, env_id, [3])
    together = train_variant(cfg, env_id, [0, 3, 5])
    in_workers = train_variant(cfg, env_id, [0, 3, 5], workers=2)
    seed3 = together.curves[together.curves.seed == 3].reset_index(drop=True)
    assert alone.curves.to_csv() == seed3.to_csv()
    assert alone.checkpoints[3] == together.checkpoints[3] == in_workers.checkpoints[3]
    assert together.curves.to_csv() == in_workers.curves.to_csv()


@pytest.mark.parametrize("net", ["policy", "critic"])
def test_a_weight_that_is_not_finite_stops_the_training(net):
    """check_finite reads every weight of the policy and of the critic."""
    cfg = dataclasses.replace(SMALL, baseline="value")
    learner = make_learner(0, 4, 2, cfg)
    check_finite(learner, 0.5, 1, cfg)
    with torch.no_grad():
        list(getattr(learner, net).parameters())[-1][0] = float("inf")
    with pytest.raises(TrainingDiverged, match="the weights are not finite"):
        check_finite(learner, 0.5, 1, cfg)


def test_the_divergence_line_names_the_rates_and_the_clip_only_when_it_fails():
    finite = [np.ones(3, dtype=np.float32)]
    TrainingDiverged.check(3, 7, 0.5, finite, 0.01, None, can_clip=True)  # no error
    with pytest.raises(TrainingDiverged) as error:
        TrainingDiverged.check(3, 7, float("nan"), finite, 0.01, 0.002, can_clip=True)
    assert str(error.value) == (
        "seed 3, episode 7: the policy loss is nan after an update; the training diverged, "
        "most likely a step too large (lr 0.01, critic_lr 0.002): lower it, or set "
        "grad_clip_norm"
    )
    with pytest.raises(TrainingDiverged, match=r"\(lr 0.01\): lower it$"):
        TrainingDiverged.check(3, 7, 0.5, [np.array([np.inf])], 0.01, None, can_clip=False)
