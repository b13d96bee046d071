"""Playing one seed's trained policy on the untouched gymnasium.make(env_id), rendered.

What the videos stage, `play` and `export` share: the action head the pipeline evaluates
with (greedy: the argmax of the logits, or the Gaussian's mean; sampled: a draw from the
policy's distribution), computed from the policy's public forward / distribution alone,
so that it holds for any network load_policy returns.

There is no observation normalization anywhere in the pipeline: the policy reads the
env's raw float32 observation, and so does everything here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from gymnasium.spaces import Box

from reinforce.agent.policy import load_policy, policy_path
from reinforce.io.errors import ConfigError, DataError
from reinforce.io.paths import POLICY_FILE_PATTERN


@dataclass
class PlayedEpisode:
    episode_return: float
    steps: int
    frames: list[np.ndarray] = field(default_factory=list)  # rgb_array frames, reset first


def is_gaussian(policy: torch.nn.Module) -> bool:
    """A Gaussian head has a distribution method (the categorical one returns logits)."""
    return callable(getattr(policy, "distribution", None))


def greedy_action(policy: torch.nn.Module, obs: torch.Tensor) -> torch.Tensor:
    """The action head the pipeline evaluates with: argmax of the logits (Discrete) or
    the Gaussian's mean (Box; the env step clips it to the bounds), for a batch of
    float32 observations."""
    out = policy(obs)
    return out if is_gaussian(policy) else torch.argmax(out, dim=-1)


def sampled_action(
    policy: torch.nn.Module, obs: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """One draw of the policy's distribution, from the given generator."""
    if is_gaussian(policy):
        dist = policy.distribution(obs)
        return torch.normal(dist.mean, dist.stddev, generator=generator)
    probs = torch.softmax(policy(obs), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def env_action(action: torch.Tensor, space):
    """The policy's action as the env takes it: a Box action clipped to its bounds (as
    reinforce/sim/rollout.py clips), a Discrete one as an int."""
    if isinstance(space, Box):
        return np.clip(action.numpy().astype(space.dtype), space.low, space.high)
    return int(action)


def headless() -> None:
    """pygame's rgb_array rendering needs no display: SDL's dummy drivers keep it from
    looking for one (and from printing that it found none)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def play_episode(
    policy: torch.nn.Module,
    env,
    env_seed: int | None,
    generator: torch.Generator | None = None,
    keep_frames: bool = False,
) -> PlayedEpisode:
    """One episode of env (gymnasium.make(env_id, render_mode=...)) reset with env_seed
    (None: continue the env's own stream): greedy when generator is None, else sampled
    from it. With keep_frames, env.render()'s frame after the reset and after each step."""
    obs, _ = env.reset(seed=env_seed)
    episode = PlayedEpisode(0.0, 0)
    if keep_frames:
        episode.frames.append(env.render())
    done = False
    with torch.no_grad():
        while not done:
            x = torch.as_tensor(np.asarray(obs, dtype=np.float32)).unsqueeze(0)
            action = (
                greedy_action(policy, x)
                if generator is None
                else sampled_action(policy, x, generator)
            )[0]
            obs, reward, terminated, truncated, _ = env.step(env_action(action, env.action_space))
            episode.episode_return += float(reward)
            episode.steps += 1
            done = terminated or truncated
            if keep_frames:  # (render_mode "human" draws in reset and step themselves)
                episode.frames.append(env.render())
    return episode


def render_greedy_episode(checkpoint: Path, env_id: str, env_seed: int) -> PlayedEpisode:
    """The greedy episode of a checkpoint's policy on gymnasium.make(env_id) reset with
    env_seed, every frame kept (rgb_array, no display needed)."""
    import gymnasium as gym

    headless()
    policy, _ = load_policy(checkpoint)
    env = gym.make(env_id, render_mode="rgb_array")
    try:
        return play_episode(policy, env, env_seed, keep_frames=True)
    finally:
        env.close()


def seeds_in(train_dir: Path) -> list[int]:
    """The seeds whose checkpoints a train folder holds."""
    if not train_dir.is_dir():
        return []
    return sorted(
        int(p.name[len("policy_seed") : -len(".pt")])
        for p in train_dir.iterdir()
        if POLICY_FILE_PATTERN.fullmatch(p.name)
    )


def checkpoint_of(train_dir: Path, variant: str, seed: int) -> Path:
    """train_dir's checkpoint of seed, or one line naming the seeds that are there."""
    path = policy_path(train_dir, seed)
    if path.is_file():
        return path
    there = seeds_in(train_dir)
    if not there:
        raise DataError(
            f"{train_dir}: no trained policy of variant {variant!r}; run `dvc repro` "
            f"(its train stage) to make them"
        )
    raise ConfigError(
        f"--seed: got {seed}; variant {variant!r} has policies of seeds "
        f"{', '.join(map(str, there))} ({train_dir})"
    )


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def play(
    checkpoint: Path,
    env_id: str,
    env_seed: int,
    episodes: int,
    sample: bool,
    render_mode: str | None,
    on_episode: Callable[[int, PlayedEpisode], None],
) -> list[PlayedEpisode]:
    """`episodes` episodes of a checkpoint's policy: the first reset with env_seed, the
    next ones continuing the env's stream (as evaluation does); render_mode "human"
    draws them on screen, "rgb_array" keeps their frames, None renders nothing. Sampled
    actions come from a torch generator seeded with env_seed."""
    import gymnasium as gym

    if render_mode == "rgb_array":
        headless()
    policy, _ = load_policy(checkpoint)
    generator = torch.Generator().manual_seed(env_seed) if sample else None
    env = gym.make(env_id, render_mode=render_mode)
    played = []
    try:
        for index in range(episodes):
            episode = play_episode(
                policy,
                env,
                env_seed if index == 0 else None,
                generator,
                keep_frames=render_mode == "rgb_array",
            )
            on_episode(index + 1, episode)
            played.append(episode)
    finally:
        env.close()
    return played


def locate_policy(params: str, env: str | None, root: str | None, variant: str, seed: int):
    """(the env's config, the checkpoint of variant's seed) for the play and export
    commands: a bad env, variant or seed is one line naming what exists. root None (or
    "."): the working folder, or in a suite the env's own folder beside the params file
    (envs/<env id>/)."""
    from reinforce.io import paths
    from reinforce.io.config import load_config

    study = load_config(params)
    cfg = study.for_env(env)  # one line listing a suite's envs when it is not one
    cfg.variant(variant)  # one line listing the variants when it is not one
    if study.is_suite and root in (None, "."):
        root = paths.env_root(Path(params).parent, env)
    root = "." if root is None else root
    return cfg, checkpoint_of(paths.train_dir(root, variant), variant, seed)
