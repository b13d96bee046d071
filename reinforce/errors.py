"""The error a bad parameter raises, below every module that raises it (config, envs)."""


class ConfigError(ValueError):
    """A value in params.yaml that the pipeline cannot run with."""
