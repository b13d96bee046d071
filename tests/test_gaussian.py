"""Continuous actions: the diagonal Gaussian head, clipping at the env step only, seed
invariance, the env check, and a continuous env through the real `dvc repro`."""

import dataclasses
import importlib.util
import io
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch.distributions import Normal

from reinforce.agent.policy import GaussianActor, GaussianPolicy, load_policy, make_actor
from reinforce.agent.train import log_probs_of, make_learner, train_variant, update_seed
from reinforce.io.config import TrainConfig
from reinforce.io.env_ids import check_env_id, check_spaces, is_continuous
from reinforce.io.errors import ConfigError
from reinforce.sim.rollout import run_lockstep
from tests.conftest import make_project, run, tiny_params, tree_bytes

SMALL = TrainConfig(episodes=2, hidden_dim=16)
ACTOR_CRITIC = dataclasses.replace(
    SMALL,
    baseline="value",
    advantage="gae",
    normalize_returns=False,
    normalize_advantages=True,
    update_epochs=2,
    minibatches=3,
    clip_ratio=0.2,
    entropy_coef=0.01,
)


def gaussian(obs_dim=3, action_dim=2, seed=0) -> GaussianPolicy:
    policy = GaussianPolicy(obs_dim, action_dim, 16, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-0.3, 0.4])[:action_dim])
    return policy


def test_log_prob_and_entropy_are_the_diagonal_normals():
    policy = gaussian()
    obs = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    actions = torch.randn(5, 2, generator=torch.Generator().manual_seed(2)) * 3
    log_probs, entropy_of = log_probs_of(policy, obs, actions)
    mean, log_std = policy(obs).detach(), policy.log_std.detach()
    std = log_std.exp()
    by_hand = (-0.5 * ((actions - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(log_probs.detach(), by_hand)
    torch.testing.assert_close(log_probs.detach(), Normal(mean, std).log_prob(actions).sum(-1))
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum()  # each row's
    torch.testing.assert_close(entropy_of().detach(), entropy.expand(5))
    torch.testing.assert_close(entropy_of().detach(), Normal(mean, std).entropy().sum(-1))
    assert GaussianPolicy(3, 2, 16, torch.Generator()).log_std.tolist() == [0.0, 0.0]


def test_the_actor_samples_mean_plus_std_times_its_seeds_normal_draws():
    """The mean is the network's (the compiled float32 forward: torch's up to float32
    rounding), the sample mean + std * eps with eps the seed's own normal draws."""
    policies = [gaussian(seed=0), gaussian(seed=1)]
    obs = np.random.default_rng(3).normal(size=(2, 3)).astype(np.float32)
    sampled = GaussianActor(policies, [np.random.default_rng(7), np.random.default_rng(8)])
    actions = sampled(obs, np.array([0, 1]), 0)
    greedy, stack = make_actor(policies, None)
    assert stack is greedy.stack
    means = greedy(obs, np.array([0, 1]), 0)
    for k, seed in enumerate((7, 8)):
        with torch.no_grad():
            mean = policies[k](torch.from_numpy(obs[k : k + 1]))[0].numpy()
            std = policies[k].log_std.exp().numpy()
        np.testing.assert_allclose(means[k], mean, rtol=1e-5, atol=1e-6)
        eps = np.random.default_rng(seed).standard_normal(2)
        expected = (means[k].astype(np.float64) + std.astype(np.float64) * eps).astype(np.float32)
        np.testing.assert_array_equal(actions[k], expected)
    # A seed's actions come from its own row alone.
    alone = GaussianActor(policies[1:], [np.random.default_rng(8)])(obs[1:], np.array([0]), 0)
    assert alone.tobytes() == actions[1:].tobytes()


def test_actions_are_clipped_at_the_env_step_only():
    """The env steps with the clipped action; the episode keeps the sample drawn, and the
    update's log-probability is of that unclipped sample."""
    wild = np.array([[7.5]], dtype=np.float32)
    episodes = []
    run_lockstep(
        "Pendulum-v1",
        [5],
        1,
        lambda obs, active, step: np.repeat(wild * (-1) ** step, len(active), axis=0),
        lambda k, episode: episodes.append(episode),
    )
    (episode,) = episodes
    assert episode.actions.dtype == np.float32 and episode.actions.shape == (200, 1)
    assert set(np.abs(episode.actions).ravel().tolist()) == {7.5}
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=5)
    for t, action in enumerate(episode.actions):
        np.testing.assert_array_equal(episode.obs[t], obs)
        obs, reward, *_ = env.step(np.clip(action, -2.0, 2.0))
        assert episode.rewards[t] == reward
    policy = GaussianPolicy(3, 1, 16, torch.Generator().manual_seed(0))
    obs, actions = torch.from_numpy(episode.obs), torch.from_numpy(episode.actions)
    log_probs, _ = log_probs_of(policy, obs, actions)
    expected = policy.distribution(obs).log_prob(actions).sum(-1)
    torch.testing.assert_close(log_probs, expected)
    clipped = policy.distribution(obs).log_prob(actions.clamp(-2, 2)).sum(-1)
    assert not torch.allclose(log_probs, clipped)


@pytest.mark.parametrize("cfg", [SMALL, ACTOR_CRITIC], ids=["article", "actor-critic"])
def test_a_seed_is_the_same_bytes_alone_beside_others_and_in_workers(cfg):
    alone = train_variant(cfg, "Pendulum-v1", [3])
    together = train_variant(cfg, "Pendulum-v1", [0, 3])
    in_workers = train_variant(cfg, "Pendulum-v1", [0, 3], workers=2)
    seed3 = together.curves[together.curves.seed == 3].reset_index(drop=True)
    assert alone.curves.to_csv() == seed3.to_csv()
    assert alone.checkpoints[3] == together.checkpoints[3] == in_workers.checkpoints[3]
    assert together.curves.to_csv() == in_workers.curves.to_csv()
    assert alone.curves.to_csv() != together.curves[together.curves.seed == 0].to_csv()
    policy, meta = load_policy(io.BytesIO(alone.checkpoints[3]))
    assert isinstance(policy, GaussianPolicy) and meta["policy_head"] == "gaussian"
    assert (alone.obs_dim, alone.n_actions) == (3, 1)


def test_every_update_switch_moves_the_gaussian_and_its_log_std():
    episodes = []
    actor, _ = make_actor([gaussian(3, 1)], [np.random.default_rng(0)])
    run_lockstep("Pendulum-v1", [0], 2, actor, lambda k, e: episodes.append(e))
    for cfg in (SMALL, ACTOR_CRITIC, dataclasses.replace(SMALL, baseline="value")):
        learner = make_learner(0, 3, 1, cfg, continuous=True)
        before = [p.detach().clone() for p in learner.policy.parameters()]
        learner.pending = list(episodes)
        loss = update_seed(learner, cfg)
        assert math.isfinite(loss)
        after = list(learner.policy.parameters())
        assert all(not torch.equal(b, a) for b, a in zip(before, after))


def test_mountain_car_continuous_trains_and_is_continuous():
    assert is_continuous("MountainCarContinuous-v0") and not is_continuous("CartPole-v1")
    result = train_variant(dataclasses.replace(SMALL, episodes=1), "MountainCarContinuous-v0", [0])
    assert (result.obs_dim, result.n_actions) == (2, 1) and len(result.curves) == 1


def refusal(obs, act) -> str:
    with pytest.raises(ConfigError) as caught:
        check_spaces("Fake-v0", obs, act)
    message = str(caught.value)
    assert "\n" not in message and "env.id: 'Fake-v0'" in message
    return message


def test_the_spaces_the_agent_refuses_and_accepts_one_line_each():
    box = spaces.Box(-1.0, 1.0, (4,))
    image = spaces.Box(0, 255, (96, 96, 3), dtype=np.uint8)  # CarRacing's observation
    assert "one-dimensional Box" in refusal(image, spaces.Discrete(5))
    assert "one-dimensional Box with finite bounds" in refusal(box, spaces.Box(-1.0, 1.0, (2, 2)))
    assert "finite bounds" in refusal(box, spaces.Box(-np.inf, np.inf, (2,)))
    assert "Discrete" in refusal(box, spaces.MultiDiscrete([2, 3]))
    assert check_spaces("Fake-v0", box, spaces.Box(-1.0, 1.0, (3,))) == (4, 3)
    assert check_spaces("Fake-v0", box, spaces.Discrete(2)) == (4, 2)
    assert check_env_id("Pendulum-v1") == (3, 1)


def test_lunar_lander_continuous_is_accepted_where_box2d_imports():
    if importlib.util.find_spec("Box2D") is not None:
        assert check_env_id("LunarLanderContinuous-v3") == (8, 2)
        assert check_env_id("LunarLander-v3") == (8, 4)
        with pytest.raises(ConfigError) as caught:  # image observations
            check_env_id("CarRacing-v3")
        assert "\n" not in str(caught.value) and "one-dimensional Box" in str(caught.value)
        return
    with pytest.raises(ConfigError) as caught:
        check_env_id("LunarLanderContinuous-v3")
    message = str(caught.value)
    assert "\n" not in message and "cannot be created here" in message and "Box2D" in message


def test_pendulum_end_to_end_through_dvc_repro(tmp_path):
    """2 seeds x 3 episodes of Pendulum-v1: every stage runs, returns are negative, and the
    solved threshold (a config value: Pendulum has no reward_threshold) is never reached."""
    train = {**tiny_params()["train"], "episodes": 3}
    params = tiny_params(
        env={"id": "Pendulum-v1", "solved_threshold": -200, "solve_window": 2}, train=train
    )
    project = make_project(tmp_path / "repo", params)
    run(["dvc", "repro"], project)
    for variant in ("article", "value-baseline"):
        curves = (project / "runs" / variant / "train" / "curves.csv").read_text().splitlines()
        assert len(curves) == 1 + 2 * 3
        returns = [float(row.split(",")[2]) for row in curves[1:]]
        assert all(r < 0 for r in returns)
        evals = (project / "runs" / variant / "eval" / "eval.csv").read_text().splitlines()
        assert len(evals) == 1 + 2 * 2 and all(float(r.split(",")[2]) < 0 for r in evals[1:])
    metrics = json.loads((project / "metrics.json").read_text())
    assert metrics["article"]["iqm"] < 0
    assert (project / "reports" / "report.md").exists()
    assert tree_bytes(project, "runs")
