"""A stage's fixed cost: what training imports (benchmarks/stage_cost.py measures the time)."""

import os
import shutil
import subprocess
import sys

from conftest import ROOT

IGNORE = shutil.ignore_patterns("__pycache__")

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


LOAD_A_KERNEL = """
import reinforce.sim._kernels as kernels
kernels.compiled_trig_matches_numpy()
stats = kernels._compiled_cos_sin.stats
print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
"""


def load_a_kernel(checkout, cache_home) -> tuple[int, int]:
    """(cache hits, cache misses) of one kernel, in a fresh process on that checkout."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "PYTHONPATH": str(checkout)}
    env.pop("NUMBA_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_A_KERNEL],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    hits, misses = done.stdout.split()
    return int(hits), int(misses)


def test_a_second_copy_of_the_kernels_loads_the_first_ones_cache(tmp_path):
    """The kernels' cache is keyed by their source, in the user's cache folder: a second
    checkout of the same source (another path) compiles nothing; an edit of the source
    does not load the old code; an unwritable cache folder falls back to __pycache__."""
    first, second = tmp_path / "first", tmp_path / "second"
    for copy in (first, second):
        shutil.copytree(ROOT / "reinforce", copy / "reinforce", ignore=IGNORE)
    assert load_a_kernel(first, tmp_path / "cache") == (0, 1)
    assert load_a_kernel(second, tmp_path / "cache") == (1, 0)
    assert not list((second / "reinforce" / "sim").rglob("*.nbi"))

    kernels = second / "reinforce" / "sim" / "_kernels.py"
    kernels.write_text(kernels.read_text() + "\n# edited\n")
    assert load_a_kernel(second, tmp_path / "cache") == (0, 1)

    unwritable = tmp_path / "file"
    unwritable.write_text("")  # a file, so no folder can be made below it
    assert load_a_kernel(first, unwritable) == (0, 1)
    assert list((first / "reinforce" / "sim" / "__pycache__").glob("_kernels.*.nbi"))
