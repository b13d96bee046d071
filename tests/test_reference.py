"""The engine held to the reference trainer (reinforce/agent/reference.py: one seed, plain
torch modules acting, torch.optim.Adam, gymnasium.make; docs/algorithms.md, "The
reference trainer").

What is claimed byte for byte, and why it can hold: on the per-episode schedule, one
seed's curve rows, env steps and saved checkpoint are the reference's bytes, (a) with the
categorical head on any network, (b) with the Gaussian head on networks the compiled
forward does not cover (hidden_sizes, tanh: CleanRL's). The update is the same torch
operations on the same tensors (F.linear/log_softmax on the whole batch, the algorithm's
targets and losses, one backward pass, torch's fused Adam kernel), so it is the same bytes
given the same episodes. Where the engine acts through the torch modules
(policy.TorchActor), the acting is the same calls too. Where it acts through its compiled
NumPy forward (one ReLU layer, reinforce/sim/_kernels.py), the float arithmetic differs:
that forward sums in a fixed order, torch's F.linear in MKL's, so a logit may differ in
its last float32 bit; the categorical action argmax(float64(logit) + Gumbel) differs only
if the two perturbed logits then lie within that bit of each other, a chance of about
1e-7 per step for continuous Gumbel noise. It did not happen on the runs below
(measured: article and value-baseline for 200 episodes, actor-critic for 150, seeds 0
and 1); a flip would show as a different curve from that episode on, and then the
separate claims below tell the acting from the update.

Held separately (and for the Gaussian head on the compiled forward, whose actions are
float32(mean + std * eps): a last-bit difference of the mean shows in the action itself,
so there the bytes differ from the first episode and only these hold): the update given
the same episodes is the same bytes, and the actions given the same weights, observations
and draws are the same (categorical) or equal up to float32 rounding (Gaussian).

Statistically, where no identity is claimed (the rollout schedule: the engine's stacked
baddbmm forward and per-seed fused Adam differ from F.linear in the last bits, and the
runs diverge from the first update on): test_ppo_has_the_references_learning_curves.
"""

import dataclasses
import math

import gymnasium
import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu

from reinforce import seeding
from reinforce.agent import reference
from reinforce.agent.policy import GumbelStreams, NormalStreams, make_actor, make_networks
from reinforce.agent.rollouts import noise_block
from reinforce.agent.train import make_learner, train_seeds, update_seed
from reinforce.io.config import TrainConfig, algorithm_names
from reinforce.sim.envs import check_env_id
from reinforce.sim.rollout import run_lockstep

ARTICLE = TrainConfig(episodes=30, hidden_dim=32)
VALUE_BASELINE = dataclasses.replace(ARTICLE, baseline="value")
BATCHED = dataclasses.replace(
    ARTICLE, episodes_per_update=2, entropy_coef=0.01, grad_clip_norm=1.0, episodes=25
)
ACTOR_CRITIC = TrainConfig(  # params.yaml's actor-critic, smaller
    episodes=12,
    hidden_dim=32,
    baseline="value",
    advantage="gae",
    gae_lambda=0.95,
    normalize_returns=False,
    normalize_advantages=True,
    update_epochs=8,
    minibatches=4,
    clip_ratio=0.2,
    critic_lr=0.003,
    lr=0.003,
)
PPO = dataclasses.replace(  # params.yaml's ppo on 128-step rollouts
    ACTOR_CRITIC, episodes=100, hidden_dim=64, update_epochs=4, critic_lr=0.005, rollout_steps=128
)


def engine(cfg: TrainConfig, env_id: str, seeds: list[int]):
    """train.train_seeds: {seed: curve rows}, {seed: checkpoint}, env steps."""
    obs_dim, n_actions = check_env_id(env_id)
    rows, checkpoints, steps = train_seeds(cfg, env_id, obs_dim, n_actions, seeds, lambda *_: None)
    curves = {seed: [row[1:] for row in rows if row[0] == seed] for seed in seeds}
    return curves, checkpoints, steps


def same_rows(a: list[tuple], b: list[tuple]) -> bool:
    """Curve rows equal as floats (NaN equal to NaN: the rows without an update)."""
    return len(a) == len(b) and all(
        tuple(x[:3]) == tuple(y[:3]) and (x[3] == y[3] or (math.isnan(x[3]) and math.isnan(y[3])))
        for x, y in zip(a, b)
    )


def assert_identical(cfg: TrainConfig, env_id: str = "CartPole-v1", seed: int = 0) -> None:
    curves, checkpoints, steps = engine(cfg, env_id, [seed])
    rows, checkpoint, ref_steps = reference.train_reference(cfg, env_id, seed)
    first = next(
        (i for i, (x, y) in enumerate(zip(curves[seed], rows)) if not same_rows([x], [y])), None
    )
    assert same_rows(curves[seed], rows), f"first differing row {first}"
    assert ref_steps == steps
    assert checkpoint == checkpoints[seed]


# ------------------------------------------------------------------- the pieces, fast


@pytest.mark.parametrize(
    "streams, draw", [(GumbelStreams, "gumbel"), (NormalStreams, "standard_normal")]
)
@pytest.mark.parametrize("block", [512, noise_block(PPO.rollout_steps)])
def test_one_row_of_draws_per_step_is_the_engines_block_stream(streams, draw, block):
    """The reference draws each step's noise when it acts; the engine in blocks of rows.
    Step t reads the t-th row either way, across block boundaries."""
    noise = streams([seeding.action_rng(7)], 3, block)
    rng = seeding.action_rng(7)
    for step in range(2 * block + 5):
        expected = getattr(rng, draw)(size=3)
        np.testing.assert_array_equal(noise.at(step, np.array([0]))[0], expected)


def test_categorical_actions_given_the_same_weights_and_draws_are_the_engines():
    """Trajectories given identical weights: the reference's act on the observations of
    episodes the engine played (no update between) takes the same actions."""
    policy, _ = make_networks(3, 4, 2, ARTICLE)
    actor, _ = make_actor([policy], [seeding.action_rng(3)])
    episodes = []
    run_lockstep("CartPole-v1", [3], 8, actor, lambda k, e: episodes.append(e))
    rng = seeding.action_rng(3)
    torch.set_num_threads(1)
    actions = [reference.act(policy, o, rng) for e in episodes for o in e.obs]
    np.testing.assert_array_equal(actions, np.concatenate([e.actions for e in episodes]))


def test_gaussian_actions_given_the_same_weights_and_draws_are_the_engines_to_rounding():
    """The Gaussian action is float32(mean + std * eps): the compiled forward's mean and
    F.linear's are float32 sums of the hidden layer's terms in different orders, so they
    differ by the rounding of such a sum (measured: up to about 4e-7 of the largest mean;
    many ulps where a mean cancels to near 0), and the action with them; no more."""
    obs_dim, action_dim = check_env_id("Pendulum-v1")
    cfg = dataclasses.replace(ARTICLE, hidden_dim=64)
    policy, _ = make_networks(5, obs_dim, action_dim, cfg, continuous=True)
    actor, _ = make_actor([policy], [seeding.action_rng(5)])
    episodes = []
    run_lockstep("Pendulum-v1", [5], 2, actor, lambda k, e: episodes.append(e))
    rng = seeding.action_rng(5)
    torch.set_num_threads(1)
    actions = np.stack([reference.act(policy, o, rng) for e in episodes for o in e.obs])
    played = np.concatenate([e.actions for e in episodes])
    assert actions.dtype == played.dtype == np.float32
    np.testing.assert_allclose(actions, played, rtol=0, atol=1e-5)
    assert np.abs(played).max() > 1  # not trivially small actions


def episodes_data(episodes) -> dict:
    """Engine episodes as the reference's update takes a batch (samples on axis 0)."""
    ends = [np.zeros(len(e.rewards), dtype=bool) for e in episodes]
    for end in ends:
        end[-1] = True
    ended = np.concatenate(ends)
    terminated = ended.copy()
    terminated[ended] = [e.terminated for e in episodes]
    return {
        "obs": np.concatenate([e.obs for e in episodes]),
        "next_obs": np.concatenate([np.vstack([e.obs[1:], e.final_obs[None]]) for e in episodes]),
        "actions": np.concatenate([e.actions for e in episodes]),
        "rewards": np.concatenate([e.rewards for e in episodes]),
        "terminated": terminated,
        "ended": ended,
    }


@pytest.mark.parametrize(
    "env_id, cfg",
    [
        ("Pendulum-v1", ARTICLE),
        ("Pendulum-v1", dataclasses.replace(ACTOR_CRITIC, entropy_coef=0.01)),
        ("Pendulum-v1", BATCHED),
        ("CartPole-v1", ACTOR_CRITIC),
    ],
)
def test_the_update_given_the_same_episodes_is_the_engines_bytes(env_id, cfg):
    """Two updates of the engine's update_seed and the reference's update, on the same
    episodes (the second's played with the updated weights): the same loss and weights."""
    obs_dim, n_actions = check_env_id(env_id)
    continuous = env_id == "Pendulum-v1"
    torch.set_num_threads(1)
    learner = make_learner(1, obs_dim, n_actions, cfg, continuous)
    policy, critic = make_networks(1, obs_dim, n_actions, cfg, continuous)
    optimizers = [torch.optim.Adam(policy.parameters(), lr=cfg.lr, fused=True)]
    if critic is not None:
        optimizers.append(torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, fused=True))
    shuffle = seeding.minibatch_rng(1) if cfg.minibatches > 1 else None
    actor, stack = make_actor([learner.policy], [seeding.action_rng(1)])
    played = []
    run_lockstep(env_id, [1], 4, actor, lambda k, e: played.append(e))
    for batch in (played[:2], played[2:]):
        learner.pending = list(batch)
        loss = update_seed(learner, cfg)
        ref_loss = reference.update(
            policy, critic, optimizers, episodes_data(batch), cfg, shuffle, len(batch)
        )
        assert ref_loss == loss
        nets = [(learner.policy, policy)] + ([(learner.critic, critic)] if critic else [])
        for ours, theirs in nets:
            for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()):
                assert torch.equal(a, b)


# CleanRL's network (two hidden layers, tanh): the engine acts through the torch modules
# (policy.TorchActor), the same calls as the reference's, so the Gaussian head holds too.
TANH = {"hidden_sizes": (32, 32), "activation": "tanh"}
BYTE_RUNS = {
    "article": ("CartPole-v1", ARTICLE),
    "value-baseline": ("CartPole-v1", VALUE_BASELINE),
    "batched-entropy-clip": ("CartPole-v1", BATCHED),
    **{
        f"actor-critic-{name}": ("CartPole-v1", dataclasses.replace(ACTOR_CRITIC, algorithm=name))
        for name in algorithm_names()
    },
    "tanh-2x32": ("CartPole-v1", dataclasses.replace(ARTICLE, episodes=15, **TANH)),
    "gaussian-tanh-2x32": ("Pendulum-v1", dataclasses.replace(ARTICLE, episodes=3, **TANH)),
    "gaussian-actor-critic-tanh": (
        "Pendulum-v1",
        dataclasses.replace(ACTOR_CRITIC, episodes=3, activation="tanh", entropy_coef=0.01),
    ),
}


@pytest.mark.parametrize("env_id, cfg", BYTE_RUNS.values(), ids=BYTE_RUNS.keys())
def test_one_seed_on_the_per_episode_schedule_is_the_engines_bytes(env_id, cfg):
    """A short run: curve rows, env steps and checkpoint bytes (module docstring). Every
    algorithm file of reinforce/algos runs here with actor-critic's keys (a critic,
    epochs of clipped minibatches), so a new one is held to the reference at once."""
    assert_identical(cfg, env_id)


def test_the_reference_seeds_once_from_its_seed_alone(monkeypatch):
    """Everything random comes from the seed's streams: the global RNGs do not matter,
    the env is reset with the seed once (later resets continue its own RNG), and a
    second run is the same bytes."""
    resets = []
    make = gymnasium.make

    def counting_make(*args, **kwargs):
        env = make(*args, **kwargs)
        reset = env.reset

        def counted(**options):
            resets.append(options.get("seed"))
            return reset(**options)

        env.reset = counted
        return env

    monkeypatch.setattr(gymnasium, "make", counting_make)
    cfg = dataclasses.replace(VALUE_BASELINE, episodes=6)
    torch.manual_seed(1)
    np.random.seed(1)
    first = reference.train_reference(cfg, "CartPole-v1", 4)
    assert resets == [4] + [None] * 5
    torch.manual_seed(2)
    np.random.seed(2)
    torch.rand(3), np.random.rand(3)
    assert reference.train_reference(cfg, "CartPole-v1", 4)[1:] == first[1:]
    assert same_rows(reference.train_reference(cfg, "CartPole-v1", 4)[0], first[0])


def test_rollout_rows_carry_the_last_updates_loss_and_stop_at_the_budget():
    """The rollout schedule's bookkeeping, as the engine's: env steps of the recorded
    episodes, a row's loss the last update's while its episode ran (NaN before the first
    update), the run stopping at its budget of episodes."""
    cfg = dataclasses.replace(PPO, episodes=12, rollout_steps=32, minibatches=2)
    rows, checkpoint, steps = reference.train_reference(cfg, "CartPole-v1", 2)
    curves, _, engine_steps = engine(cfg, "CartPole-v1", [2])
    assert [row[0] for row in rows] == list(range(1, 13))
    assert steps == sum(row[2] for row in rows)
    ends = np.cumsum([row[2] for row in rows])
    for row, end in zip(rows, ends):
        start = end - row[2]
        # an update ran while the episode did: after env step 32 m, start < 32 m < end
        assert math.isnan(row[3]) == ((end - 1) // 32 == start // 32)
    # before the first update the runs are the same bytes (same seed, same draws); the
    # first update's loss the engine's up to float32 rounding
    before = int(np.searchsorted(ends, 32, side="right"))
    assert same_rows(rows[:before], curves[2][:before])
    updated = next(row for row in rows if not math.isnan(row[3]))
    assert updated[3] == pytest.approx(curves[2][updated[0] - 1][3], rel=1e-5)


def test_box_actions_on_rollouts_are_refused():
    with pytest.raises(ValueError, match="categorical"):
        reference.train_reference(PPO, "Pendulum-v1", 0)


# ------------------------------------------------------------------ longer runs, slow


@pytest.mark.slow
@pytest.mark.parametrize(
    "cfg",
    [
        dataclasses.replace(ARTICLE, episodes=200, hidden_dim=64),
        dataclasses.replace(ACTOR_CRITIC, episodes=100, hidden_dim=64),
    ],
    ids=["article-200", "actor-critic-100"],
)
def test_one_seed_on_the_per_episode_schedule_is_the_engines_bytes_long(cfg):
    """Long enough to learn (CartPole's episodes reach hundreds of steps): the module
    docstring's claim, on tens of thousands of actions."""
    assert_identical(cfg)


# Seeds per side of the statistical comparison, and its per-statistic level.
K = 10
ALPHA = 0.05 / 2  # two summaries per run: Bonferroni, family-wise 0.05
DETECTED_SD = 1.6  # a shift of this many seed SDs is detected with power >= 0.8 (below)


def test_the_stated_power_of_the_comparison():
    """The power the docstring of test_ppo_has_the_references_learning_curves states, by
    simulation: two-sided exact Mann-Whitney U at ALPHA, K seeds a side, normal per-seed
    summaries shifted by DETECTED_SD standard deviations."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, K))
    b = rng.standard_normal((4000, K)) + DETECTED_SD
    power = (mannwhitneyu(a, b, axis=1, method="exact").pvalue < ALPHA).mean()
    assert power >= 0.8, power
    b = rng.standard_normal((4000, K)) + DETECTED_SD - 0.3
    assert (mannwhitneyu(a, b, axis=1, method="exact").pvalue < ALPHA).mean() < 0.8


@pytest.mark.slow
def test_ppo_has_the_references_learning_curves():
    """The rollout schedule (ppo's loss, 128-step rollouts, 100 episodes of CartPole-v1):
    the engine on seeds 0..9 and the reference on the disjoint seeds 100..109 (disjoint:
    the same seed starts both runs on the same bytes until the first update, which would
    tie the samples), summarized per seed by the mean training return over the budget and
    by the mean of its last 20 episodes. For each summary, a two-sided exact Mann-Whitney
    U test of the same distribution at alpha 0.025 (Bonferroni over the two: family-wise
    0.05). Power: with K = 10 seeds a side, a shift of 1.6 standard deviations of the
    seeds' summary is detected with probability >= 0.8 (simulated,
    test_the_stated_power_of_the_comparison); measured, the seeds' SD of the mean return
    is about 25-30 (means 50-140), so a difference of about 45 in mean training return.
    The config learns: the seeds' last 20 episodes average several times their first."""
    seeds = list(range(K))
    curves, _, _ = engine(PPO, "CartPole-v1", seeds)
    ours = np.array([[row[1] for row in curves[seed]] for seed in seeds])
    theirs = np.array(
        [
            [row[1] for row in reference.train_reference(PPO, "CartPole-v1", 100 + s)[0]]
            for s in seeds
        ]
    )
    for returns in (ours, theirs):
        assert returns[:, -20:].mean() > 3 * returns[:, :20].mean()  # it learns
    for summary in (lambda r: r.mean(axis=1), lambda r: r[:, -20:].mean(axis=1)):
        p = mannwhitneyu(summary(ours), summary(theirs), method="exact").pvalue
        assert p >= ALPHA, (summary(ours), summary(theirs), p)
