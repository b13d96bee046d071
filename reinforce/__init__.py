"""REINFORCE on Gymnasium across seeds and variants: the library behind the DVC stages.

Importing this package pins the numerical code path of torch, MKL and OpenBLAS before
either library is loaded, so that the same wheels give the same bytes on CPUs with
different vector units (see README, "What the reproducibility promise covers").
"""

import os

# Measured on these machines (README, "What the reproducibility promise covers"): torch's
# kernel choice and MKL's code path each change the bytes of a run, OpenBLAS's core type
# did not. setdefault: a user may override a pin (e.g. to measure the native path), and
# the environment fingerprint records the values in force.
NUMERIC_PINS = {
    # torch's vectorized kernels: AVX2 exists on every x86_64 CPU since 2013-2015; on one
    # without it torch falls back to its default kernels (and other bytes).
    "ATEN_CPU_CAPABILITY": "avx2",
    # MKL's conditional numerical reproducibility: one code path on every x86_64 CPU.
    "MKL_CBWR": "COMPATIBLE",
    # One thread each: results must not depend on the core count.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
for _name, _value in NUMERIC_PINS.items():
    os.environ.setdefault(_name, _value)
