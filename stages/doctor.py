"""Not a DVC stage: the checks that must run where DVC itself cannot, because dvc.lock was
cut short by an interrupted write (DVC then fails before any stage runs).

Run from the repository root: python -m stages.doctor [--fix]
"""

from __future__ import annotations

import argparse
import gc
import sys

from reinforce.io.lockfile import lock_problem, repair_lock


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fix", action="store_true", help="restore a damaged dvc.lock from git (else remove it)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    problem = lock_problem(".")
    if problem is None:
        print("doctor: dvc.lock is readable")
        return 0
    if not args.fix:
        print(f"doctor: {problem}", file=sys.stderr)
        return 1
    print(f"doctor: {repair_lock('.')}")
    return 0


if __name__ == "__main__":
    gc.enable()  # stages/__init__.py turned it off for the imports (stage_main is not used)
    sys.exit(main())
