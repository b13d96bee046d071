"""The two ways an input can be refused, below every module that raises them."""


class ConfigError(ValueError):
    """A value in params.yaml that the pipeline cannot run with."""


class DataError(ValueError):
    """An input file of a stage (another stage's output) that cannot be read as promised."""


class TrainingDiverged(DataError):
    """A training run whose losses or weights became non-finite (a step too large)."""


class WorkerFailed(RuntimeError):
    """A worker process that died (killed, out of memory) before it sent its result."""
