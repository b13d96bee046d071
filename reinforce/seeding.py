"""Every random stream of a run, named in one place. One seed fixes everything of its run
and nothing reads a global RNG; a stream depends on its seed (and names) alone, never on
which seeds run beside it, in which process or on which backend.

A training seed s (reporting seeds and tuning seeds alike), from SeedSequence(s):
    init        the networks' initial weights        torch.Generator, spawn(2)[0]'s state
    actions     action sampling during training     spawn(2)[1]
    minibatch   minibatch order (minibatches > 1)    spawn(3)[2]: a third child, so the
                                                     first two are the same either way
    env resets  env.reset(seed=s) once; later resets continue the env's own RNG
    (the fixed-length rollouts of train.rollout_steps, agent/rollouts.py, draw from
    these same streams: s's t-th action takes the t-th draw of its action stream)
Its evaluation, with env seed e = evaluate.seed_offset + s:
    env resets  env.reset(seed=e) once, as above
    evaluation  the sampled actions (evaluate.policy: sample): SeedSequence([e, 1])
A suite's random-policy baseline, random seed r (random.seeds):
    env resets  env.reset(seed=r) once, as above
    actions     uniform over the action space: SeedSequence([r, 2])
The report, from report.bootstrap_seed b:
    bootstrap   one Generator per statistic: SeedSequence(b, spawn_key=the CRC-32 of each
                name of what it is computed on), so a statistic's draws do not depend on
                which others are computed
"""

from __future__ import annotations

import zlib

import numpy as np


def init_generator(seed: int):
    """The torch Generator that initializes seed's networks (policy, then critic)."""
    import torch  # the analysis layer uses this module without torch

    init_seq, _ = np.random.SeedSequence(seed).spawn(2)
    return torch.Generator().manual_seed(int(init_seq.generate_state(1, np.uint64)[0]))


def action_rng(seed: int) -> np.random.Generator:
    """Seed's action sampling during training."""
    _, action_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(action_seq)


def minibatch_rng(seed: int) -> np.random.Generator:
    """Seed's minibatch order."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])


def evaluation_rng(env_seed: int) -> np.random.Generator:
    """The sampled actions of the evaluation whose env is reset with env_seed."""
    return np.random.default_rng(np.random.SeedSequence([env_seed, 1]))


def random_policy_rng(seed: int) -> np.random.Generator:
    """The uniformly random actions of a suite's random-policy baseline on env seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, 2]))


def bootstrap_rng(seed: int, *names: str) -> np.random.Generator:
    """The resampling of one statistic, named by what it is computed on."""
    key = tuple(zlib.crc32(name.encode()) for name in names)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
