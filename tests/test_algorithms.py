"""An algorithm is one file (reinforce/algos): its losses serve both schedules, and a new
one needs only its file and a variant (the worked example, examples/ppo_vf_clip.py)."""

import dataclasses
import importlib.util
import shutil

import numpy as np
import pytest
import torch
import yaml

from reinforce import algos
from reinforce.algos import base, pg
from reinforce.io.config import TrainConfig, algorithm_names
from tests.conftest import ROOT, assert_refused, make_project, run, tiny_params

AC = TrainConfig(
    baseline="value",
    advantage="gae",
    normalize_returns=False,
    normalize_advantages=True,
    clip_ratio=0.2,
    entropy_coef=0.01,
)


def random_batch(shape, episodes, generator):
    def draw():
        return torch.randn(shape, generator=generator)

    probs = torch.rand((*shape, 2), generator=generator).softmax(-1)
    return base.Batch(
        log_probs=draw(),
        entropies=lambda: -(probs * probs.log()).sum(-1),
        values=draw(),
        old_values=draw(),
        advantages=draw(),
        targets=draw(),
        old_log_probs=draw(),
        episodes=episodes,
    )


def test_one_loss_serves_a_seed_alone_and_stacked_seeds():
    """A row of a stacked batch gets the loss of the same samples as a batch of its own:
    the per-episode and the stacked path call the same function on (N,) and (seeds, N)."""
    stacked = random_batch((3, 40), None, torch.Generator().manual_seed(0))
    policy_loss, critic_loss = pg.losses(stacked, AC)
    for row in range(3):
        alone = base.Batch(
            **{
                field.name: getattr(stacked, field.name)[row]
                for field in dataclasses.fields(base.Batch)
                if field.name not in ("entropies", "episodes")
            },
            entropies=lambda row=row: stacked.entropies()[row],
            episodes=None,
        )
        row_policy, row_critic = pg.losses(alone, AC)
        torch.testing.assert_close(row_policy, policy_loss[row])
        torch.testing.assert_close(row_critic, critic_loss[row])


def test_the_reduction_is_the_schedules():
    """Whole episodes: each episode's sum, averaged over episodes (the article's); rollouts:
    the mean over samples (CleanRL's), the one difference between the two schedules."""
    x = torch.arange(6.0)
    assert base.reduce_samples(x, episodes=2).item() == 15 / 2
    assert base.reduce_samples(x, episodes=None).item() == 15 / 6


def test_returns_and_gae_are_one_discounted_sum():
    """REINFORCE's return is GAE with no critic and lambda 1, bit for bit: one sum."""
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=30)
    ended = np.zeros(30, dtype=bool)
    ended[[9, 29]] = True
    returns = base.discounted_returns(rewards, 0.9, ended)
    zeros = np.zeros(30)
    advantages = base.gae(rewards, zeros, zeros, ended, ended, 0.9, 1.0)
    assert returns.tobytes() == advantages.tobytes()
    assert returns[9] == rewards[9] and returns[29] == rewards[29]


def test_a_variant_names_its_algorithm_and_a_bad_name_is_refused():
    assert "pg" in algorithm_names() and "base" not in algorithm_names()
    params = tiny_params()
    params["variants"]["article"]["algorithm"] = "../../etc/passwd"
    assert_refused(params, ["variants.article.algorithm", "../../etc/passwd", "pg"])
    with pytest.raises(ValueError, match="no algorithm"):
        algos.load("os")


def load_example():
    spec = importlib.util.spec_from_file_location(
        "ppo_vf_clip", ROOT / "examples" / "ppo_vf_clip.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_clips_the_value_step():
    """Where the new value stays within clip_ratio of the old, the loss is pg's MSE; where
    it moves further, the larger of the clipped and unclipped errors counts."""
    example = load_example()
    batch = random_batch((50,), 1, torch.Generator().manual_seed(1))
    batch.values = batch.old_values + 0.1 * torch.tanh(batch.values)  # within 0.2
    assert torch.equal(example.losses(batch, AC)[1], pg.losses(batch, AC)[1])
    batch.values = batch.old_values + 1.0
    batch.targets = batch.old_values + 2.0  # the clipped value is further from the target
    expected = ((batch.old_values + 0.2 - batch.targets) ** 2).mean()
    torch.testing.assert_close(example.losses(batch, AC)[1], expected)
    assert torch.equal(example.losses(batch, AC)[0], pg.losses(batch, AC)[0])


@pytest.mark.slow
def test_the_worked_example_runs_through_dvc_repro(tmp_path):
    """docs/algorithms.md's steps, exactly: the example's file copied into reinforce/algos,
    one variant in params.yaml, `dvc repro`; the report compares it with article."""
    params = tiny_params()
    params["variants"]["ppo-vf-clip"] = {
        "algorithm": "ppo_vf_clip",
        "baseline": "value",
        "advantage": "gae",
        "normalize_returns": False,
        "normalize_advantages": True,
        "update_epochs": 2,
        "minibatches": 2,
        "clip_ratio": 0.2,
    }
    project = make_project(tmp_path / "repo", tiny_params())
    before = run(["git", "ls-files", "-s"], project).stdout
    shutil.copy(ROOT / "examples" / "ppo_vf_clip.py", project / "reinforce/algos/ppo_vf_clip.py")
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "repro"], project)
    assert run(["git", "ls-files", "-s"], project).stdout == before  # no other file edited
    changed = run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout
    edited = {line[3:] for line in changed.splitlines() if line[:2] == " M"}
    assert edited <= {"params.yaml", "dvc.lock"}, edited
    curves = (project / "runs/ppo-vf-clip/train/curves.csv").read_text().splitlines()
    assert len(curves) == 1 + 2 * 6
    report = (project / "reports" / "report.md").read_text()
    assert "| ppo-vf-clip | final return" in report
