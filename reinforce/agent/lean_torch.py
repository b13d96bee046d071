"""Keep torch from importing, in a stage's process, what no stage uses.

Two costs that `import torch` and torch's optimizers pay in every process (1.5-2.5 s of a
stage's ~2 s fixed cost before these), and what is done about each:

- torch._dynamo (about 1-1.5 s): torch wraps a few Optimizer methods (add_param_group,
  which every optimizer's __init__ calls; zero_grad, state_dict, load_state_dict) in
  torch._compile._disable_dynamo, whose wrapper imports torch._dynamo on its first call
  only to wrap the method so that torch.compile would not trace into it, and then calls
  the method. Nothing in this project compiles with torch, so the wrapper is handed the
  plain method as its "disabled" version: the same method runs, with the same arithmetic,
  minus the import (skip_dynamo_import). Where torch._dynamo is loaded already (someone
  compiles in this process), nothing is changed.
- torch.export and torch._meta_registrations (about 0.2 s of `import torch`, with the
  torch._decomp and torch._refs they pull in): torch/__init__.py imports both eagerly, for
  torch.export and for the Python kernels of the "meta" device that tracing (export,
  torch.compile's fake tensors) runs on. A stage's process (stages/__init__.py, before
  anything imports torch) defers the two (defer_tracing_modules): each is bound in torch
  as usual and runs its code on the first access to one of its attributes, or when
  torch._dynamo, torch._inductor is imported, whichever comes first. What
  _meta_registrations imports that eager torch needs, torch._prims.rng_prims (it makes
  torch.Generator constructible), is imported at the same point as before. The CPU
  kernels a stage runs are not among what is deferred: a stage's outputs are the same
  bytes with and without (tests/test_startup.py).
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import types

# the cache attribute torch._compile._disable_dynamo's wrapper looks its function up by
_CACHED = "__dynamo_disable"
METHODS = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")

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


def skip_dynamo_import() -> list[str]:
    """Hand each wrapped Optimizer method its plain self; returns the names handled (a
    method torch no longer wraps this way is left alone)."""
    import torch

    if "torch._dynamo" in sys.modules:
        return []
    wrapper_code = torch._disable_dynamo(lambda: None).__code__
    handled = []
    for name in METHODS:
        method = getattr(torch.optim.Optimizer, name, None)
        plain = getattr(method, "__wrapped__", None)
        if getattr(method, "__code__", None) is wrapper_code and plain is not None:
            if getattr(plain, _CACHED, None) is None:
                setattr(plain, _CACHED, plain)
            handled.append(name)
    return handled


class _DeferredModule(types.ModuleType):
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
    if type(module) is not _DeferredModule:
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
        module.__class__ = _DeferredModule


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
    """Defer torch.export and torch._meta_registrations in this process; only before torch
    is imported (returns whether it took effect)."""
    if "torch" in sys.modules or any(isinstance(f, _DeferringFinder) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _DeferringFinder())
    return True
