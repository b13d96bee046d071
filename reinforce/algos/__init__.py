"""What is learned: one plain-torch file per algorithm, served by every schedule.

An algorithm module (`reinforce/algos/<name>.py`, named by a variant's `algorithm` key)
defines two functions over tensors whose samples lie on the last axis, so that one piece
of maths serves the per-episode path (one seed's batch, shape (N,)) and the stacked path
(every seed's minibatch at once, shape (seeds, M)):

- `targets(experience, cfg) -> (advantages, critic targets)`: how a batch of experience
  (reinforce.algos.base.Experience: rewards, episode ends, the critic's values) becomes the
  weights of -log pi(a|s) and the critic's regression targets, fixed before the update;
- `losses(batch, cfg) -> (policy loss, critic loss or None)`: how the log-probabilities,
  entropies and values the networks give (reinforce.algos.base.Batch) become losses.

The engine (reinforce/agent/train.py, reinforce/agent/rollouts.py) builds the networks,
plays the environments, computes those inputs and steps the optimizers; an algorithm never
sees how fast that runs. `base.py` holds the maths every algorithm may use: the discounted
sums (returns and GAE, one implementation), the normalization and the reduction over
samples. `pg.py` is the built-in policy-gradient family: the article's REINFORCE, its value
baseline, GAE and PPO's clipped surrogate, as options of one loss.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from reinforce.io.config import algorithm_names


@cache  # called on every update: the folder is listed once per process and name
def load(name: str) -> ModuleType:
    """The algorithm module reinforce.algos.<name> (a name the config accepted: one of the
    files of this folder, so no other module can be imported through it)."""
    if name not in algorithm_names():
        raise ValueError(f"no algorithm {name!r}; allowed: {' | '.join(algorithm_names())}")
    return importlib.import_module(f"reinforce.algos.{name}")
