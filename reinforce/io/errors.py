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
        rates: str,
        can_clip: bool,
    ) -> None:
        """Raise (one line) when seed's update at `episode` left a non-finite loss or
        weights: every later update and the saved policy would be NaN. weights: NumPy
        views of the weights (one isfinite over them all: a few thousand floats, the join
        costs less than a call per tensor); rates: the step sizes to lower ("lr 0.01")."""
        finite_loss = math.isfinite(loss)
        if finite_loss and bool(np.isfinite(np.concatenate(weights)).all()):
            return
        what = "the weights are not finite" if finite_loss else f"the policy loss is {loss}"
        clip = ", or set grad_clip_norm" if can_clip else ""
        raise cls(
            f"seed {seed}, episode {episode}: {what} after an update; "
            f"the training diverged, most likely a step too large ({rates}): lower it{clip}"
        )


class WorkerFailed(RuntimeError):
    """A worker process that died (killed, out of memory) before it sent its result."""
