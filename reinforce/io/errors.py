"""The two ways an input can be refused, below every module that raises them."""

from __future__ import annotations


class ConfigError(ValueError):
    """A value in params.yaml that the pipeline cannot run with."""


class DataError(ValueError):
    """An input file of a stage (another stage's output) that cannot be read as promised."""


class TrainingDiverged(DataError):
    """A training run whose losses or weights became non-finite (a step too large)."""

    @classmethod
    def after_update(
        cls, seed: int, episode: int, loss: float, rates: str, can_clip: bool
    ) -> TrainingDiverged:
        """The one line for seed's update at `episode` that left a non-finite loss (or, with
        a finite loss, non-finite weights); rates: the step sizes to lower ("lr 0.01")."""
        what = (
            f"the policy loss is {loss}"
            if loss != loss or loss in (float("inf"), float("-inf"))
            else "the weights are not finite"
        )
        clip = ", or set grad_clip_norm" if can_clip else ""
        return cls(
            f"seed {seed}, episode {episode}: {what} after an update; "
            f"the training diverged, most likely a step too large ({rates}): lower it{clip}"
        )


class WorkerFailed(RuntimeError):
    """A worker process that died (killed, out of memory) before it sent its result."""
