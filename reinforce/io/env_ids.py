"""The check of params.yaml's env.id: a registered Gymnasium id with the spaces the agent
supports. It sits with the config it validates (io), below the simulation, so that a stage
that reads the config without checking env.id (aggregate, plot, select) depends on neither
the environments nor their compiled steps."""

from __future__ import annotations

import difflib

from reinforce.io.errors import ConfigError


def check_env_id(env_id: str) -> tuple[int, int]:
    """Return (observation size, number of actions: the Discrete's n, or a Box action's
    dimensions), or raise ConfigError naming env.id."""
    obs, act = env_spaces(env_id)
    return check_spaces(env_id, obs, act)


def spec_reward_threshold(env_id: str) -> float | None:
    """gymnasium's registered spec.reward_threshold for env_id (None where it has none, or
    for an id not registered: check_env_id reports that)."""
    import gymnasium as gym

    spec = gym.registry.get(env_id)
    threshold = None if spec is None else spec.reward_threshold
    return None if threshold is None else float(threshold)


def is_continuous(env_id: str) -> bool:
    """True when env_id's actions are a Box (the Gaussian policy head), False for Discrete."""
    from gymnasium import spaces

    return isinstance(env_spaces(env_id)[1], spaces.Box)


def env_spaces(env_id: str):
    """(observation space, action space) of gymnasium.make(env_id), or ConfigError."""
    import gymnasium as gym  # slow to import: only when a config is validated

    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"env.id: {env_id!r} is not a registered Gymnasium environment.{hint}")
    try:
        env = gym.make(env_id)
    except Exception as err:  # noqa: BLE001  (an id whose dependencies are missing: Box2D)
        raise ConfigError(f"env.id: {env_id!r} cannot be created here: {err}") from None
    obs, act = env.observation_space, env.action_space
    env.close()
    return obs, act


def check_spaces(env_id: str, obs, act) -> tuple[int, int]:
    """(observation size, number of actions or action dimensions) when the agent supports
    these spaces: a one-dimensional Box observation, and Discrete actions (the categorical
    head) or a one-dimensional Box with finite bounds (the diagonal Gaussian head)."""
    import numpy as np
    from gymnasium import spaces

    if not (isinstance(obs, spaces.Box) and len(obs.shape) == 1):
        raise ConfigError(
            f"env.id: {env_id!r} has observation space {obs}; allowed: a "
            "one-dimensional Box (e.g. CartPole-v1, Acrobot-v1)"
        )
    if isinstance(act, spaces.Discrete):
        return int(obs.shape[0]), int(act.n)
    if (
        isinstance(act, spaces.Box)
        and len(act.shape) == 1
        and bool(np.isfinite(act.low).all() and np.isfinite(act.high).all())
    ):
        return int(obs.shape[0]), int(act.shape[0])
    raise ConfigError(
        f"env.id: {env_id!r} has action space {act}; allowed: Discrete "
        "(e.g. CartPole-v1, Acrobot-v1) or a one-dimensional Box with finite bounds "
        "(e.g. Pendulum-v1, MountainCarContinuous-v0)"
    )
