"""Keep Numba from importing scipy.linalg (about 0.2 s per process) for nothing.

The first time Numba loads or compiles any kernel it imports its implementations of NumPy,
and numba.np.arraymath checks at import whether a BLAS is there (`_HAVE_BLAS`, read only
when np.convolve or np.correlate of floats is compiled, to pick BLAS's dot) by importing
scipy.linalg.cython_blas, which imports scipy.linalg and, with it, much of scipy. None of
this project's kernels calls BLAS. scipy is one of its pinned dependencies, so the answer is
known: that one check is answered "there" without the import. Every other call of
numba.np.linalg.ensure_blas (np.dot, np.linalg.* being compiled) is the real one and imports
scipy as before. Where arraymath is loaded already, nothing is changed.
"""

from __future__ import annotations

import sys

import numba.np.linalg as numba_linalg

_ARRAYMATH = "numba.np.arraymath"


def skip_blas_check_import() -> bool:
    """Answer arraymath's import-time BLAS check without importing scipy; returns whether
    it was handled (False where arraymath was imported already)."""
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
