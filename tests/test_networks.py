"""Configurable networks (train.hidden_sizes, train.activation) on every path: the compiled
actor covers one ReLU hidden layer, anything else acts through the torch modules
(policy.TorchActor), with the compiled actor's rules and noise, so the default networks
keep every byte and the others train on both schedules."""

import dataclasses
import io

import numpy as np
import pytest
import torch

from reinforce import seeding
from reinforce.agent.policy import (
    GumbelStreams,
    StackedActor,
    StackedPolicies,
    TorchActor,
    load_policy,
    make_actor,
    make_networks,
    make_policy,
)
from reinforce.agent.train import describe_engine, train_variant
from reinforce.io.config import TrainConfig
from tests.conftest import assert_refused, tiny_params
from tests.test_rollouts import PPO as ROLLOUTS_PPO

PPO = dataclasses.replace(ROLLOUTS_PPO, episodes=4)  # test_rollouts' tiny ppo, shorter
DEEP = {"hidden_sizes": (8, 8), "activation": "tanh"}


def test_the_layers_their_order_and_their_draws():
    cfg = TrainConfig(hidden_sizes=(8, 6, 4), activation="tanh", baseline="value")
    policy, critic = make_networks(3, 4, 2, cfg)
    assert [(layer.in_features, layer.out_features) for layer in policy.layers] == [
        (4, 8),
        (8, 6),
        (6, 4),
        (4, 2),
    ]
    assert isinstance(policy.net[1], torch.nn.Tanh) and len(critic.layers) == 4
    obs = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(policy(obs), policy.net(obs))  # the direct forward is the module's
    # one hidden layer: the default networks, drawn as before (hidden_dim's bytes)
    one = make_networks(3, 4, 2, TrainConfig(hidden_sizes=(16,)))[0]
    default = make_networks(3, 4, 2, TrainConfig(hidden_dim=16))[0]
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), default.parameters()))


def test_the_torch_actor_acts_as_the_compiled_one():
    """On the default networks, where both can act, TorchActor gives the compiled actor's
    actions, greedy and sampled from the same noise streams: it is the plain twin of the
    fast path (a flip would need logits within float32 rounding of a tie)."""
    policies = [make_policy(4, 2, 16, seeding.init_generator(s), False) for s in range(3)]
    obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    rows = np.arange(3)
    for sample in (False, True):
        rngs = [seeding.action_rng(s) for s in range(3)] if sample else None
        fast = StackedActor(StackedPolicies(policies), rngs and GumbelStreams(rngs, 2))
        rngs = [seeding.action_rng(s) for s in range(3)] if sample else None
        plain = TorchActor(policies, rngs)
        for step in range(600):
            assert fast(obs, rows, step).tolist() == plain(obs, rows, step).tolist()
            obs = obs + np.float32(0.01)


def test_make_actor_falls_back_to_the_torch_modules():
    deep = [make_policy(4, 2, (8, 8), seeding.init_generator(0), False, "tanh")]
    actor, stack = make_actor(deep, None)
    assert isinstance(actor, TorchActor) and stack is actor
    relu = [make_policy(4, 2, 8, seeding.init_generator(0), False)]
    assert isinstance(make_actor(relu, None)[0], StackedActor)
    assert "torch modules acting" in describe_engine(TrainConfig(**DEEP), "CartPole-v1")
    assert "compiled actor" in describe_engine(TrainConfig(), "CartPole-v1")


@pytest.mark.parametrize("schedule", ["episodes", "rollouts"])
def test_deeper_tanh_networks_train_on_both_schedules(schedule):
    cfg = dataclasses.replace(PPO, **DEEP)
    if schedule == "episodes":
        cfg = dataclasses.replace(cfg, rollout_steps=None)
    result = train_variant(cfg, "CartPole-v1", [0, 1])
    assert len(result.curves) == 2 * cfg.episodes
    policy, meta = load_policy(io.BytesIO(result.checkpoints[0]))
    assert meta["hidden_sizes"] == [8, 8] and meta["activation"] == "tanh"
    assert [layer.out_features for layer in policy.layers] == [8, 8, 2]
    again = train_variant(cfg, "CartPole-v1", [0])  # a seed's bytes alone or beside others
    assert again.checkpoints[0] == result.checkpoints[0]


def test_the_default_checkpoint_names_no_network_option():
    result = train_variant(dataclasses.replace(PPO, episodes=1), "CartPole-v1", [0])
    meta = torch.load(io.BytesIO(result.checkpoints[0]), weights_only=True)["meta"]
    assert "hidden_sizes" not in meta and "activation" not in meta


def test_a_continuous_env_takes_a_deep_network_too():
    cfg = TrainConfig(episodes=2, hidden_sizes=(8, 8), activation="tanh")
    result = train_variant(cfg, "Pendulum-v1", [0])
    policy, meta = load_policy(io.BytesIO(result.checkpoints[0]))
    assert meta["policy_head"] == "gaussian" and len(policy.layers) == 3


def with_train(**keys) -> dict:
    params = tiny_params()
    params["train"] = {**params["train"], **keys}
    return params


@pytest.mark.parametrize(
    "params, words",
    [
        (with_train(hidden_sizes=[]), ["train.hidden_sizes", "[]", "a list of 1 to 16"]),
        (with_train(hidden_sizes=[64, 0]), ["train.hidden_sizes", "[64, 0]", ">= 1"]),
        (with_train(hidden_sizes=[64, "x"]), ["train.hidden_sizes", "'x'", "integers"]),
        (with_train(hidden_sizes=64), ["train.hidden_sizes", "64", "a list"]),
        (with_train(activation="gelu"), ["train.activation", "gelu", "relu | tanh"]),
    ],
)
def test_a_bad_network_option_is_refused_in_one_line(params, words):
    assert_refused(params, words)


def test_check_refuses_rollouts_on_a_continuous_env_before_any_work():
    params = tiny_params(env={"id": "Pendulum-v1", "solved_threshold": None})
    params["variants"] = {
        "ppo": {
            "baseline": "value",
            "advantage": "gae",
            "normalize_returns": False,
            "rollout_steps": 32,
        }
    }
    params["tune"] = {"seeds": [10, 11], "search": {}}
    assert_refused(params, ["variants.ppo.rollout_steps", "32", "Pendulum-v1", "categorical"])
