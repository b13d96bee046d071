"""A stage's fixed cost: what training imports (benchmarks/stage_cost.py measures the time)."""

import os
import shutil
import subprocess
import sys

from conftest import ROOT

IGNORE = shutil.ignore_patterns("__pycache__")


def python_stdout(code: str, cwd=ROOT, env=None) -> str:
    """What `python -c code` prints, in a fresh process (it must succeed), with the private
    internals on (reinforce/internals.py), whose savings these tests hold."""
    env = {**(os.environ if env is None else env), "REINFORCE_PRIVATE_INTERNALS": "1"}
    command = [sys.executable, "-c", code]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout


TRAIN_ONE_EPISODE = """
import sys
import reinforce
from reinforce.agent.train import train_variant
from reinforce.io.config import TrainConfig
train_variant(TrainConfig(episodes=2, hidden_dim=8, baseline="value"), "CartPole-v1", [0, 1])
slow = ("torch._dynamo", "scipy.signal", "scipy.stats", "scipy.linalg", "sympy", "pandas")
print(sorted(name for name in slow if name in sys.modules))
"""


def test_training_imports_none_of_the_slow_modules_it_does_not_use():
    """Adam's construction and step would import torch._dynamo (1-1.5 s), the discounted
    sums scipy.signal (0.8 s), nn.utils.skip_init sympy (0.5 s), Numba's BLAS check
    scipy.linalg (0.2 s), the curves pandas (0.2-0.3 s: the train stage writes them with
    outputs.curves_csv); training in a fresh process loads none of them."""
    stdout = python_stdout(TRAIN_ONE_EPISODE)
    assert stdout.strip().splitlines()[-1] == "[]"


NUMBA_BLAS_AFTER_A_KERNEL = """
import sys
import numpy as np
import numba
import reinforce.sim._kernels as kernels
kernels.compiled_trig_matches_numpy()
import numba.np.arraymath as arraymath
import numba.np.linalg as linalg
before = "scipy.linalg" in sys.modules
dot = numba.njit(lambda a, b: np.dot(a, b))
convolve = numba.njit(lambda a, b: np.convolve(a, b))
a, b = np.arange(3.0), np.arange(1.0, 4.0)
print(before, arraymath._HAVE_BLAS, linalg.ensure_blas is arraymath.ensure_blas)
print(dot(a, b) == np.dot(a, b), (convolve(a, b) == np.convolve(a, b)).all())
print("scipy.linalg" in sys.modules)
"""


def test_numba_keeps_its_blas_without_importing_scipy_for_the_kernels():
    """reinforce/internals.py (numba_blas_check) answers numba.np.arraymath's import-time
    BLAS check without importing scipy.linalg; after the kernels load, Numba's BLAS
    (np.dot, and np.convolve, which reads that check) compiles and agrees with NumPy,
    importing scipy then."""
    stdout = python_stdout(NUMBA_BLAS_AFTER_A_KERNEL)
    assert stdout.split() == ["False", "True", "True", "True", "True", "True"]


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
    stdout = python_stdout(LOAD_A_KERNEL, cwd=checkout, env=env)
    hits, misses = stdout.split()
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


COUNT_MISSES = """
import numba
import reinforce.sim._kernels as kernels
from reinforce.agent.warm_up import warm_up
warm_up()
dispatchers = [f for f in vars(kernels).values() if isinstance(f, numba.core.dispatcher.Dispatcher)]
hits = sum(sum(f.stats.cache_hits.values()) for f in dispatchers)
misses = sum(sum(f.stats.cache_misses.values()) for f in dispatchers)
print(hits, misses)
"""


def test_after_the_warm_up_the_pipeline_compiles_nothing(tmp_path):
    """What the image build runs (python -m reinforce.agent.warm_up) leaves every kernel
    the pipeline's paths call in the cache: the same paths in a second process load them
    all (hits) and compile none (no misses)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    runs = [python_stdout(COUNT_MISSES, env=env).split()[-2:] for _ in range(2)]
    _, first_misses = map(int, runs[0])
    second_hits, second_misses = map(int, runs[1])
    assert first_misses > 0
    assert second_misses == 0
    assert second_hits > 0


def test_the_warm_up_covers_every_env_with_a_compiled_step():
    import gymnasium as gym

    from reinforce.agent.warm_up import COMPILED_ENVS
    from reinforce.sim.envs import CartPoleBatch, classic_batch

    compiled = {
        env_id
        for env_id, spec in gym.registry.items()
        if spec.entry_point
        and "classic_control" in str(spec.entry_point)
        and (CartPoleBatch.supports(env_id) or classic_batch(env_id) is not None)
    }
    assert compiled - {"CartPole-v0"} == set(COMPILED_ENVS)  # v0: v1's kernels


STAGE_GC = """
import gc, sys
sys.argv = ["-m"]  # as `python -m stages.<name>` has it while the package is imported
import stages
from reinforce.io.cli import stage_main
while_importing = gc.isenabled()
def main(argv):
    print(while_importing, gc.isenabled(), gc.get_freeze_count() > 0)
main.__module__ = "__main__"
stage_main("probe")(main)([])
"""


def test_a_stage_imports_without_the_collector_and_runs_with_it():
    """stages/__init__.py turns the cyclic collector off for the imports of a `python -m`
    stage; stage_main freezes what they left and turns it on again before main runs."""
    stdout = python_stdout(STAGE_GC)
    assert stdout.split() == ["False", "True", "True"]


DEFERRED_UNTIL_TRACING = """
import sys
sys.argv = ["-m"]  # as `python -m stages.<name>` has it while the package is imported
import stages
import torch
from reinforce.internals import DEFERRED
def waiting():
    return [type(sys.modules[name]).__name__ == "DeferredModule" for name in DEFERRED]
after_import = waiting()
torch.Generator().manual_seed(0)  # raises where torch._prims.rng_prims was not imported
meta = (torch.empty(2, 3, device="meta") @ torch.empty(3, 4, device="meta")).shape
after_eager_use = waiting()
exported = callable(torch.export.export)
after_export = waiting()
import torch._dynamo
print(after_import, after_eager_use, exported, after_export, waiting(), list(meta))
"""


def test_a_stage_defers_torch_export_and_the_meta_kernels_until_something_traces():
    """stages/__init__.py defers torch.export and torch._meta_registrations: eager torch
    (a Generator, the meta device's C++ kernels) works without them; an attribute of one
    runs that one's code, and importing torch._dynamo runs both."""
    stdout = python_stdout(DEFERRED_UNTIL_TRACING)
    assert stdout.strip().splitlines()[-1] == (
        "[True, True] [True, True] True [True, False] [False, False] [2, 4]"
    )


def test_a_process_that_is_not_a_stage_imports_torch_whole():
    stdout = python_stdout("import sys, stages, torch; print(type(torch.export).__name__)")
    assert stdout.split() == ["module"]


# the stage run as `python -m` would, but with sys.argv[0] the stage's name while the
# stages package is imported: stages/__init__.py then defers nothing
STAGE_WITHOUT_DEFERRING = """
import runpy, sys
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def test_a_stage_gives_the_same_bytes_with_torch_deferred_and_whole(tmp_path):
    """train and evaluate (its checkpoints loaded with weights_only) of a variant with a
    critic: the same outputs from `python -m` stages (deferring) and from stages in a
    process that imported torch whole."""
    import yaml
    from conftest import tiny_params, tree_bytes

    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(tiny_params(variants={"critic": {"baseline": "value"}}))
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REINFORCE_PRIVATE_INTERNALS": "1"}
    outputs = {}
    for how, start in (("deferred", ["-m"]), ("whole", ["-c", STAGE_WITHOUT_DEFERRING])):
        for stage in ("train", "evaluate"):
            command = [sys.executable, *start, f"stages.{stage}", "critic"]
            command += ["--params", "params.yaml", "--root", how]
            subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, check=True)
        outputs[how] = {
            name.split("/", 1)[1]: data for name, data in tree_bytes(tmp_path, how).items()
        }
    assert outputs["deferred"] == outputs["whole"]
    assert {
        "runs/critic/train/curves.csv",
        "runs/critic/eval/eval.csv",
    } <= set(outputs["deferred"])
