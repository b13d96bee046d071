"""Environment creation, checking and seeding."""

from __future__ import annotations

import difflib

import gymnasium as gym
from gymnasium import spaces


def check_env_id(env_id: str) -> tuple[int, int]:
    """Return (observation size, number of actions), or raise ConfigError naming env.id."""
    from reinforce.config import ConfigError

    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"env.id: {env_id!r} is not a registered Gymnasium environment.{hint}")
    try:
        env = gym.make(env_id)
    except Exception as err:  # an installed id whose dependencies are missing, e.g. Box2D
        raise ConfigError(f"env.id: {env_id!r} cannot be created here: {err}") from None
    obs, act = env.observation_space, env.action_space
    env.close()
    if not (isinstance(obs, spaces.Box) and len(obs.shape) == 1):
        raise ConfigError(f"env.id: {env_id!r} has observation space {obs}; allowed: a "
                          "one-dimensional Box (e.g. CartPole-v1, Acrobot-v1)")
    if not isinstance(act, spaces.Discrete):
        raise ConfigError(f"env.id: {env_id!r} has action space {act}; allowed: Discrete "
                          "(e.g. CartPole-v1, Acrobot-v1)")
    return int(obs.shape[0]), int(act.n)


def make_env(env_id: str) -> gym.Env:
    """The plain Gymnasium environment, with its registered time limit."""
    return gym.make(env_id)
