"""A stage's fixed cost: what training imports (benchmarks/stage_cost.py measures the time)."""

import subprocess
import sys

from conftest import ROOT

TRAIN_ONE_EPISODE = """
import sys
import reinforce
from reinforce.agent.train import train_variant
from reinforce.io.config import TrainConfig
train_variant(TrainConfig(episodes=2, hidden_dim=8, baseline="value"), "CartPole-v1", [0, 1])
slow = ("torch._dynamo", "scipy.signal", "scipy.stats", "sympy")
print(sorted(name for name in slow if name in sys.modules))
"""


def test_training_imports_none_of_the_slow_modules_it_does_not_use():
    """Adam's construction and step would import torch._dynamo (1-1.5 s), the discounted
    sums scipy.signal (0.8 s), nn.utils.skip_init sympy (0.5 s); training in a fresh
    process loads none of them."""
    done = subprocess.run(
        [sys.executable, "-c", TRAIN_ONE_EPISODE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
