"""Fixed-length rollouts (train.rollout_steps, reinforce/agent/rollouts.py): the batched
kernels give each seed the bytes it gets alone, a seed's curves and checkpoint are the
same alone, beside others and in workers, GAE across cut episodes against the per-episode
formula, and bad parameters named in one line."""

import dataclasses

import numpy as np
import pytest
import torch

from reinforce.agent import rollouts
from reinforce.agent.policy import load_policy
from reinforce.agent.train import adam_step, gae_advantages, train_variant
from reinforce.algos.base import gae
from reinforce.io.config import TrainConfig
from reinforce.io.errors import ConfigError
from tests.conftest import assert_refused, tiny_params

PPO = TrainConfig(
    episodes=6,
    hidden_dim=16,
    baseline="value",
    advantage="gae",
    normalize_returns=False,
    normalize_advantages=True,
    update_epochs=2,
    minibatches=2,
    clip_ratio=0.2,
    lr=0.005,
    critic_lr=0.005,
    rollout_steps=32,
)


def stacks(rows: int, hidden: int, seed: int = 0):
    """Random stacked policy (2 actions) and critic weights: [W1, b1, W2, b2] each."""
    g = torch.Generator().manual_seed(seed)
    policy = [(hidden, 4), (1, hidden), (2, hidden), (1, 2)]
    critic = [(hidden, 4), (1, hidden), (1, hidden), (1, 1)]
    return [[torch.randn(rows, *s, generator=g) for s in net] for net in (policy, critic)]


@pytest.mark.parametrize("hidden,minibatch", [(16, 8), (128, 64), (128, 3)])
def test_the_stacked_update_gives_a_row_the_bytes_of_any_stack_holding_it(hidden, minibatch):
    """One batched loss, backward and fused Adam step: row k of a stack of 2..6 seeds and
    of a stack of 2 (the padded lone seed) are bit for bit the same."""
    g = torch.Generator().manual_seed(1)
    full = 6
    obs = torch.randn(full, minibatch, 4, generator=g)
    actions = torch.randint(0, 2, (full, minibatch), generator=g)
    advantages, targets, old = (torch.randn(full, minibatch, generator=g) for _ in range(3))
    policy0, critic0 = stacks(full, hidden)
    cfg = dataclasses.replace(PPO, entropy_coef=0.01)

    def update(rows: list[int]):
        policy = [p[rows].clone().requires_grad_() for p in policy0]
        critic = [p[rows].clone().requires_grad_() for p in critic0]
        optimizers = [rollouts.StackedAdam(policy, 0.01), rollouts.StackedAdam(critic, 0.02)]
        for _ in range(2):
            for p in [*policy, *critic]:
                p.grad = None
            losses = rollouts.stacked_losses(
                policy, critic, obs[rows], actions[rows], advantages[rows], targets[rows],
                old[rows], cfg,
            )  # fmt: skip
            (losses[0] + losses[1]).sum().backward()
            grads = [p.grad.clone() for p in [*policy, *critic]]
            for optimizer in optimizers:
                optimizer.step()
        return [*losses, *grads, *policy, *critic]

    reference = update(list(range(full)))
    for rows in ([2, 3], [3, 3], [0, 3, 5], [1, 2, 3, 4, 5]):
        got = update(rows)
        position = rows.index(3)
        for whole, part in zip(reference, got):
            assert torch.equal(whole[3], part[position])


def test_clipping_a_stack_clips_each_seed_as_clip_grad_norm_does_alone():
    """grad_clip_norm on the rollout schedule: each row's gradients, scaled by clip_rows,
    are the bytes torch.nn.utils.clip_grad_norm_ gives that seed's own tensors (rows
    above, at and below the norm)."""
    policy, _ = stacks(3, 16)
    g = torch.Generator().manual_seed(4)
    for p in policy:
        p.grad = torch.randn(p.shape, generator=g) * torch.tensor([0.01, 1.0, 30.0])[:, None, None]
    alone = []
    for row in range(3):
        tensors = [p[row].clone().requires_grad_() for p in policy]
        for tensor, p in zip(tensors, policy):
            tensor.grad = p.grad[row].clone()
        torch.nn.utils.clip_grad_norm_(tensors, 0.5)
        alone.append([t.grad for t in tensors])
    rollouts.clip_rows(policy, 3, 0.5)
    for row in range(3):
        for p, expected in zip(policy, alone[row]):
            assert torch.equal(p.grad[row], expected)


def test_stacked_adam_is_torch_adam_on_each_seed_alone():
    """StackedAdam's step on a stack is, row by row, the bytes of torch.optim.Adam(fused=True)
    (the per-episode path's optimizer) on that seed's tensors alone, for stacks of any size:
    sizes with a tail outside the fused kernel's vector width included, where the fused
    kernel on the whole stack would round a row by where the stack ends."""
    g = torch.Generator().manual_seed(2)
    shapes = [(16, 4), (128, 4), (2, 64), (1, 16), (1, 2), (1, 1), (3, 5), (1, 17)]
    weights = [torch.randn(7, *shape, generator=g) for shape in shapes]
    grads = [[torch.randn(7, *shape, generator=g) for shape in shapes] for _ in range(6)]
    for rows in ([0, 1, 2, 3, 4, 5, 6], [3, 3], [2, 3, 4]):
        stacked = [w[rows].clone().requires_grad_() for w in weights]
        adam = rollouts.StackedAdam(stacked, 0.01)
        for grad in grads:
            for p, gr in zip(stacked, grad):
                p.grad = gr[rows].clone()
            adam.step()
        alone = [w[3].clone().requires_grad_() for w in weights]
        reference = torch.optim.Adam(alone, lr=0.01, fused=True)  # as make_learner's
        for grad in grads:
            for p, gr in zip(alone, grad):
                p.grad = gr[3].clone()
            adam_step(reference)
        for mine, theirs in zip(stacked, alone):
            assert torch.equal(mine.detach()[rows.index(3)], theirs.detach())


def test_gae_across_cut_episodes_is_the_per_episode_gae():
    """A rollout holding the end of one episode (terminated), a whole one (truncated) and
    the start of a third (cut by the rollout): per segment, train.gae_advantages."""
    rng = np.random.default_rng(0)
    steps = 12
    rewards = rng.normal(size=(1, steps))
    values = rng.normal(size=(1, steps))
    next_values = np.append(values[0, 1:], 0.0)[None].copy()
    terminated, ended = np.zeros((1, steps), bool), np.zeros((1, steps), bool)
    terminated[0, 3] = ended[0, 3] = True  # episode ends at t=3 by termination
    ended[0, 7] = True  # truncated at t=7: bootstrap from its final observation
    next_values[0, 3], next_values[0, 7], next_values[0, 11] = 9.0, 2.5, -1.5
    got = gae(rewards, values, next_values, terminated, ended, 0.9, 0.8)
    for start, end, final, term in [(0, 4, 9.0, True), (4, 8, 2.5, False), (8, 12, -1.5, False)]:
        expected = gae_advantages(
            rewards[0, start:end], values[0, start:end], final, term, 0.9, 0.8
        )
        np.testing.assert_allclose(got[0, start:end], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "variant",
    [
        PPO,
        dataclasses.replace(PPO, minibatches=1, update_epochs=1, clip_ratio=None, rollout_steps=7),
        dataclasses.replace(PPO, entropy_coef=0.01, normalize_advantages=False, rollout_steps=64),
    ],
)
def test_a_seed_is_the_same_bytes_alone_beside_others_and_in_workers(variant):
    alone = train_variant(variant, "CartPole-v1", [3])
    together = train_variant(variant, "CartPole-v1", [0, 1, 2, 3, 4])
    pair = train_variant(variant, "CartPole-v1", [3, 4])
    in_workers = train_variant(variant, "CartPole-v1", [0, 1, 2, 3, 4], workers=2)
    seed3 = together.curves[together.curves.seed == 3].reset_index(drop=True)
    assert alone.curves.to_csv() == seed3.to_csv()
    assert len(seed3) == variant.episodes
    assert alone.checkpoints[3] == together.checkpoints[3] == pair.checkpoints[3]
    assert together.checkpoints == in_workers.checkpoints
    assert together.curves.to_csv() == in_workers.curves.to_csv()
    # it learned something: the saved policy is not the initial one
    assert alone.curves["loss"].notna().any()


def test_the_compiled_cartpole_loop_gives_the_step_by_step_bytes(monkeypatch):
    """The compiled loop plays many steps per call (up to a rollout's end, where its
    noise block ends); stepping one lockstep step at a time gives the same run."""
    variant = dataclasses.replace(PPO, rollout_steps=24, minibatches=3)
    compiled = train_variant(variant, "CartPole-v1", [0, 1, 2])
    monkeypatch.setattr(rollouts, "compiled_trig_matches_numpy", lambda: False)
    stepped = train_variant(variant, "CartPole-v1", [0, 1, 2])
    assert compiled.curves.to_csv() == stepped.curves.to_csv()
    assert compiled.checkpoints == stepped.checkpoints


def test_the_noise_block_divides_the_rollout():
    assert [rollouts.noise_block(n) for n in (256, 7, 1000, 1_000_000, 1)] == [256, 7, 500, 500, 1]


def test_a_seeds_first_episodes_do_not_depend_on_how_many_follow(tmp_path):
    """A seed stops at the end of its last episode: a longer run starts with the same
    curve rows, and the saved policy holds the weights of that moment."""
    short = train_variant(PPO, "CartPole-v1", [0])
    longer = train_variant(dataclasses.replace(PPO, episodes=PPO.episodes + 6), "CartPole-v1", [0])
    assert short.curves.to_csv() == longer.curves.head(PPO.episodes).to_csv()
    assert short.env_steps == int(short.curves["length"].sum())
    path = tmp_path / "policy.pt"
    path.write_bytes(short.checkpoints[0])
    policy, meta = load_policy(path)
    assert meta == {
        "env_id": "CartPole-v1",
        "obs_dim": 4,
        "n_actions": 2,
        "hidden_dim": 16,
        "seed": 0,
    }
    initial = rollouts.Policy(4, 2, 16, rollouts.seeding.init_generator(0))
    assert not torch.equal(policy.net[0].weight, initial.net[0].weight)  # it was updated


def test_a_generic_env_trains_and_a_box_action_env_is_refused():
    result = train_variant(dataclasses.replace(PPO, episodes=1), "Acrobot-v1", [0])
    assert result.n_actions == 3 and len(result.curves) == 1
    with pytest.raises(ConfigError, match="rollout_steps"):
        train_variant(PPO, "Pendulum-v1", [0])


def params_with(**train) -> dict:
    params = tiny_params()
    keys = dict(baseline="value", advantage="gae", normalize_returns=False, rollout_steps=32)
    keys.update(train)
    params["variants"] = {"ppo": keys}
    params["tune"] = {"seeds": [10, 11], "search": {}}
    return params


BAD = [
    (params_with(rollout_steps=0), ["variants.ppo.rollout_steps", "0", ">= 1"]),
    (params_with(rollout_steps="x"), ["variants.ppo.rollout_steps", "'x'"]),
    (params_with(advantage="returns", normalize_returns=True), ["advantage", "gae with"]),
    (params_with(minibatches=5), ["variants.ppo.minibatches", "5", "a divisor of rollout_steps"]),
    (params_with(episodes_per_update=2), ["variants.ppo.episodes_per_update", "2"]),
]


@pytest.mark.parametrize("params,words", BAD, ids=[" ".join(w[:2]) for _, w in BAD])
def test_bad_rollout_parameter_is_named_with_value_and_what_is_allowed(params, words):
    assert_refused(params, words)
