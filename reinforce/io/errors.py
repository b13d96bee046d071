"""The two ways an input can be refused, below every module that raises them."""

from __future__ import annotations

import math

import numpy as np


class ConfigError(ValueError):
    """A value in params.yaml that the pipeline cannot run with."""


class DataError(ValueError):
    """An input file of a stage (another stage's output) that cannot be read as promised."""


class TrainingDiverged(DataError):
    """A training run whose losses or weights became non-finite (a step too large)."""

    @classmethod
    def check(
        cls,
        seed: int,
        episode: int,
        loss: float,
        weights: list[np.ndarray],
        lr: float,
        critic_lr: float | None,
        can_clip: bool,
    ) -> None:
        """Raise (one line) when seed's update at `episode` left a non-finite loss or
        weights: every later update and the saved policy would be NaN. weights: NumPy
        views of the weights (one isfinite over them all: a few thousand floats, the join
        costs less than a call per tensor); lr, critic_lr: the step sizes to lower (critic_lr
        None without a critic), formatted only when the check fails."""
        finite_loss = math.isfinite(loss)
        if finite_loss and bool(np.isfinite(np.concatenate(weights)).all()):
            return
        what = "the weights are not finite" if finite_loss else f"the policy loss is {loss}"
        clip = ", or set grad_clip_norm" if can_clip else ""
        rates = f"lr {lr:g}" + ("" if critic_lr is None else f", critic_lr {critic_lr:g}")
        raise cls(
            f"seed {seed}, episode {episode}: {what} after an update; "
            f"the training diverged, most likely a step too large ({rates}): lower it{clip}"
        )


class WorkerFailed(RuntimeError):
    """A worker process that died (killed, out of memory) before it sent its result."""


# What a process short of memory meets besides MemoryError (numpy's ArrayMemoryError is
# one): a shared library that cannot be mapped (libtorch's ImportError, llvmlite's OSError,
# which blames a missing library), or ENOMEM.
_MAP_FAILURES = ("failed to map segment", "cannot allocate memory", "could not find/load shared")


def memory_short(err: BaseException) -> str | None:
    """One line saying memory was short, when err is how that shows (else None): a
    MemoryError, ENOMEM, or a library that failed to map under an address-space limit
    (`ulimit -v`, RLIMIT_AS), which the library's own message blames on the library."""
    import errno
    import resource

    # the first sentence of the first line (llvmlite's goes on to guess at causes)
    first = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:160]
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    limited = limit != resource.RLIM_INFINITY
    where = f"; the address-space limit (ulimit -v) is {limit // 2**20:,} MiB" if limited else ""
    if isinstance(err, MemoryError) or getattr(err, "errno", None) == errno.ENOMEM:
        what = f"{type(err).__name__}: {first}" if first else type(err).__name__
    elif isinstance(err, (ImportError, OSError)) and any(
        text in first.lower() for text in _MAP_FAILURES
    ):
        if not limited and "failed to map" not in first.lower():
            return None  # no limit: the library may be missing indeed
        what = f"a library could not be loaded: {first}"
    else:
        return None
    return f"memory was short ({what}{where}); no output written"
