"""REINFORCE on Gymnasium across seeds and variants: the library behind the DVC stages.

Importing this package pins the numerical code path of torch, MKL and OpenBLAS before
either library is loaded, so that the same wheels give the same bytes on CPUs with
different vector units (see README, "What the reproducibility promise covers").
"""

import os

# setdefault: a user may override any pin from the environment (e.g. to measure the
# machine's native path), and the fingerprint records the values in force.
NUMERIC_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
for _name, _value in NUMERIC_PINS.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
