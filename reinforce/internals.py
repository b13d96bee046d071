"""Every private internal of torch and Numba this project uses, and the one switch for them.

Nothing outside this module touches a private name of torch, Numba (llvmlite included) or
gymnasium (tests/test_internals.py parses every module and fails on one). Each internal
below buys time and nothing else: with the switch off, every caller takes torch's, Numba's
and gymnasium's public APIs and the training outputs are the same bytes
(tests/test_internals.py runs the training tests, and a train stage, with it off).

The switch: REINFORCE_PRIVATE_INTERNALS=0 in the environment turns every internal off
(public APIs only); 1, or unset, turns them on. It is read once, when this module is first
imported; any other value is refused in one line. A torch or Numba upgrade that breaks an
internal breaks it here only, and the switch is the way round it until it is fixed.

The internals, what each buys, and where it is used. "Buys": the stage's time with it off
against all on, from `python -W ignore -m benchmarks.internals` (each internal off alone
against all on, alternated, 3 rounds, medians, real stage processes; the wall time where it
was resolved, else the CPU time: the machine was shared, load average 7-10 on 2 cores; the
full output and the second command in README, "Private internals"):

- fused_adam (torch.optim.Adam._init_group, torch._foreach_add_, torch._fused_adam_ and
  _fused_adamw_): the per-episode path's Adam step (train.FusedAdamStep) as one call of
  the kernel that Adam.step's fused core calls, with the same arguments, skipping
  Optimizer.step's per-call hooks and the functional path's checks and grouping; its
  first step creates the state with Adam's own _init_group, since Adam.step imports
  torch._dynamo (1-1.5 s per process). Public path: optimizer.step().
  Buys: train article (10 seeds x 100 episodes) 16.6 s -> 11.6 s wall (30% of the
  stage); train actor-critic (10 x 20) 46.4 s -> 21.8 s (53%).
- stacked_adam (torch._fused_adam_): the rollout path's step of every seed's stacked
  weights (rollouts.StackedAdam) as one kernel call with one step counter. Public path:
  a torch.optim.Adam(fused=True) over the same per-seed parts, their gradients set.
  Buys: train ppo (10 seeds x 50 episodes) 15.1 s -> 9.1 s wall (40%).
- skip_dynamo (torch._disable_dynamo's cache attribute): torch wraps a few Optimizer
  methods (add_param_group, which every optimizer's __init__ calls; zero_grad,
  state_dict, load_state_dict) in a wrapper that imports torch._dynamo (1-1.5 s) on its
  first call only to keep torch.compile out of them; nothing here compiles with torch,
  so each wrapper is handed the plain method as its "disabled" version (the same method
  runs). Where torch._dynamo is loaded already, nothing is changed.
  Buys: train article (10 x 100) 13.9 s -> 11.6 s wall (16%); CPU 4.39 s -> 2.63 s on
  10 x 30 (40%). Only where an optimizer is made (train, tune).
- defer_tracing (a sys.meta_path finder for torch.export and torch._meta_registrations,
  with the torch._decomp and torch._refs they import: about 0.2 s of `import torch`):
  in a `python -m stages.<name>` process (stages/__init__.py, before anything imports
  torch) each is bound in torch as usual and runs its code at the first access to one of
  its attributes, or when torch._dynamo or torch._inductor is imported. What eager torch
  needs from them, torch._prims.rng_prims (torch.Generator() raises without it), is
  imported where torch imported it before (tests/test_startup.py).
  Buys: about 0.2-0.3 s CPU per stage: evaluate 2.89 s -> 2.62 s CPU (9.5%), train
  article (10 x 30) 2.86 s -> 2.63 s (8%); not resolved by the shared machine's wall
  times (README, "A stage's fixed cost": 1.38 s -> 1.24 s on an idle one).
- numba_blas_check (numba.np.linalg.ensure_blas): numba.np.arraymath checks at import
  whether a BLAS is there by importing scipy.linalg.cython_blas (about 0.2 s per
  process, when the first kernel loads); that one check is answered "there" (scipy is a
  pinned dependency); every other call (np.dot, np.linalg.* being compiled) is the real
  one. Where arraymath is loaded already, nothing is changed.
  Buys: 0.1-0.2 s CPU per stage: evaluate 2.81 s -> 2.62 s CPU (6.8%), train article
  (10 x 30) 2.73 s -> 2.63 s (3.7%); not resolved by the shared machine's wall times.
  The smallest: under 3% of the committed train@article, kept for evaluate.
- numba_cache (numba.core.caching's locator classes, numba.core.config): the kernels'
  compiled code is cached in $XDG_CACHE_HOME/reinforce/numba/<SHA-256 of _kernels.py>
  (default ~/.cache), shared by every copy of the same source, where Numba's own places
  are keyed by the source file's folder: a fresh clone, second checkout or CI checkout
  compiled every kernel again (about 5 s). NUMBA_CACHE_DIR, where set, wins; where that
  folder cannot be written, Numba's own locators follow. Public path: Numba's own
  locators (beside _kernels.py in __pycache__, else ~/.cache/numba).
  Buys: a stage's first run in a fresh checkout (train article, 2 seeds x 1 episode)
  11.3 s -> 6.1 s wall (46%); nothing once a checkout has compiled its own.

gymnasium's CartPoleEnv._sutton_barto_reward was read here once; the env spec's
kwargs tell the same (reinforce/sim/envs.py), so no gymnasium internal is left.

Adding one: it goes in this module only, behind the switch (a name in NAMES, read through
ON), with its public path beside its caller, a test that both give the same bytes, and
its gain measured by benchmarks/internals.py (CONTRIBUTING.md). One that buys less than
3% of the wall time of every stage it applies to is not worth its upkeep.

This module imports torch and Numba only inside the functions that use them: importing it
costs nothing (the select stage starts without torch).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.abc
import os
import sys
import types
from pathlib import Path

SWITCH = "REINFORCE_PRIVATE_INTERNALS"
NAMES = (
    "fused_adam",
    "stacked_adam",
    "skip_dynamo",
    "defer_tracing",
    "numba_blas_check",
    "numba_cache",
)


def _read_switch() -> bool:
    value = os.environ.get(SWITCH, "1")
    if value not in ("0", "1"):
        # a bad parameter's one line and exit status (reinforce/io/cli.py), which this
        # module, below every layer, cannot import
        print(
            f"{SWITCH}: got {value!r}; allowed: 1 (default, the private fast paths) or 0 "
            "(public APIs only, the same bytes)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return value == "1"


ENABLED = _read_switch()
# Each internal on or off; the switch sets them all. benchmarks/internals.py turns one off
# at a time in its own processes, before anything here runs.
ON: dict[str, bool] = dict.fromkeys(NAMES, ENABLED)


# ------------------------------------------------------------------------------- torch


def init_adam_state(optimizer) -> None:
    """Create the state of every parameter of optimizer's one group, with Adam.step's own
    code (fused_adam)."""
    (group,) = optimizer.param_groups
    optimizer._init_group(group, [], [], [], [], [], [])


def add_one_(tensors) -> None:
    """Add 1 to each tensor, as Adam.step's fused core does to its step counters."""
    import torch

    torch._foreach_add_(tensors, 1)


def fused_adam_(
    params,
    grads,
    exp_avgs,
    exp_avg_sqs,
    steps,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool = False,
) -> None:
    """The kernel that torch.optim.adam._fused_adam calls (torch._fused_adam_, or
    _fused_adamw_ with decoupled weight decay), with the arguments it passes for a group
    without amsgrad, grad scaling or capturable steps; steps already incremented."""
    import torch

    kernel = torch._fused_adamw_ if decoupled_weight_decay else torch._fused_adam_
    kernel(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        amsgrad=False,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
        grad_scale=None,
        found_inf=None,
    )


# the cache attribute torch._compile._disable_dynamo's wrapper looks its function up by
_CACHED = "__dynamo_disable"
OPTIMIZER_METHODS = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def skip_dynamo_import() -> list[str]:
    """Hand each wrapped Optimizer method its plain self (skip_dynamo); returns the names
    handled (none when off, or where torch no longer wraps a method this way)."""
    if not ON["skip_dynamo"]:
        return []
    import torch

    if "torch._dynamo" in sys.modules:
        return []
    wrapper_code = torch._disable_dynamo(lambda: None).__code__
    handled = []
    for name in OPTIMIZER_METHODS:
        method = getattr(torch.optim.Optimizer, name, None)
        plain = getattr(method, "__wrapped__", None)
        if getattr(method, "__code__", None) is wrapper_code and plain is not None:
            if getattr(plain, _CACHED, None) is None:
                setattr(plain, _CACHED, plain)
            handled.append(name)
    return handled


DEFERRED = ("torch._meta_registrations", "torch.export")
# importing one of these loads the deferred modules first: they trace, on the meta kernels
TRACERS = ("torch._dynamo", "torch._inductor")
# what torch/__init__.py gets from importing torch._meta_registrations that eager torch
# needs: torch.Generator() raises until rng_prims has set the Generator's metaclass
_NEEDED_BY_EAGER = {"torch._meta_registrations": "torch._prims.rng_prims"}
# attributes the import system and inspect.getmodule read of every module in sys.modules
# (torch's op registration at import calls getmodule): answered without running the code
_MODULE_ATTRIBUTES = frozenset(
    {
        "__class__",
        "__dict__",
        "__name__",
        "__spec__",
        "__loader__",
        "__package__",
        "__path__",
        "__file__",
        "__cached__",
    }
)


class DeferredModule(types.ModuleType):
    """A module whose code has not run yet: the first other attribute runs it."""

    def __getattribute__(self, name):
        if name in _MODULE_ATTRIBUTES:
            return super().__getattribute__(name)
        _run_deferred(self)
        return getattr(self, name)

    def __setattr__(self, name, value):
        if name not in _MODULE_ATTRIBUTES:
            _run_deferred(self)
        object.__setattr__(self, name, value)


def _run_deferred(module: types.ModuleType) -> None:
    if type(module) is not DeferredModule:
        return
    object.__setattr__(module, "__class__", types.ModuleType)
    spec = module.__spec__
    spec.loader.real.exec_module(module)


def load_deferred() -> None:
    """Run the code of every deferred module that is still waiting (torch's own order)."""
    for name in DEFERRED:
        module = sys.modules.get(name)
        if module is not None:
            _run_deferred(module)


class _DeferringLoader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        if needed := _NEEDED_BY_EAGER.get(module.__name__):
            importlib.import_module(needed)
        module.__class__ = DeferredModule


class _DeferringFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in TRACERS:
            load_deferred()
        if name not in DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                spec.loader = _DeferringLoader(spec.loader)
                return spec
        return None


def defer_tracing_modules() -> bool:
    """Defer torch.export and torch._meta_registrations in this process (defer_tracing);
    only before torch is imported (returns whether it took effect)."""
    if not ON["defer_tracing"]:
        return False
    if "torch" in sys.modules or any(isinstance(f, _DeferringFinder) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _DeferringFinder())
    return True


# ------------------------------------------------------------------------------- Numba

_ARRAYMATH = "numba.np.arraymath"


def skip_blas_check_import() -> bool:
    """Answer numba.np.arraymath's import-time BLAS check without importing scipy
    (numba_blas_check); returns whether it was handled (False when off, or where arraymath
    was imported already)."""
    if not ON["numba_blas_check"]:
        return False
    import numba.np.linalg as numba_linalg

    if _ARRAYMATH in sys.modules or getattr(numba_linalg.ensure_blas, "skips_import", False):
        return False
    real = numba_linalg.ensure_blas

    def ensure_blas_at_arraymath_import():
        # arraymath binds this function at its import and calls it once, there; every
        # later caller finds the real one again
        numba_linalg.ensure_blas = real
        if _ARRAYMATH in sys.modules:
            sys.modules[_ARRAYMATH].ensure_blas = real
        if sys._getframe(1).f_globals.get("__name__") != _ARRAYMATH:
            real()  # a caller other than arraymath's check (none is known): the real check

    ensure_blas_at_arraymath_import.skips_import = True
    numba_linalg.ensure_blas = ensure_blas_at_arraymath_import
    return True


def numba_cache_root() -> Path:
    """Where numba_cache keeps the kernels' compiled code, one folder per source."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reinforce" / "numba"


@functools.cache
def _source_keyed_locator() -> type:
    import numba.core.caching as caching

    class SourceKeyedCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            digest = hashlib.sha256(Path(py_file).read_bytes()).hexdigest()[:24]
            self._cache_path = str(numba_cache_root() / digest)

        def get_cache_path(self):
            return self._cache_path

    SourceKeyedCacheLocator.__module__ = __name__
    return SourceKeyedCacheLocator


def __getattr__(name: str):
    # Numba finds the locator by its path (below), importing this module and reading the
    # attribute: the class is made then, so importing this module never imports Numba.
    if name == "SourceKeyedCacheLocator":
        return _source_keyed_locator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# numba.core.config.CACHE_LOCATOR_CLASSES while the kernels are decorated: this locator
# first, unless the user points Numba at a folder (NUMBA_CACHE_DIR), then Numba's own.
LOCATORS = ",".join(
    [
        "UserProvidedCacheLocator",
        f"{__name__}.SourceKeyedCacheLocator",
        "InTreeCacheLocator",
        "UserWideCacheLocator",
    ]
)


@contextlib.contextmanager
def kernel_cache():
    """While a kernel is decorated with cache=True: numba_cache's locators, unless the
    user set NUMBA_CACHE_LOCATOR_CLASSES; off, Numba's own."""
    if not ON["numba_cache"]:
        yield
        return
    import numba.core.config as config

    saved = getattr(config, "CACHE_LOCATOR_CLASSES", "")
    config.CACHE_LOCATOR_CLASSES = saved or LOCATORS
    try:
        yield
    finally:
        config.CACHE_LOCATOR_CLASSES = saved
