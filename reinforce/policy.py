"""Policy and value networks, and a NumPy copy of many seeds' policies for acting fast."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    # The same distribution as nn.Linear's default init (kaiming_uniform with a=sqrt(5),
    # i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias), drawn from the
    # seed's own generator instead of torch's global RNG.
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, generator: torch.Generator) -> nn.Sequential:
    # skip_init: building the layers must not draw from (or depend on) the global RNG.
    first = nn.utils.skip_init(nn.Linear, in_dim, hidden_dim)
    second = nn.utils.skip_init(nn.Linear, hidden_dim, out_dim)
    _init_linear(first, generator)
    _init_linear(second, generator)
    return nn.Sequential(first, nn.ReLU(), second)


def _mlp_forward(net: nn.Sequential, obs: torch.Tensor) -> torch.Tensor:
    # net(obs) computes exactly this (Linear.forward is F.linear, ReLU's is torch.relu);
    # calling the functions skips three module calls, most of a small forward's cost.
    first, second = net[0], net[2]
    return F.linear(torch.relu(F.linear(obs, first.weight, first.bias)), second.weight,
                    second.bias)


class Policy(nn.Module):
    """The article's policy: Linear(obs, hidden) - ReLU - Linear(hidden, actions) - softmax.

    forward returns logits; the softmax is applied where it is used (log_softmax in the
    loss, which equals log(softmax) up to float rounding and never gives log(0)).
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden_dim: int, generator: torch.Generator):
        super().__init__()
        self.net = _mlp(obs_dim, hidden_dim, n_actions, generator)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return _mlp_forward(self.net, obs)


class ValueNet(nn.Module):
    """State-value critic V(s) with the policy's architecture and one output."""

    def __init__(self, obs_dim: int, hidden_dim: int, generator: torch.Generator):
        super().__init__()
        self.net = _mlp(obs_dim, hidden_dim, 1, generator)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return _mlp_forward(self.net, obs).squeeze(-1)


class StackedPolicies:
    """NumPy copies of several seeds' policy weights, to choose actions without autograd.

    Each seed is its own slice of the stacked arrays and np.matmul computes every slice
    with the same kernel call, so a seed's actions do not depend on which other seeds
    share the stack.
    """

    def __init__(self, policies: list[Policy]):
        first, second = policies[0].net[0], policies[0].net[2]
        n = len(policies)
        self.w1 = np.zeros((n, first.in_features, first.out_features), dtype=np.float32)
        self.b1 = np.zeros((n, 1, first.out_features), dtype=np.float32)
        self.w2 = np.zeros((n, second.in_features, second.out_features), dtype=np.float32)
        self.b2 = np.zeros((n, 1, second.out_features), dtype=np.float32)
        # The last subset handed out, kept up to date by refresh: the set of running seeds
        # changes only when one finishes, so it is copied once per change, not per step.
        self._subset: StackedPolicies | None = None
        self._subset_rows = np.zeros(0, dtype=np.int64)
        self._subset_key: np.ndarray | None = None
        for index, policy in enumerate(policies):
            self.refresh(index, policy)

    def refresh(self, index: int, policy: Policy) -> None:
        first, second = policy.net[0], policy.net[2]
        self.w1[index] = first.weight.detach().numpy().T
        self.b1[index, 0] = first.bias.detach().numpy()
        self.w2[index] = second.weight.detach().numpy().T
        self.b2[index, 0] = second.bias.detach().numpy()
        if self._subset is not None:
            for row in np.flatnonzero(self._subset_rows == index).tolist():
                for name in ("w1", "b1", "w2", "b2"):
                    getattr(self._subset, name)[row] = getattr(self, name)[index]

    def subset(self, rows: np.ndarray) -> StackedPolicies:
        """The policies of some seeds only (a copy), once the others have finished."""
        if len(rows) == len(self.w1):
            return self
        if self._subset is None or (rows is not self._subset_key
                                    and not np.array_equal(self._subset_rows, rows)):
            view = object.__new__(StackedPolicies)
            view.w1, view.b1 = self.w1[rows], self.b1[rows]
            view.w2, view.b2 = self.w2[rows], self.b2[rows]
            view._subset, view._subset_rows = None, np.zeros(0, dtype=np.int64)
            view._subset_key = None
            self._subset, self._subset_rows = view, np.array(rows, dtype=np.int64)
        self._subset_key = rows  # the runner passes the same index array until it changes
        return self._subset

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """obs: (n_seeds, obs_dim) -> logits (n_seeds, n_actions)."""
        # In place where the arithmetic allows: the same float32 operations as
        # max(obs @ w1 + b1, 0) @ w2 + b2, without three temporary arrays per step.
        hidden = np.matmul(obs[:, None, :], self.w1)
        hidden += self.b1
        np.maximum(hidden, 0.0, out=hidden)
        logits = np.matmul(hidden, self.w2)
        logits += self.b2
        return logits[:, 0, :]

    def act(self, obs: np.ndarray, gumbel_noise: np.ndarray | None) -> np.ndarray:
        """Greedy actions when gumbel_noise is None, else one sample of softmax(logits) per
        seed by the Gumbel-max trick: argmax(logits + g), g ~ Gumbel(0, 1) per action."""
        logits = self.logits(obs)
        if gumbel_noise is not None:
            logits = logits + gumbel_noise
        return logits.argmax(axis=1)


class GumbelStreams:
    """Each seed's own stream of Gumbel(0, 1) noise for action sampling, drawn in blocks.

    All active seeds take a step together, so a seed's step count is the lockstep step
    number; seed k's t-th action always uses the t-th draw of seed k's own generator,
    whichever other seeds run beside it.
    """

    def __init__(self, rngs: list[np.random.Generator], n_actions: int, block: int = 512):
        self.rngs, self.block = rngs, block
        self.noise = np.zeros((len(rngs), block, n_actions))

    def at(self, step: int, rows: np.ndarray) -> np.ndarray:
        column = step % self.block
        if column == 0:
            for k in rows.tolist():
                self.noise[k] = self.rngs[k].gumbel(size=self.noise.shape[1:])
        if len(rows) == len(self.rngs):  # every seed (rows is then 0..n-1): a view
            return self.noise[:, column]
        return self.noise[rows, column]


def policy_path(folder: str | Path, seed: int) -> Path:
    return Path(folder) / f"policy_seed{seed}.pt"


def save_policy(policy: Policy, critic: ValueNet | None, meta: dict) -> bytes:
    """Serialize to bytes: saving to a BytesIO keeps file names out of the archive, so the
    bytes are the same wherever the file is written."""
    buffer = io.BytesIO()
    torch.save({"meta": meta, "policy": policy.state_dict(),
                "critic": None if critic is None else critic.state_dict()}, buffer)
    return buffer.getvalue()


def load_policy(path) -> tuple[Policy, dict]:
    checkpoint = torch.load(path, weights_only=True)
    meta = checkpoint["meta"]
    policy = Policy(meta["obs_dim"], meta["n_actions"], meta["hidden_dim"], torch.Generator())
    policy.load_state_dict(checkpoint["policy"])
    return policy, meta
