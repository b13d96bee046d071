"""Policy and value networks, and a NumPy copy of many seeds' policies for acting fast."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reinforce import algos, seeding
from reinforce.io.paths import policy_name
from reinforce.sim import _kernels


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    # The same distribution as nn.Linear's default init (kaiming_uniform with a=sqrt(5),
    # i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias), drawn from the
    # seed's own generator instead of torch's global RNG.
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)


def _uninitialized_linear(in_dim: int, out_dim: int) -> nn.Linear:
    # What nn.utils.skip_init(nn.Linear, ...) gives: built on the meta device, so that
    # building it neither draws from nor depends on the global RNG, then given empty CPU
    # parameters. skip_init's to_empty() goes through torch's Python empty_like, whose
    # first call imports sympy (~0.5-0.8 s per process); torch.empty does not.
    layer = nn.Linear(in_dim, out_dim, device="meta")
    layer.weight = nn.Parameter(torch.empty(out_dim, in_dim))
    layer.bias = nn.Parameter(torch.empty(out_dim))
    return layer


# The hidden layers' activations: the module the Sequential holds (its state_dict has no
# entry for it) and the function a forward calls.
ACTIVATIONS = {"relu": (nn.ReLU, torch.relu), "tanh": (nn.Tanh, torch.tanh)}


def hidden_sizes_of(hidden) -> tuple[int, ...]:
    """hidden_dim (one layer) or hidden_sizes (a layer each) as a tuple of widths."""
    return (int(hidden),) if isinstance(hidden, int) else tuple(int(h) for h in hidden)


def _mlp(
    in_dim: int, hidden, out_dim: int, generator: torch.Generator, activation: str = "relu"
) -> nn.Sequential:
    """Linear - activation - ... - Linear, every layer drawn from generator in order (its
    weight, then its bias)."""
    dims = [in_dim, *hidden_sizes_of(hidden), out_dim]
    modules = []
    for fan_in, fan_out in zip(dims, dims[1:]):
        layer = _uninitialized_linear(fan_in, fan_out)
        _init_linear(layer, generator)
        modules += [layer, ACTIVATIONS[activation][0]()]
    return nn.Sequential(*modules[:-1])


def _mlp_forward(
    layers: tuple[nn.Linear, ...], obs: torch.Tensor, activation: str = "relu"
) -> torch.Tensor:
    # net(obs) computes exactly this (Linear.forward is F.linear, ReLU's is torch.relu);
    # calling the functions skips the module calls, most of a small forward's cost.
    act = ACTIVATIONS[activation][1]
    for layer in layers[:-1]:
        obs = act(F.linear(obs, layer.weight, layer.bias))
    last = layers[-1]
    return F.linear(obs, last.weight, last.bias)


def _layers(net: nn.Sequential) -> tuple[nn.Linear, ...]:
    # The Linear modules of _mlp's net, held in a plain tuple (which nn.Module does not
    # register, so state_dict and the checkpoints' bytes are unchanged): indexing the
    # Sequential costs more per forward than a small layer's arithmetic.
    return tuple(module for module in net if isinstance(module, nn.Linear))


class Policy(nn.Module):
    """The article's policy: Linear(obs, hidden) - ReLU - Linear(hidden, actions) - softmax
    (hidden: hidden_dim, or hidden_sizes' layers with their activation).

    forward returns logits; the softmax is applied where it is used (log_softmax in the
    loss, which equals log(softmax) up to float rounding and never gives log(0)).
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_dim,
        generator: torch.Generator,
        activation: str = "relu",
    ):
        super().__init__()
        self.activation = activation
        self.net = _mlp(obs_dim, hidden_dim, n_actions, generator, activation)
        self.layers = _layers(self.net)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return _mlp_forward(self.layers, obs, self.activation)


class GaussianPolicy(nn.Module):
    """The diagonal Gaussian head for Box actions: the mean from the categorical policy's
    body (Linear - ReLU - Linear to the action's dimensions) and a learned log standard
    deviation that does not depend on the state, initialised to 0 (CleanRL's continuous
    PPO). forward returns the mean; the sample is not clipped here (the env step clips it,
    reinforce/sim/rollout.py), so log-probabilities are of what was drawn."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_dim,
        generator: torch.Generator,
        activation: str = "relu",
    ):
        super().__init__()
        self.activation = activation
        self.net = _mlp(obs_dim, hidden_dim, action_dim, generator, activation)
        self.layers = _layers(self.net)
        self.log_std = nn.Parameter(torch.zeros(action_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return _mlp_forward(self.layers, obs, self.activation)

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self(obs), self.log_std.exp())


class ValueNet(nn.Module):
    """State-value critic V(s) with the policy's architecture and one output."""

    def __init__(
        self, obs_dim: int, hidden_dim, generator: torch.Generator, activation: str = "relu"
    ):
        super().__init__()
        self.activation = activation
        self.net = _mlp(obs_dim, hidden_dim, 1, generator, activation)
        self.layers = _layers(self.net)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return _mlp_forward(self.layers, obs, self.activation).squeeze(-1)


def compiled_forward_covers(policy: nn.Module) -> bool:
    """Whether the compiled forward (reinforce/sim/_kernels.py: one hidden layer, ReLU)
    computes this policy; else a TorchActor acts with the module itself."""
    return len(policy.layers) == 2 and policy.activation == "relu"


class StackedPolicies:
    """NumPy copies of several seeds' policy weights, to choose actions without autograd.

    Row k of each stacked array is seed k's. The actions come from one compiled forward
    (reinforce/sim/_kernels.py) that computes a seed's logits from that seed's row alone, in
    float32 operations fixed there, so a seed's actions depend neither on which other
    seeds share the stack nor on the machine's BLAS.
    """

    def __init__(self, policies: list[Policy]):
        first, second = policies[0].layers
        n = len(policies)
        self.w1 = np.zeros((n, first.in_features, first.out_features), dtype=np.float32)
        self.b1 = np.zeros((n, 1, first.out_features), dtype=np.float32)
        self.w2 = np.zeros((n, second.in_features, second.out_features), dtype=np.float32)
        self.b2 = np.zeros((n, 1, second.out_features), dtype=np.float32)
        for index, policy in enumerate(policies):
            self.refresh(index, policy)

    @property
    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.w1, self.b1, self.w2, self.b2

    def refresh(self, index: int, policy: Policy) -> None:
        first, second = policy.layers
        self.w1[index] = first.weight.detach().numpy().T
        self.b1[index, 0] = first.bias.detach().numpy()
        self.w2[index] = second.weight.detach().numpy().T
        self.b2[index, 0] = second.bias.detach().numpy()

    def act(
        self,
        obs: np.ndarray,
        envs: np.ndarray,
        gumbel_noise: np.ndarray | None = None,
    ) -> np.ndarray:
        """obs (rows, obs_dim), the observations of the seeds `envs` (rows,) -> their
        actions: greedy when gumbel_noise is None, else one sample of softmax(logits) per
        row by the Gumbel-max trick, argmax(logits + g) with g = gumbel_noise[row]
        ~ Gumbel(0, 1) per action."""
        obs = np.ascontiguousarray(obs, dtype=np.float32)
        sample = gumbel_noise is not None
        if not sample:
            gumbel_noise = np.zeros((len(obs), self.w2.shape[2]))
        actions = np.empty(len(obs), dtype=np.int64)
        _kernels.policy_actions(
            obs,
            np.asarray(envs, dtype=np.int64),
            *self.weights,
            np.asarray(gumbel_noise, dtype=np.float64),
            sample,
            actions,
        )
        return actions


class GumbelStreams:
    """Each seed's own stream of Gumbel(0, 1) noise for action sampling, drawn in blocks.

    All active seeds take a step together, so a seed's step count is the lockstep step
    number; seed k's t-th action always uses the t-th draw of seed k's own generator,
    whichever other seeds run beside it.
    """

    def __init__(self, rngs: list[np.random.Generator], n_actions: int, block: int = 512):
        self.rngs, self.block = rngs, block
        self.noise = np.zeros((len(rngs), block, n_actions))

    def prepare(self, step: int, rows: np.ndarray) -> int:
        """The column of noise[k] that step reads, after drawing the seeds' next blocks
        where step starts one."""
        column = step % self.block
        if column == 0:
            for k in rows.tolist():
                self.noise[k] = self.rngs[k].gumbel(size=self.noise.shape[1:])
        return column

    def at(self, step: int, rows: np.ndarray) -> np.ndarray:
        """The noise of the seeds `rows` at step: (rows, n_actions)."""
        return self.noise[rows, self.prepare(step, rows)]


class StackedActor:
    """run_lockstep's choose for stacked policies: each env's action from its own seed's
    policy, greedy (noise None) or sampled with its own Gumbel stream. The compiled fast
    paths read the stacks directly and play many steps per call (reinforce/sim/rollout.py)."""

    def __init__(self, stack: StackedPolicies, noise: GumbelStreams | None):
        self.stack, self.noise = stack, noise

    def __call__(self, obs_rows: np.ndarray, active: np.ndarray, step: int) -> np.ndarray:
        gumbel = None if self.noise is None else self.noise.at(step, active)
        return self.stack.act(obs_rows, active, gumbel)

    def arrays_at(
        self,
        step: int,
        active: np.ndarray,
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
        """What the compiled loop reads from step on: the stacked weights, and every seed's
        noise block (envs, block, actions) with step's drawn (None when greedy)."""
        if self.noise is None:
            return self.stack.weights, None
        self.noise.prepare(step, active)
        return self.stack.weights, self.noise.noise


class GaussianStack:
    """NumPy copies of several seeds' Gaussian policies (the mean's network, as
    StackedPolicies holds it, and std = exp(log_std) (seeds, action_dim) float32), for the
    compiled forward (reinforce/sim/_kernels.py _row_mean: the categorical forward's
    float32 operations, so a seed's mean depends on its own row alone, on any machine)."""

    def __init__(self, policies: list[GaussianPolicy]):
        self.means = StackedPolicies(policies)
        self.std = np.zeros((len(policies), policies[0].log_std.numel()), dtype=np.float32)
        for index, policy in enumerate(policies):
            self.std[index] = policy.log_std.detach().exp().numpy()

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        return (*self.means.weights, self.std)

    def refresh(self, index: int, policy: GaussianPolicy) -> None:
        self.means.refresh(index, policy)
        self.std[index] = policy.log_std.detach().exp().numpy()


class NormalStreams(GumbelStreams):
    """Each seed's own stream of standard normal draws for Gaussian actions, in blocks as
    GumbelStreams draws its noise: seed k's t-th action takes the t-th row of draws of
    seed k's own generator, whichever other seeds run beside it."""

    def prepare(self, step: int, rows: np.ndarray) -> int:
        column = step % self.block
        if column == 0:
            for k in rows.tolist():
                self.noise[k] = self.rngs[k].standard_normal(size=self.noise.shape[1:])
        return column


class GaussianActor:
    """run_lockstep's choose for Gaussian policies: seed k's action is the float32 of
    mean + std * eps in float64, the mean from the compiled forward of seed k's own stacked
    network on its own observation row alone (so a seed's actions do not depend on which
    seeds run beside it) and eps its next standard normal draws from rngs[k] (NormalStreams;
    None: greedy, the mean). The actions are returned unclipped. As StackedActor, it hands
    its arrays to the compiled loops (arrays_at), which play whole episodes per call."""

    def __init__(self, policies: list[GaussianPolicy], rngs: list[np.random.Generator] | None):
        self.stack = GaussianStack(policies)
        dims = self.stack.std.shape[1]
        self.noise = None if rngs is None else NormalStreams(rngs, dims)

    def __call__(self, obs_rows: np.ndarray, active: np.ndarray, step: int) -> np.ndarray:
        obs = np.ascontiguousarray(obs_rows, dtype=np.float32)
        active = np.asarray(active, dtype=np.int64)
        actions = np.empty((len(obs), self.stack.std.shape[1]), dtype=np.float32)
        sample = self.noise is not None
        eps = self.noise.at(step, active) if sample else np.zeros(actions.shape)
        _kernels.gaussian_actions(obs, active, *self.stack.weights, eps, sample, actions)
        return actions

    def arrays_at(
        self,
        step: int,
        active: np.ndarray,
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
        """The stacked weights (w1, b1, w2, b2, std) and every seed's noise block with
        step's drawn (None when greedy), as StackedActor.arrays_at."""
        if self.noise is None:
            return self.stack.weights, None
        self.noise.prepare(step, active)
        return self.stack.weights, self.noise.noise


class TorchActor:
    """run_lockstep's choose for networks the compiled forward does not cover (more hidden
    layers, another activation): each seed's own torch module acts on its own observation
    row, without autograd, with the compiled actors' rules and noise streams: a categorical
    action is argmax(float64(logits) + gumbel) (greedy: argmax logits, the first index
    among equals), a Gaussian one the float32 of mean + std * eps in float64 (the mean
    unclipped). It acts with the live modules, so refresh has nothing to copy. Slower than
    the compiled actors (a torch call per seed and step): the plain path."""

    def __init__(self, policies: list[Policy | GaussianPolicy], rngs, block: int = 512):
        self.policies = list(policies)
        self.continuous = isinstance(policies[0], GaussianPolicy)
        streams = NormalStreams if self.continuous else GumbelStreams
        outputs = policies[0].layers[-1].out_features
        self.noise = None if rngs is None else streams(rngs, outputs, block)

    def refresh(self, index: int, policy: Policy | GaussianPolicy) -> None:
        self.policies[index] = policy

    def __call__(self, obs_rows: np.ndarray, active: np.ndarray, step: int) -> np.ndarray:
        obs = torch.from_numpy(np.ascontiguousarray(obs_rows, dtype=np.float32))
        active = np.asarray(active, dtype=np.int64)
        noise = None if self.noise is None else self.noise.at(step, active)
        with torch.no_grad():
            outputs = np.stack(
                [self.policies[k].forward(obs[i : i + 1])[0].numpy() for i, k in enumerate(active)]
            )
        if self.continuous:
            if noise is None:
                return outputs.astype(np.float32)
            std = np.stack([self.policies[k].log_std.detach().exp().numpy() for k in active])
            mean = outputs.astype(np.float64)
            return (mean + std.astype(np.float64) * noise).astype(np.float32)
        scores = outputs.astype(np.float64) + (0.0 if noise is None else noise)
        return np.argmax(scores, axis=1).astype(np.int64)


def make_policy(
    obs_dim: int,
    n_actions: int,
    hidden_dim,
    generator: torch.Generator,
    continuous: bool,
    activation: str = "relu",
) -> Policy | GaussianPolicy:
    """The categorical policy for Discrete(n_actions), the Gaussian one for a Box action
    of n_actions dimensions; hidden_dim: one layer's width, or the widths of each."""
    head = GaussianPolicy if continuous else Policy
    return head(obs_dim, n_actions, hidden_dim, generator, activation)


def make_networks(
    seed: int, obs_dim: int, n_actions: int, cfg, continuous: bool = False
) -> tuple[Policy | GaussianPolicy, ValueNet | None]:
    """A seed's policy and, where its algorithm needs one, critic, both drawn from the
    seed's init generator in that order (every schedule's networks, the same bytes)."""
    init = seeding.init_generator(seed)
    hidden = cfg.hidden_sizes or cfg.hidden_dim
    policy = make_policy(obs_dim, n_actions, hidden, init, continuous, cfg.activation)
    critic = None
    if algos.load(cfg.algorithm).needs_critic(cfg):
        critic = ValueNet(obs_dim, hidden, init, cfg.activation)
    return policy, critic


def checkpoint_meta(env_id: str, obs_dim: int, n_actions: int, cfg, continuous: bool = False):
    """What a checkpoint says of its policy (load_policy rebuilds it from this)."""
    meta = {"env_id": env_id, "obs_dim": obs_dim, "n_actions": n_actions}
    meta["hidden_dim"] = cfg.hidden_dim
    # only where set: the default networks' checkpoints keep their bytes
    if cfg.hidden_sizes is not None:
        meta["hidden_sizes"] = list(cfg.hidden_sizes)
    if cfg.activation != "relu":
        meta["activation"] = cfg.activation
    if continuous:  # only then: the categorical checkpoints keep their bytes
        meta["policy_head"] = "gaussian"
    return meta


def make_actor(
    policies: list[Policy | GaussianPolicy], rngs: list[np.random.Generator] | None
) -> tuple[StackedActor | GaussianActor | TorchActor, StackedPolicies | GaussianStack | TorchActor]:
    """The choose that plays these policies, sampled with rngs (None: greedy), and the
    NumPy stack to refresh after an update: the compiled actors where the compiled
    forward covers the networks, else a TorchActor (its own stack)."""
    if not compiled_forward_covers(policies[0]):
        actor = TorchActor(policies, rngs)
        return actor, actor
    if isinstance(policies[0], GaussianPolicy):
        actor = GaussianActor(policies, rngs)
        return actor, actor.stack
    stack = StackedPolicies(policies)
    noise = None if rngs is None else GumbelStreams(rngs, stack.w2.shape[2])
    return StackedActor(stack, noise), stack


def policy_path(folder: str | Path, seed: int) -> Path:
    return Path(folder) / policy_name(seed)


def save_policy(policy: Policy | GaussianPolicy, critic: ValueNet | None, meta: dict) -> bytes:
    """Serialize to bytes: saving to a BytesIO keeps file names out of the archive, so the
    bytes are the same wherever the file is written."""
    buffer = io.BytesIO()
    torch.save(
        {
            "meta": meta,
            "policy": policy.state_dict(),
            "critic": None if critic is None else critic.state_dict(),
        },
        buffer,
    )
    return buffer.getvalue()


def load_policy(path) -> tuple[Policy | GaussianPolicy, dict]:
    checkpoint = torch.load(path, weights_only=True)
    meta = checkpoint["meta"]
    # Only Gaussian checkpoints name their head: the categorical ones keep their bytes.
    continuous = meta.get("policy_head") == "gaussian"
    policy = make_policy(
        meta["obs_dim"],
        meta["n_actions"],
        meta.get("hidden_sizes") or meta["hidden_dim"],
        torch.Generator(),
        continuous,
        meta.get("activation", "relu"),
    )
    policy.load_state_dict(checkpoint["policy"])
    return policy, meta
