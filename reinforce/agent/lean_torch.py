"""Keep torch from importing torch._dynamo (about 1-1.5 s per process) for nothing.

torch wraps a few Optimizer methods (add_param_group, which every optimizer's __init__
calls; zero_grad, state_dict, load_state_dict) in torch._compile._disable_dynamo, whose
wrapper imports torch._dynamo on its first call only to wrap the method so that
torch.compile would not trace into it, and then calls the method. Nothing in this project
compiles with torch, so the wrapper is handed the plain method as its "disabled" version:
the same method runs, with the same arithmetic, minus the import. Where torch._dynamo is
loaded already (someone compiles in this process), nothing is changed.
"""

from __future__ import annotations

import sys

import torch

# the cache attribute torch._compile._disable_dynamo's wrapper looks its function up by
_CACHED = "__dynamo_disable"
METHODS = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def skip_dynamo_import() -> list[str]:
    """Hand each wrapped Optimizer method its plain self; returns the names handled (a
    method torch no longer wraps this way is left alone)."""
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
