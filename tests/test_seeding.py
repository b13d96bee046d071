"""reinforce/seeding.py names the streams; each gives exactly the generator its formula
gave where it was written out before (train.py, evaluate.py, stats.make_rng), so the
committed outputs keep their bytes."""

import numpy as np
import pytest
import torch

from reinforce import seeding
from reinforce.agent.policy import Policy
from reinforce.agent.train import make_learner
from reinforce.analysis import stats
from reinforce.io.config import TrainConfig

SEEDS = [0, 1, 7, 104, 1_000_003, 2**32 + 5]


def draws(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2**63, size=8)


@pytest.mark.parametrize("seed", SEEDS)
def test_training_streams_are_the_old_formulas(seed):
    init_seq, action_seq = np.random.SeedSequence(seed).spawn(2)
    old_init = torch.Generator().manual_seed(int(init_seq.generate_state(1, np.uint64)[0]))
    new_init = seeding.init_generator(seed)
    assert new_init.initial_seed() == old_init.initial_seed()
    assert torch.equal(torch.rand(5, generator=new_init), torch.rand(5, generator=old_init))
    np.testing.assert_array_equal(
        draws(seeding.action_rng(seed)), draws(np.random.default_rng(action_seq))
    )
    np.testing.assert_array_equal(
        draws(seeding.minibatch_rng(seed)),
        draws(np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_evaluation_stream_is_the_old_formula(seed):
    np.testing.assert_array_equal(
        draws(seeding.evaluation_rng(seed)),
        draws(np.random.default_rng(np.random.SeedSequence([seed, 1]))),
    )


@pytest.mark.parametrize("names", [(), ("article",), ("article", "lr-1e-3", "iqm")])
def test_bootstrap_stream_is_the_old_formula(names):
    import zlib

    key = tuple(zlib.crc32(name.encode()) for name in names)
    old = np.random.default_rng(np.random.SeedSequence(0, spawn_key=key))
    np.testing.assert_array_equal(draws(stats.make_rng(0, *names)), draws(old))


def test_streams_are_apart():
    seed = 3
    firsts = [
        draws(rng)[0]
        for rng in (
            seeding.action_rng(seed),
            seeding.minibatch_rng(seed),
            seeding.evaluation_rng(seed),
            seeding.bootstrap_rng(seed),
        )
    ]
    assert len(set(firsts)) == len(firsts)


def test_the_learner_uses_them():
    learner = make_learner(5, 4, 2, TrainConfig(minibatches=2))
    np.testing.assert_array_equal(draws(learner.rng), draws(seeding.action_rng(5)))
    np.testing.assert_array_equal(draws(learner.shuffle), draws(seeding.minibatch_rng(5)))
    reference = Policy(4, 2, TrainConfig().hidden_dim, seeding.init_generator(5))
    for a, b in zip(learner.policy.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)
