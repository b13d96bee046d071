"""REINFORCE: the update and the training loop that runs many seeds in one process.

The path from config to update, for one variant:

    train_variant(cfg, env_id, seeds)
      -> per seed: networks and optimizers from seed_streams(seed)      (seeding, once)
      -> run_lockstep: every seed's env steps side by side; actions from NumPy copies of
         the policies (compiled, without autograd)
      -> at each seed's episode end: update_seed -> reinforce_losses on the whole episode
         in one batched pass -> Adam step -> refresh that seed's NumPy copy

Seeds never share a computation whose result depends on the others, so a seed's curves
and weights are the same bytes whether it trains alone or beside other seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from reinforce import algos, internals, seeding
from reinforce.agent.policy import (
    GaussianPolicy,
    Policy,
    ValueNet,
    checkpoint_meta,
    make_actor,
    make_networks,
    save_policy,
)
from reinforce.agent.rollouts import train_rollout_seeds
from reinforce.algos.base import Batch, Experience, gae
from reinforce.compute.backends import LocalBackend, RayBackend
from reinforce.compute.workers import Progress
from reinforce.io.config import TrainConfig
from reinforce.io.errors import TrainingDiverged
from reinforce.io.outputs import CURVE_COLUMNS
from reinforce.sim.envs import CartPoleBatch, check_env_id, classic_batch, is_continuous
from reinforce.sim.rollout import Episode, run_lockstep

if TYPE_CHECKING:
    import pandas as pd


internals.skip_dynamo_import()  # Adam.__init__ would import torch._dynamo (1-1.5 s)


# ------------------------------------------------------------------- the algorithm's inputs


def gae_advantages(
    rewards: np.ndarray,
    values: np.ndarray,
    final_value: float,
    terminated: bool,
    gamma: float,
    gae_lambda: float,
) -> np.ndarray:
    """algos.base.gae of one episode, from its values and V of the observation its last
    step returned (final_value; not read when it terminated)."""
    values = np.asarray(values, dtype=np.float64)
    next_values = np.append(values[1:], 0.0 if terminated else float(final_value))
    ended = np.zeros(len(values), dtype=bool)
    ended[-1] = True
    return gae(rewards, values, next_values, ended & terminated, ended, gamma, gae_lambda)


def log_probs_of(
    policy: Policy | GaussianPolicy, obs: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """log pi(a_t|s_t) of the taken actions (N,), and a function giving each row's entropy
    of pi(.|s_t) (N,): the categorical head's from log_softmax of the logits, the Gaussian
    head's from torch.distributions.Normal, summed over the action's dimensions (the
    log-probability of the unclipped sample the actor drew)."""
    if isinstance(policy, GaussianPolicy):
        distribution = policy.distribution(obs)
        return distribution.log_prob(actions).sum(-1), lambda: distribution.entropy().sum(-1)
    # forward, not policy(obs): the same operations without nn.Module.__call__'s hook
    # checks (no hook is ever registered on these networks), per update a fixed cost
    log_probs_all = F.log_softmax(policy.forward(obs), dim=-1)
    log_probs = log_probs_all.gather(1, actions[:, None]).squeeze(1)
    return log_probs, lambda: -(log_probs_all.exp() * log_probs_all).sum(-1)


@dataclass
class UpdateBatch:
    """One update's data, fixed before its first gradient step."""

    obs: torch.Tensor  # (N, obs_dim)
    actions: torch.Tensor  # (N,) int64, or (N, action_dim) float32 for a Box
    advantages: torch.Tensor  # (N,) the weights of -log pi(a|s)
    targets: torch.Tensor  # (N,) the critic's regression targets
    old_log_probs: torch.Tensor | None  # (N,) log pi_old(a|s), for the clipped objective
    old_values: torch.Tensor | None  # (N,) V(s) before the update; None without a critic
    episodes: int


def episodes_experience(
    critic: ValueNet | None, obs: torch.Tensor, episodes: Sequence[Episode]
) -> Experience:
    """A seed's whole episodes as one row of experience: the critic's values of every
    observation and, for the next ones, the following observation's value or, after an
    episode's last step, V of the observation it returned (0 where it terminated)."""
    ended = np.zeros(len(obs), dtype=bool)
    terminated = np.zeros(len(obs), dtype=bool)
    end = -1
    for episode in episodes:  # a handful per update; cheaper than NumPy's index arrays
        end += len(episode.rewards)
        ended[end] = True
        terminated[end] = episode.terminated
    rewards = (
        episodes[0].rewards if len(episodes) == 1 else np.concatenate([e.rewards for e in episodes])
    )
    values = next_values = None
    if critic is not None:
        with torch.no_grad():
            values = critic.forward(obs)
            cut = [e for e in episodes if not e.terminated]
            final = (
                critic.forward(torch.from_numpy(np.stack([e.final_obs for e in cut]))).numpy()
                if cut
                else np.zeros(0, dtype=np.float32)
            )
        next_values = np.append(values.numpy()[1:], 0.0).astype(np.float64)
        cut_ends = np.flatnonzero(ended & ~terminated)
        next_values[cut_ends] = final
        next_values[ended & terminated] = 0.0
    return Experience(rewards, terminated, ended, values, next_values)


def update_batch(
    policy: Policy | GaussianPolicy,
    critic: ValueNet | None,
    episodes: Sequence[Episode],
    cfg: TrainConfig,
) -> UpdateBatch:
    """The algorithm's advantages and critic targets of a batch of episodes."""
    obs = torch.from_numpy(np.concatenate([e.obs for e in episodes]))
    actions = torch.from_numpy(np.concatenate([e.actions for e in episodes]))
    experience = episodes_experience(critic, obs, episodes)
    advantage, target = algos.load(cfg.algorithm).targets(experience, cfg)
    old_log_probs = None
    if cfg.clip_ratio is not None:
        with torch.no_grad():
            old_log_probs = log_probs_of(policy, obs, actions)[0]
    return UpdateBatch(
        obs=obs,
        actions=actions,
        advantages=advantage,
        targets=target,
        old_log_probs=old_log_probs,
        old_values=experience.values,
        episodes=len(episodes),
    )


def batch_losses(
    policy: Policy | GaussianPolicy,
    critic: ValueNet | None,
    batch: UpdateBatch,
    cfg: TrainConfig,
    rows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The algorithm's (policy loss, critic loss) on `rows` of the batch (all when None)."""
    obs, actions, advantage, target = batch.obs, batch.actions, batch.advantages, batch.targets
    old_log_probs, old_values = batch.old_log_probs, batch.old_values
    if rows is not None:
        # index_select: the rows tensor[rows] copies, in fewer calls
        obs, actions = obs.index_select(0, rows), actions.index_select(0, rows)
        advantage, target = advantage.index_select(0, rows), target.index_select(0, rows)
        if old_log_probs is not None:
            old_log_probs = old_log_probs.index_select(0, rows)
        if old_values is not None:
            old_values = old_values.index_select(0, rows)
    log_probs, entropies = log_probs_of(policy, obs, actions)
    return algos.load(cfg.algorithm).losses(
        Batch(
            log_probs=log_probs,
            entropies=entropies,
            values=None if critic is None else critic.forward(obs),
            old_values=old_values,
            advantages=advantage,
            targets=target,
            old_log_probs=old_log_probs,
            episodes=batch.episodes,
        ),
        cfg,
    )


def reinforce_losses(
    policy: Policy | GaussianPolicy,
    critic: ValueNet | None,
    episodes: Sequence[Episode],
    cfg: TrainConfig,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The algorithm's losses on a batch of whole episodes, in one batched pass."""
    return batch_losses(policy, critic, update_batch(policy, critic, episodes, cfg), cfg)


# ------------------------------------------------------------------------------ seeding


@dataclass
class SeedStreams:
    """Everything random in one seed's run, derived from that seed alone."""

    init: torch.Generator  # network initialization
    actions: np.random.Generator  # action sampling
    # env resets: env.reset(seed=seed) once, later resets continue the env's own RNG


def seed_streams(seed: int) -> SeedStreams:
    return SeedStreams(init=seeding.init_generator(seed), actions=seeding.action_rng(seed))


# ------------------------------------------------------------------------ training loop


@dataclass
class SeedLearner:
    seed: int
    policy: Policy | GaussianPolicy
    optimizer: torch.optim.Optimizer
    critic: ValueNet | None
    critic_optimizer: torch.optim.Optimizer | None
    rng: np.random.Generator
    shuffle: np.random.Generator | None = None  # minibatch order, with minibatches > 1
    pending: list[Episode] = field(default_factory=list)
    parameters: list[torch.Tensor] = field(default_factory=list)  # policy's, then critic's
    rows: list[tuple] = field(default_factory=list)  # (episode, return, length, loss)
    # the optimizers' steps (FusedAdamStep), and flat NumPy views of `parameters` for
    # check_finite: the same objects for the whole run (Adam updates in place)
    policy_step: FusedAdamStep = field(init=False)
    critic_step: FusedAdamStep | None = field(init=False)
    weight_arrays: list[np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.policy_step = FusedAdamStep(self.optimizer)
        self.critic_step = (
            None if self.critic_optimizer is None else FusedAdamStep(self.critic_optimizer)
        )
        self.weight_arrays = [p.detach().view(-1).numpy() for p in self.parameters]


def make_learner(
    seed: int, obs_dim: int, n_actions: int, cfg: TrainConfig, continuous: bool = False
) -> SeedLearner:
    """n_actions: the Discrete's n, or the Box action's dimensions when continuous."""
    policy, critic = make_networks(seed, obs_dim, n_actions, cfg, continuous)
    critic_optimizer = None
    if critic is not None:
        critic_optimizer = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, fused=True)
    shuffle = None
    if cfg.minibatches > 1:
        shuffle = seeding.minibatch_rng(seed)
    # fused: the same Adam update in one kernel per step, ~20% faster on these tiny nets
    parameters = [*policy.parameters(), *(critic.parameters() if critic else ())]
    return SeedLearner(
        seed=seed,
        policy=policy,
        optimizer=torch.optim.Adam(policy.parameters(), lr=cfg.lr, fused=True),
        critic=critic,
        critic_optimizer=critic_optimizer,
        rng=seeding.action_rng(seed),
        shuffle=shuffle,
        parameters=parameters,
    )


class FusedAdamStep:
    """optimizer.step() for a fused Adam with one parameter group, as a call of the kernel
    that Adam.step's fused core calls, with the same arguments: the group's settings, the
    state tensors, and the step counters incremented the same way first
    (reinforce/internals.py, fused_adam). The same kernel and bytes
    (tests/test_training.py), without Optimizer.step's per-call hooks and profiling, nor
    the functional path's checks and grouping by device and dtype (one CPU float32 group
    here), which cost several times the kernel on these networks; the state's lists are
    gathered once, so only this object (or adam_step) may step the optimizer.

    The first step creates the state with Adam.step's own code, not through Adam.step,
    which imports torch._dynamo; a group that the kernel does not cover alone (amsgrad,
    capturable, differentiable, not fused), a parameter lacking a gradient, or the
    private internals switched off go through optimizer.step() itself."""

    def __init__(self, optimizer: torch.optim.Adam):
        self.optimizer = optimizer
        (self.group,) = optimizer.param_groups
        self.params = self.group["params"]
        self.state: tuple[list[torch.Tensor], ...] | None = None  # moments, steps
        self.direct = internals.ON["fused_adam"]

    def _prepare(self) -> tuple[list[torch.Tensor], ...]:
        optimizer = self.optimizer
        states = [optimizer.state.get(p) for p in self.params]
        if not all(states):
            internals.init_adam_state(optimizer)
            states = [optimizer.state[p] for p in self.params]
        return tuple([state[key] for state in states] for key in ("exp_avg", "exp_avg_sq", "step"))

    def __call__(self) -> None:
        group = self.group
        grads = [p.grad for p in self.params]
        if (
            not self.direct
            or any(grad is None for grad in grads)
            or not group["fused"]
            or group["amsgrad"]
            or group["capturable"]
            or group["differentiable"]
        ):
            self.optimizer.step()
            return
        if self.state is None:
            self.state = self._prepare()
        exp_avgs, exp_avg_sqs, steps = self.state
        internals.add_one_(steps)
        beta1, beta2 = group["betas"]
        internals.fused_adam_(
            self.params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            steps,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )


def adam_step(optimizer: torch.optim.Adam) -> None:
    """One FusedAdamStep of optimizer (which gathers the state's lists anew)."""
    FusedAdamStep(optimizer)()


def _step(
    learner: SeedLearner,
    policy_loss: torch.Tensor,
    critic_loss: torch.Tensor | None,
    cfg: TrainConfig,
) -> None:
    # Fixed per-call costs dominate on these tiny networks (an update with epochs and
    # minibatches takes dozens of steps), hence: grads set to None directly (what
    # zero_grad does, without its profiler hooks), and one backward pass through the sum
    # of both losses. The policy and the critic share no parameter, so each gets exactly
    # the gradient of its own loss (d sum / d loss = 1), the same bytes as two passes.
    for parameter in learner.parameters:
        parameter.grad = None
    (policy_loss if critic_loss is None else policy_loss + critic_loss).backward()
    if cfg.grad_clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(learner.policy.parameters(), cfg.grad_clip_norm)
    learner.policy_step()
    if critic_loss is not None:
        learner.critic_step()


def update_seed(learner: SeedLearner, cfg: TrainConfig) -> float:
    """Update on the pending episodes: update_epochs passes over them, each in
    `minibatches` shuffled minibatches (one gradient step of policy and critic each), the
    advantages and targets fixed before the first step. Returns the mean policy loss."""
    batch = update_batch(learner.policy, learner.critic, learner.pending, cfg)
    learner.pending = []
    if cfg.update_epochs == 1 and cfg.minibatches == 1:
        policy_loss, critic_loss = batch_losses(learner.policy, learner.critic, batch, cfg)
        _step(learner, policy_loss, critic_loss, cfg)
        return policy_loss.item()
    losses = []
    for _ in range(cfg.update_epochs):
        if cfg.minibatches == 1:
            splits = [None]
        else:
            order = learner.shuffle.permutation(len(batch.actions))
            # tensor_split: np.array_split's sections (the first len % minibatches one
            # longer), as views of one tensor, without array_split's Python-level cost
            splits = [
                rows for rows in torch.from_numpy(order).tensor_split(cfg.minibatches) if len(rows)
            ]
        for rows in splits:
            policy_loss, critic_loss = batch_losses(
                learner.policy, learner.critic, batch, cfg, rows
            )
            _step(learner, policy_loss, critic_loss, cfg)
            losses.append(policy_loss.item())
    return float(np.mean(losses))


def check_finite(learner: SeedLearner, loss: float, episode: int, cfg: TrainConfig) -> None:
    """TrainingDiverged.check of a learner's update. Reads values only."""
    nets = [learner.policy] + ([] if learner.critic is None else [learner.critic])
    # NumPy's isfinite on views of the weights: the same test, several times cheaper per
    # update than torch's isfinite(...).all() on these tiny tensors; on the learner's own
    # flat views (walking the modules' parameters() costs as much again)
    weights = learner.weight_arrays or [
        p.detach().view(-1).numpy() for net in nets for p in net.parameters()
    ]
    TrainingDiverged.check(
        learner.seed,
        episode,
        loss,
        weights,
        cfg.lr,
        None if learner.critic is None else cfg.critic_lr,
        can_clip=cfg.grad_clip_norm is None,
    )


@dataclass
class TrainResult:
    rows: list[tuple]  # (seed, episode, return, length, loss), by seed then episode
    checkpoints: dict[int, bytes]  # seed -> saved policy (and critic)
    obs_dim: int
    n_actions: int
    env_steps: int
    seconds: float

    @property
    def curves(self) -> pd.DataFrame:
        """The rows as a DataFrame of CURVE_COLUMNS (the train stage writes the rows
        without it: outputs.curves_csv, no pandas import)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(CURVE_COLUMNS))


def train_seeds(
    cfg: TrainConfig,
    env_id: str,
    obs_dim: int,
    n_actions: int,
    seeds: Sequence[int],
    report: Callable[[float], None],
) -> tuple[list[tuple], dict[int, bytes], int]:
    """Train the given seeds side by side in this process: (curve rows, checkpoints, steps).
    obs_dim and n_actions are env_id's, as check_env_id gives them."""
    if cfg.rollout_steps is not None:
        return train_rollout_seeds(cfg, env_id, obs_dim, n_actions, seeds, report)
    torch.set_num_threads(1)  # results must not depend on the machine's core count

    continuous = is_continuous(env_id)
    learners = [make_learner(seed, obs_dim, n_actions, cfg, continuous) for seed in seeds]
    actor, stack = make_actor(
        [learner.policy for learner in learners], [learner.rng for learner in learners]
    )

    def on_episode_end(k: int, episode: Episode) -> None:
        learner = learners[k]
        learner.pending.append(episode)
        loss = float("nan")  # no update after this episode (episodes_per_update > 1)
        if len(learner.pending) == cfg.episodes_per_update or len(learner.rows) + 1 == cfg.episodes:
            loss = update_seed(learner, cfg)
            check_finite(learner, loss, len(learner.rows) + 1, cfg)
            stack.refresh(k, learner.policy)
        episode_return = float(episode.rewards.sum())
        learner.rows.append((len(learner.rows) + 1, episode_return, len(episode.rewards), loss))
        report(episode_return, (learner.seed, *learner.rows[-1]))  # the row: live metrics

    steps = run_lockstep(env_id, seeds, cfg.episodes, actor, on_episode_end)
    meta = checkpoint_meta(env_id, obs_dim, n_actions, cfg, continuous)
    rows = [(learner.seed, *row) for learner in learners for row in learner.rows]
    checkpoints = {
        learner.seed: save_policy(learner.policy, learner.critic, {**meta, "seed": learner.seed})
        for learner in learners
    }
    return rows, checkpoints, steps


def describe_engine(cfg: TrainConfig, env_id: str) -> str:
    """Which paths the engine takes for this config and env, in words (the train stage
    prints it): what is compiled or stacked, and what runs on the plain path, and why."""
    if cfg.rollout_steps is not None:
        schedule = f"rollouts of {cfg.rollout_steps} steps, every seed's update stacked"
    else:
        schedule = "updates at each seed's episode ends"
    if CartPoleBatch.supports(env_id):
        envs = "compiled CartPole"
    elif classic_batch(env_id) is not None:
        envs = "compiled classic-control steps"
    else:
        envs = "gymnasium.make per seed (no compiled step for this env)"
    if len(cfg.hidden_sizes or (cfg.hidden_dim,)) == 1 and cfg.activation == "relu":
        actor = "compiled actor"
    else:
        actor = "torch modules acting (the compiled actor has one ReLU hidden layer)"
    return f"algorithm {cfg.algorithm}; {schedule}; {envs}; {actor}"


def train_variant(
    cfg: TrainConfig,
    env_id: str,
    seeds: Sequence[int],
    workers: int = 1,
    label: str = "train",
    backend: LocalBackend | RayBackend | None = None,
    on_row: Callable[[tuple], None] | None = None,
) -> TrainResult:
    """Train every seed of one variant, the seeds split over `workers` processes, or as
    the given backend (reinforce/compute/backends.py) splits them; on_row gets each
    finished episode's curve row in this process (the live metrics)."""
    obs_dim, n_actions = check_env_id(env_id)
    print(f"{label}: {describe_engine(cfg, env_id)}", flush=True)
    backend = backend or LocalBackend(workers)
    start = time.perf_counter()
    try:
        groups = backend.map(
            partial(train_seeds, cfg, env_id, obs_dim, n_actions),
            seeds,
            Progress(label, cfg.episodes * len(seeds), on_row=on_row),
        )
    except TrainingDiverged as err:
        raise TrainingDiverged(f"{label}: {err}") from None
    seconds = time.perf_counter() - start
    rows = sorted(row for group_rows, _, _ in groups for row in group_rows)
    checkpoints = {
        seed: data for _, group_checkpoints, _ in groups for seed, data in group_checkpoints.items()
    }
    return TrainResult(
        rows=rows,
        checkpoints=dict(sorted(checkpoints.items())),
        obs_dim=obs_dim,
        n_actions=n_actions,
        env_steps=sum(steps for _, _, steps in groups),
        seconds=seconds,
    )
