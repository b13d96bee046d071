"""Where Numba caches the compiled kernels: the user's cache folder, keyed by their source.

Numba's own places are keyed by the source file's folder (beside it in __pycache__, or in
~/.cache/numba under a hash of its path), so every fresh clone, second checkout or CI
checkout compiled the kernels again (about 5 s). Here the folder is named by the SHA-256
of _kernels.py's bytes, under $XDG_CACHE_HOME/reinforce/numba (default ~/.cache): every
copy of the same source shares one cache. Numba still checks, per kernel, its own version,
the source's hash, the signature and the CPU, and every kernel calls only functions of
that one file, so a copy with the same bytes compiles to the same code. Where that folder
cannot be written, Numba's own locators follow (beside the module, then ~/.cache/numba).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba.core.caching as caching

from reinforce.sim import _numba_lean

# Here rather than in _kernels.py, which imports this module before its first kernel: an
# edit of _kernels.py's bytes would move every user's cache (its key) and recompile.
_numba_lean.skip_blas_check_import()


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reinforce" / "numba"


class SourceKeyedCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        digest = hashlib.sha256(Path(py_file).read_bytes()).hexdigest()[:24]
        self._cache_path = str(cache_root() / digest)

    def get_cache_path(self):
        return self._cache_path


# numba.core.config.CACHE_LOCATOR_CLASSES, while the kernels are decorated: this locator
# first, unless the user points Numba at a folder (NUMBA_CACHE_DIR), then Numba's own.
LOCATORS = ",".join(
    [
        "UserProvidedCacheLocator",
        f"{__name__}.SourceKeyedCacheLocator",
        "InTreeCacheLocator",
        "UserWideCacheLocator",
    ]
)
