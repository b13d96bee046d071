"""The check of params.yaml's env.id: a registered Gymnasium id with the spaces the agent
supports. It sits with the config it validates (io), below the simulation, so that a stage
that reads the config without checking env.id (aggregate, plot, select) depends on neither
the environments nor their compiled steps."""

from __future__ import annotations

import difflib

from reinforce.io.errors import ConfigError


def check_env_id(env_id: str) -> tuple[int, int]:
    """Return (observation size, number of actions), or raise ConfigError naming env.id."""
    import gymnasium as gym  # slow to import: only when a config is validated
    from gymnasium import spaces

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
    if not (isinstance(obs, spaces.Box) and len(obs.shape) == 1):
        raise ConfigError(
            f"env.id: {env_id!r} has observation space {obs}; allowed: a "
            "one-dimensional Box (e.g. CartPole-v1, Acrobot-v1)"
        )
    if not isinstance(act, spaces.Discrete):
        raise ConfigError(
            f"env.id: {env_id!r} has action space {act}; allowed: Discrete "
            "(e.g. CartPole-v1, Acrobot-v1)"
        )
    return int(obs.shape[0]), int(act.n)
