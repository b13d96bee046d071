"""Fixed-length rollouts (train.rollout_steps): PPO's schedule, every seed updating at once.

Every seed plays exactly rollout_steps env steps (its episodes cut across rollouts), then
all seeds update together: GAE(lambda) over each seed's rollout (a time-limit truncation
and the rollout's own cut bootstrapped from the critic, a termination from 0), then
update_epochs passes of `minibatches` clipped-PPO steps, each step ONE batched torch call
over the seeds' stacked weights (row k of every tensor is seed k's) and one fused Adam
step per network on the stacked tensors. The per-episode path (reinforce/agent/train.py)
makes 32 tiny calls per episode per seed; here one call serves every seed.

A seed's bytes do not depend on the seeds beside it (tests/test_rollouts.py):
- every operation on the stacks works row by row: bmm/baddbmm multiply each seed's own
  matrices and the reductions run along a seed's own rows. Two exceptions, found by the
  tests: a bmm of a batch of ONE goes to a different kernel (a matrix-vector product for
  the critic's single output) whose float32 sums round differently, so a stack always
  has at least two rows (a lone seed trains beside a copy of itself, whose results are
  dropped); and the fused Adam kernel rounds its vectorized body and its scalar tail
  differently, so on a whole stack an element's bytes would depend on where the stack
  ends. StackedAdam steps each seed's rows as tensors of their own: torch.optim.Adam's
  bytes for that seed alone (tests).
- a seed's randomness comes from its own streams (reinforce/seeding.py): init, actions
  and the minibatch order, as the per-episode path's;
- a seed stops at the end of its `episodes`-th episode: its curves end there and its
  checkpoint holds its weights at that moment. Seeds still playing keep the others'
  rows in the stack; what those rows compute afterwards is never read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from reinforce import algos, internals, seeding
from reinforce.agent.policy import (
    ACTIVATIONS,
    GumbelStreams,
    Policy,
    StackedActor,
    StackedPolicies,
    TorchActor,
    ValueNet,
    checkpoint_meta,
    compiled_forward_covers,
    make_networks,
    save_policy,
)
from reinforce.algos.base import Batch, Experience
from reinforce.io.config import TrainConfig
from reinforce.io.errors import ConfigError, TrainingDiverged
from reinforce.sim._kernels import compiled_trig_matches_numpy
from reinforce.sim.envs import CartPoleBatch, classic_batch, is_continuous, make_env

MIN_STACK = 2  # rows of a stack: see the module's docstring (a bmm of one differs)


# ------------------------------------------------------------------------ environments


class _Envs:
    """Every seed's env, never dropped, advanced by `advance`: the compiled CartPole loop
    (choosing the actions too, many steps per call) where it reproduces gymnasium, else
    one lockstep step per call through the compiled classic-control batches or
    gymnasium.make. Both give the same episodes (tests/test_rollout.py, and here
    tests/test_rollouts.py)."""

    def __init__(self, env_id: str, seeds: Sequence[int], compiled_actor: bool = True):
        self.cartpole = CartPoleBatch.supports(env_id)
        batch_class = None if self.cartpole else classic_batch(env_id)
        self.compiled = self.cartpole and compiled_actor and compiled_trig_matches_numpy()
        if self.cartpole:
            self.batch = CartPoleBatch(env_id, seeds)
            n, limit = len(seeds), self.batch.max_steps
            self.record = (
                np.empty((n, limit, 4), dtype=np.float32),
                np.empty((n, limit), dtype=np.int64),
            )
        elif batch_class is not None:
            self.batch = batch_class(env_id, seeds)
        else:
            self.batch = None
            self.envs = [make_env(env_id) for _ in seeds]
            self.current = np.stack(
                [env.reset(seed=int(s))[0] for env, s in zip(self.envs, seeds)]
            ).astype(np.float32)
        self.rows = np.arange(len(seeds))

    def observation(self) -> np.ndarray:
        if self.batch is None:
            return self.current.copy()
        return self.batch.observation()

    def advance(self, actor: StackedActor, step: int, current: np.ndarray):
        """Play from lockstep step `step` until an episode ends or the actor's noise block
        does (one step where not compiled): (steps taken, their observations (n, taken,
        obs_dim), actions and rewards (n, taken), the observation the last step returned
        (n, obs_dim), its terminated and truncated (n,)); no episode ends before it."""
        if self.compiled:
            start = self.batch.elapsed.copy()
            taken, terminated, truncated = self.batch.play(
                *actor.arrays_at(step, self.rows), step, self.record
            )
            columns = start[:, None] + np.arange(taken)
            obs = self.record[0][self.rows[:, None], columns]
            actions = self.record[1][self.rows[:, None], columns]
            rewards = np.ones((len(self.rows), taken))
            return taken, obs, actions, rewards, self.batch.observation(), terminated, truncated
        actions = actor(current, self.rows, step)
        next_obs, rewards, terminated, truncated = self._step(actions)
        return (
            1,
            current[:, None],
            actions[:, None],
            rewards[:, None],
            next_obs,
            terminated,
            truncated,
        )

    def _step(self, actions: np.ndarray):
        if self.cartpole:
            obs, terminated, truncated = self.batch.step(np.ascontiguousarray(actions))
            return obs, np.ones(len(actions)), terminated, truncated
        if self.batch is not None:
            return self.batch.step(actions)
        results = [env.step(int(a)) for env, a in zip(self.envs, actions.tolist())]
        obs = np.stack([r[0] for r in results]).astype(np.float32)
        rewards = np.array([r[1] for r in results], dtype=np.float64)
        terminated = np.array([r[2] for r in results], dtype=bool)
        truncated = np.array([r[3] for r in results], dtype=bool)
        self.current = obs.copy()
        return obs, rewards, terminated, truncated

    def reset(self, k: int) -> np.ndarray:
        """Start env k's next episode from its own RNG; its observation."""
        if self.batch is not None:
            return self.batch.reset_row(k)
        obs = np.asarray(self.envs[k].reset()[0], dtype=np.float32)
        self.current[k] = obs
        return obs

    def close(self) -> None:
        if self.batch is not None:
            self.batch.close()
        else:
            for env in self.envs:
                env.close()


def noise_block(rollout_steps: int) -> int:
    """The actor's noise block: the largest divisor of rollout_steps up to 512 (the
    per-episode path's block), so that the compiled loop, which stops where a block
    ends, never plays across a rollout's end. The draws are the same for any block."""
    return max(d for d in range(1, min(rollout_steps, 512) + 1) if rollout_steps % d == 0)


# -------------------------------------------------------------------- stacked networks


def _stack(nets: Sequence[Policy | ValueNet], rows: int) -> list[torch.Tensor]:
    """[W1 (rows, out1, in), b1 (rows, 1, out1), W2, b2, ...]: each Linear layer's weight
    and bias of the nets, stacked, the last net repeated up to `rows`, as leaf tensors."""
    nets = list(nets) + [nets[-1]] * (rows - len(nets))
    tensors = []
    for depth in range(len(nets[0].layers)):
        layers = [net.layers[depth] for net in nets]
        tensors.append(torch.stack([layer.weight.detach() for layer in layers]))
        tensors.append(torch.stack([layer.bias.detach()[None] for layer in layers]))
    return [t.clone().requires_grad_() for t in tensors]


def stacked_forward(
    weights: Sequence[torch.Tensor], obs: torch.Tensor, activation: str = "relu"
) -> torch.Tensor:
    """(rows, M, obs_dim) -> (rows, M, out): each row's MLP (Linear - activation - ... -
    Linear, policy.py's) on its own observations, in one baddbmm per layer."""
    act = ACTIVATIONS[activation][1]
    hidden = obs
    for w, b in zip(weights[0:-2:2], weights[1:-2:2]):
        hidden = act(torch.baddbmm(b, hidden, w.transpose(1, 2)))
    return torch.baddbmm(weights[-1], hidden, weights[-2].transpose(1, 2))


# A seed's part of a stacked tensor whose size per seed is a multiple of this many floats
# lies wholly inside the fused Adam kernel's vectorized body, alone as in any stack (64:
# above any CPU's vector width, and its unrolling); any other tensor is stepped row by row.
WHOLE_STACK_FLOATS = 64


class StackedAdam:
    """torch.optim.Adam(fused=True) with its defaults, on stacked tensors, giving each
    seed's rows the bytes of the fused Adam on that seed's tensors alone: the fused kernel
    rounds its vectorized body and its scalar tail differently, so a tensor whose size per
    seed is not a multiple of WHOLE_STACK_FLOATS is stepped as one parameter per seed (a
    view of its row, with its own moments and step count); the others in one piece (the
    same vectorized arithmetic on every element). One call of the fused kernel serves
    every row (reinforce/internals.py, stacked_adam); with the private internals switched
    off, a torch.optim.Adam(fused=True) over the same parts, the same bytes."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float):
        self.params, self.lr = list(params), lr
        self.split = [p[0].numel() % WHOLE_STACK_FLOATS != 0 for p in self.params]
        self.exp_avgs = self._parts([torch.zeros_like(p) for p in self.params])
        self.exp_avg_sqs = self._parts([torch.zeros_like(p) for p in self.params])
        with torch.no_grad():
            self.views = self._parts(self.params)
        public = not internals.ON["stacked_adam"]
        self.public = torch.optim.Adam(self.views, lr=lr, fused=True) if public else None
        # Adam._init_group's fused step counter (a float32 scalar), shared by the parts
        self.step_count = torch.zeros((), dtype=torch.float32)

    def _parts(self, tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        parts = []
        for tensor, split in zip(tensors, self.split):
            parts.extend(tensor.unbind(0) if split else [tensor])
        return parts

    def step(self) -> None:
        grads = self._parts([p.grad for p in self.params])
        if self.public is not None:
            for view, grad in zip(self.views, grads):
                view.grad = grad
            self.public.step()
            return
        self.step_count += 1  # what torch.optim.adam._fused_adam adds to each step tensor
        with torch.no_grad():  # as Adam.step: the update is not part of any graph
            # The kernel that _fused_adam (Adam.step's fused core) calls, with the same
            # arguments, called directly: its grouping by device and one step counter per
            # parameter cost more than the kernel here, and every part has the same count.
            internals.fused_adam_(
                self.views,
                grads,
                self.exp_avgs,
                self.exp_avg_sqs,
                [self.step_count] * len(self.views),
                lr=self.lr,
                beta1=0.9,
                beta2=0.999,
                weight_decay=0.0,
                eps=1e-8,
                maximize=False,
            )


def _write_back(weights: Sequence[torch.Tensor], row: int, net: Policy | ValueNet) -> None:
    with torch.no_grad():
        for depth, layer in enumerate(net.layers):
            layer.weight.copy_(weights[2 * depth][row])
            layer.bias.copy_(weights[2 * depth + 1][row, 0])


def clip_rows(weights: Sequence[torch.Tensor], rows: int, max_norm: float) -> None:
    """torch.nn.utils.clip_grad_norm_ of each row's gradients alone (a seed's policy):
    their global 2-norm from get_total_norm, and every gradient of the row scaled by
    min(1, max_norm / (norm + 1e-6)), clip_grad_norm_'s factor."""
    with torch.no_grad():
        for row in range(rows):
            grads = [w.grad[row] for w in weights]
            total = torch.nn.utils.get_total_norm(grads)
            factor = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            for grad in grads:
                grad.mul_(factor)


def _padded(array: np.ndarray, rows: int) -> np.ndarray:
    """array's seed rows, row 0 repeated up to `rows` (the stack's padding)."""
    if len(array) >= rows:
        return array
    return np.concatenate([array, np.repeat(array[:1], rows - len(array), axis=0)])


def stacked_losses(
    policy: Sequence[torch.Tensor],
    critic: Sequence[torch.Tensor],
    obs: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    targets: torch.Tensor,
    old_log_probs: torch.Tensor,
    cfg: TrainConfig,
    old_values: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's (policy loss, critic loss), (rows,) each: the algorithm's losses on the
    row's minibatch, from the stacked networks' log-probabilities, entropies and values."""
    log_probs_all = torch.log_softmax(stacked_forward(policy, obs, cfg.activation), dim=-1)
    log_probs = log_probs_all.gather(2, actions[..., None]).squeeze(2)
    return algos.load(cfg.algorithm).losses(
        Batch(
            log_probs=log_probs,
            entropies=lambda: -(log_probs_all.exp() * log_probs_all).sum(2),
            values=stacked_forward(critic, obs, cfg.activation).squeeze(2),
            old_values=old_values,
            advantages=advantages,
            targets=targets,
            old_log_probs=old_log_probs,
            episodes=None,
        ),
        cfg,
    )


# ----------------------------------------------------------------------------- training


def train_rollout_seeds(
    cfg: TrainConfig,
    env_id: str,
    obs_dim: int,
    n_actions: int,
    seeds: Sequence[int],
    report: Callable[[float], None],
) -> tuple[list[tuple], dict[int, bytes], int]:
    """train.train_seeds for rollout_steps: (curve rows, checkpoints, env steps of the
    seeds' recorded episodes)."""
    if is_continuous(env_id):
        raise ConfigError(
            f"train.rollout_steps: got {cfg.rollout_steps} for {env_id}; allowed: null for an "
            "env with Box actions (the batched update has the categorical head only)"
        )
    torch.set_num_threads(1)  # results must not depend on the machine's core count
    n, steps_per_rollout = len(seeds), cfg.rollout_steps
    rows = max(n, MIN_STACK)
    policies, critics = map(
        list, zip(*[make_networks(seed, obs_dim, n_actions, cfg) for seed in seeds])
    )
    policy, critic = _stack(policies, rows), _stack(critics, rows)
    policy_adam, critic_adam = StackedAdam(policy, cfg.lr), StackedAdam(critic, cfg.critic_lr)
    rngs = [seeding.action_rng(seed) for seed in seeds]
    block = noise_block(steps_per_rollout)
    if compiled_forward_covers(policies[0]):
        stack = StackedPolicies(policies)
        actor = StackedActor(stack, GumbelStreams(rngs, n_actions, block))
    else:  # the plain path: each seed's module acts, its weights written back per update
        actor = stack = TorchActor(policies, rngs, block)
    shuffles = [seeding.minibatch_rng(seed) for seed in seeds] if cfg.minibatches > 1 else []

    obs_buf = np.empty((n, steps_per_rollout, obs_dim), dtype=np.float32)
    next_buf = np.empty_like(obs_buf)
    action_buf = np.empty((n, steps_per_rollout), dtype=np.int64)
    reward_buf = np.empty((n, steps_per_rollout))
    terminated_buf = np.empty((n, steps_per_rollout), dtype=bool)
    ended_buf = np.empty((n, steps_per_rollout), dtype=bool)

    curves: list[list[tuple]] = [[] for _ in seeds]
    checkpoints: dict[int, bytes] = {}
    episode_return, episode_length = np.zeros(n), np.zeros(n, dtype=np.int64)
    episode_loss = np.full(n, np.nan)  # the last update's loss while the episode ran
    meta = checkpoint_meta(env_id, obs_dim, n_actions, cfg)
    envs = _Envs(env_id, seeds, compiled_actor=isinstance(stack, StackedPolicies))
    step = env_steps = 0
    try:
        current = envs.observation()
        while len(checkpoints) < n:
            t = 0
            while t < steps_per_rollout:
                taken, obs, actions, rewards, last_obs, terminated, truncated = envs.advance(
                    actor, step, current
                )
                step += taken
                span, last = slice(t, t + taken), t + taken - 1
                obs_buf[:, span], action_buf[:, span], reward_buf[:, span] = obs, actions, rewards
                next_buf[:, t:last] = obs[:, 1:]
                next_buf[:, last] = last_obs
                terminated_buf[:, span] = ended_buf[:, span] = False
                ended = terminated | truncated
                terminated_buf[:, last], ended_buf[:, last] = terminated, ended
                t += taken
                assert t <= steps_per_rollout  # the noise block divides the rollout
                # one step per call unless compiled, where every reward is CartPole's 1.0
                episode_return += rewards.sum(axis=1)
                episode_length += taken
                current = last_obs
                for k in np.flatnonzero(ended).tolist():
                    if seeds[k] not in checkpoints:
                        curve = curves[k]
                        length = int(episode_length[k])
                        curve.append(
                            (len(curve) + 1, float(episode_return[k]), length, episode_loss[k])
                        )
                        env_steps += length
                        report(float(episode_return[k]), (seeds[k], *curve[-1]))
                        if len(curve) == cfg.episodes:
                            _write_back(policy, k, policies[k])
                            _write_back(critic, k, critics[k])
                            checkpoints[seeds[k]] = save_policy(
                                policies[k], critics[k], {**meta, "seed": seeds[k]}
                            )
                    episode_return[k], episode_length[k] = 0.0, 0
                    episode_loss[k] = np.nan
                    current[k] = envs.reset(k)
                if len(checkpoints) == n:
                    break
            else:
                losses = _update(
                    policy,
                    critic,
                    (policy_adam, critic_adam),
                    shuffles,
                    (obs_buf, next_buf, action_buf, reward_buf, terminated_buf, ended_buf),
                    rows,
                    cfg,
                )
                _check_finite(seeds, checkpoints, losses, policy, critic, curves, cfg)
                episode_loss[:] = losses
                for k in range(n):  # the actor acts with each seed's updated policy
                    _write_back(policy, k, policies[k])
                    stack.refresh(k, policies[k])
    finally:
        envs.close()
    rows_out = [(seed, *row) for seed, curve in zip(seeds, curves) for row in curve]
    return rows_out, checkpoints, env_steps


def _update(policy, critic, optimizers, shuffles, buffers, rows, cfg) -> np.ndarray:
    """One update of every row on its rollout; each seed's mean policy loss (n,)."""
    obs_np, next_np, actions_np, rewards, terminated, ended = buffers
    n, steps = actions_np.shape
    obs = torch.from_numpy(_padded(obs_np, rows))
    actions = torch.from_numpy(_padded(actions_np, rows))
    with torch.no_grad():
        values = stacked_forward(critic, obs, cfg.activation).squeeze(2)
        next_obs = torch.from_numpy(_padded(next_np, rows))
        next_values = stacked_forward(critic, next_obs, cfg.activation).squeeze(2)
        experience = Experience(
            rewards=_padded(rewards, rows),
            terminated=_padded(terminated, rows),
            ended=_padded(ended, rows),
            values=values,
            next_values=next_values.numpy(),
        )
        advantage, targets = algos.load(cfg.algorithm).targets(experience, cfg)
        log_probs_all = torch.log_softmax(stacked_forward(policy, obs, cfg.activation), dim=-1)
        old_log_probs = log_probs_all.gather(2, actions[..., None]).squeeze(2)
    size = steps // cfg.minibatches
    seed_rows = torch.arange(rows)[:, None]
    parameters = [*policy, *critic]
    losses = []
    for _ in range(cfg.update_epochs):
        if shuffles:
            # each seed's own order from its own stream; the padding rows take 0..steps-1
            orders = [shuffle.permutation(steps) for shuffle in shuffles]
            orders += [np.arange(steps)] * (rows - n)
            order = torch.from_numpy(np.stack(orders))
        else:
            order = torch.arange(steps).expand(rows, steps)
        for start in range(0, steps, size):
            pick = order[:, start : start + size]
            policy_loss, critic_loss = stacked_losses(
                policy,
                critic,
                obs[seed_rows, pick],
                actions[seed_rows, pick],
                advantage[seed_rows, pick],
                targets[seed_rows, pick],
                old_log_probs[seed_rows, pick],
                cfg,
                values[seed_rows, pick],
            )
            for parameter in parameters:
                parameter.grad = None
            # Rows share no parameter: each row's weights get exactly the gradient of its
            # own two losses (d sum / d loss = 1), as train._step's one backward pass.
            (policy_loss + critic_loss).sum().backward()
            if cfg.grad_clip_norm is not None:
                clip_rows(policy, rows, cfg.grad_clip_norm)
            for optimizer in optimizers:
                optimizer.step()
            losses.append(policy_loss.detach()[:n].numpy().astype(np.float64))
    return np.mean(np.stack(losses), axis=0)


def _check_finite(seeds, checkpoints, losses, policy, critic, curves, cfg) -> None:
    """TrainingDiverged.check of the seeds still training (a finished seed's row is never
    read again)."""
    for k, seed in enumerate(seeds):
        if seed not in checkpoints:
            TrainingDiverged.check(
                seed,
                len(curves[k]) + 1,
                float(losses[k]),
                [p[k].detach().numpy().ravel() for p in [*policy, *critic]],
                cfg.lr,
                cfg.critic_lr,
                can_clip=cfg.grad_clip_norm is None,
            )
