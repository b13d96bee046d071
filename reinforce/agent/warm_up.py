"""Compile every Numba kernel into the cache once: `python -m reinforce.agent.warm_up`.

The Dockerfile runs it at image build, so that `docker run` on a checkout with the same
reinforce/sim/_kernels.py loads the compiled code (the cache is keyed by that file's bytes,
reinforce/internals.py) and never compiles. It plays every path that calls a kernel,
with each argument type the pipeline uses: training (the compiled loop, sampled; the
discounted sums of returns and GAE), evaluation (greedy), and the per-step path (the
random policy), on CartPole and on every classic-control env with a compiled step.
"""

from __future__ import annotations

import sys
import time

from reinforce.agent.evaluate import evaluate_checkpoints, random_policy_returns
from reinforce.agent.train import train_variant
from reinforce.io.config import EvaluateConfig, TrainConfig

# Every env with a compiled step (tests/test_startup.py holds this to reinforce/sim/envs.py).
COMPILED_ENVS = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
)
TINY = TrainConfig(episodes=2, hidden_dim=8)
TINY_GAE = TrainConfig(
    episodes=2,
    hidden_dim=8,
    baseline="value",
    advantage="gae",
    normalize_returns=False,
    normalize_advantages=True,
    update_epochs=2,
    minibatches=2,
    clip_ratio=0.2,
)


def warm_up(env_ids=COMPILED_ENVS) -> None:
    for env_id in env_ids:
        for cfg in (TINY, TINY_GAE):
            result = train_variant(cfg, env_id, [0], label=f"warm-up {env_id}")
        for policy in ("greedy", "sample"):
            evaluate_checkpoints(
                result.checkpoints, env_id, [0], EvaluateConfig(episodes=1, policy=policy)
            )
        random_policy_returns(env_id, [0], 1)


if __name__ == "__main__":
    start = time.perf_counter()
    warm_up()
    print(
        f"warm-up: compiled the kernels for {', '.join(COMPILED_ENVS)} in "
        f"{time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
