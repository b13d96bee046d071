"""Playing trained policies on the untouched Gymnasium environment."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from gymnasium.spaces import Box

from reinforce import seeding
from reinforce.agent.policy import load_policy, make_actor, policy_path
from reinforce.compute.backends import LocalBackend, RayBackend
from reinforce.compute.workers import Progress
from reinforce.io.config import EvaluateConfig
from reinforce.io.env_ids import check_spaces, env_spaces
from reinforce.io.errors import DataError
from reinforce.io.inputs import regular_file
from reinforce.io.outputs import EVAL_COLUMNS
from reinforce.sim.rollout import Episode, run_lockstep


def evaluate_policies(
    train_dir: str | Path,
    env_id: str,
    seeds: Sequence[int],
    cfg: EvaluateConfig,
    backend: LocalBackend | RayBackend | None = None,
    label: str = "evaluate",
) -> pd.DataFrame:
    """Each seed's policy plays cfg.episodes episodes of gymnasium.make(env_id); seed k's
    env starts from seed cfg.seed_offset + k. Returns rows (seed, episode, return).
    The seeds run in this process, or in groups as the given backend splits them."""
    # The checkpoints travel as bytes: a Ray node need not see train_dir.
    shape = check_spaces(env_id, *env_spaces(env_id))
    checkpoints = {
        seed: read_checkpoint(policy_path(train_dir, seed), env_id, shape) for seed in seeds
    }
    return evaluate_checkpoints(checkpoints, env_id, seeds, cfg, backend, label)


def read_checkpoint(
    path: Path, env_id: str | None = None, shape: tuple[int, int] | None = None
) -> bytes:
    """A checkpoint's bytes, once they load as a policy (torch.load with weights_only) whose
    every weight is finite and, given env_id's (observation size, actions), whose network
    fits the env: a missing, corrupt, diverged or foreign file is one line here, not a
    traceback in a worker (or a policy that acts on NaN logits without complaint)."""
    regular_file(path)  # /dev/zero would be read until memory runs out
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{path}: not found; run `dvc repro` (its train stage) to make it"
        ) from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from None
    remake = "run `dvc repro --force` for its train stage to remake it"
    try:
        policy, meta = load_policy(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001  (torch raises many kinds on a bad file)
        kind = type(err).__name__
        raise DataError(
            f"{path}: not a policy checkpoint of this pipeline ({kind}); {remake}"
        ) from None
    for name, tensor in policy.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise DataError(
                f"{path}: weights {name} hold {bad} of {tensor.numel()} values that are not "
                f"finite (NaN or infinite): a diverged or damaged policy; {remake}"
            )
    if shape is not None and (meta["obs_dim"], meta["n_actions"]) != shape:
        raise DataError(
            f"{path}: a policy for {meta['obs_dim']} observations and {meta['n_actions']} "
            f"actions; {env_id} has {shape[0]} and {shape[1]} (made for another env?); {remake}"
        )
    return data


def evaluate_checkpoints(
    checkpoints: dict[int, bytes],
    env_id: str,
    seeds: Sequence[int],
    cfg: EvaluateConfig,
    backend: LocalBackend | RayBackend | None = None,
    label: str = "evaluate",
) -> pd.DataFrame:
    """evaluate_policies for policies held as checkpoint bytes (seed -> saved policy)."""
    groups = (backend or LocalBackend(1)).map(
        partial(evaluate_seeds, checkpoints, env_id, cfg),
        seeds,
        Progress(label, cfg.episodes * len(seeds)),
    )
    return pd.DataFrame(
        sorted(row for group in groups for row in group), columns=list(EVAL_COLUMNS)
    )


def evaluate_seeds(
    checkpoints: dict[int, bytes],
    env_id: str,
    cfg: EvaluateConfig,
    seeds: Sequence[int],
    report: Callable[[float], None],
) -> list[tuple[int, int, float]]:
    """Evaluate the given seeds side by side in this process: rows (seed, episode, return)."""
    torch.set_num_threads(1)
    policies = [load_policy(io.BytesIO(checkpoints[seed]))[0] for seed in seeds]
    env_seeds = [cfg.seed_offset + seed for seed in seeds]
    # Sampled evaluation draws from a stream of its own, apart from training's; greedy
    # plays the argmax of the logits, or the Gaussian's mean (clipped at the env step).
    rngs = [seeding.evaluation_rng(s) for s in env_seeds]
    actor, _ = make_actor(policies, rngs if cfg.policy == "sample" else None)
    rows: list[tuple[int, int, float]] = []
    counts = [0] * len(seeds)

    def on_episode_end(k: int, episode: Episode) -> None:
        counts[k] += 1
        rows.append((seeds[k], counts[k], float(episode.rewards.sum())))
        report(rows[-1][2])

    run_lockstep(env_id, env_seeds, cfg.episodes, actor, on_episode_end)
    return rows


def random_policy_returns(env_id: str, seeds: Sequence[int], episodes: int) -> pd.DataFrame:
    """A uniformly random policy's episodes on gymnasium.make(env_id): env k reset with
    seeds[k], its actions from its own stream (seeding.random_policy_rng), Discrete
    actions uniform over n, Box actions uniform between the bounds. Rows (seed, episode,
    return), the normalization's "random" score of a suite (docs/suite.md)."""
    space = env_spaces(env_id)[1]
    rngs = [seeding.random_policy_rng(seed) for seed in seeds]

    def choose(obs_rows, active, step):
        if isinstance(space, Box):
            return np.stack(
                [rngs[k].uniform(space.low, space.high).astype(np.float32) for k in active]
            )
        return np.array([rngs[k].integers(space.n) for k in active], dtype=np.int64)

    rows: list[tuple[int, int, float]] = []
    counts = [0] * len(seeds)

    def on_episode_end(k: int, episode: Episode) -> None:
        counts[k] += 1
        rows.append((seeds[k], counts[k], float(episode.rewards.sum())))

    run_lockstep(env_id, seeds, episodes, choose, on_episode_end)
    return pd.DataFrame(sorted(rows), columns=list(EVAL_COLUMNS))
