"""Not a DVC stage: the checks that must run where DVC itself cannot, because a lock file
(dvc.lock, or a study's such as studies/suite/dvc.lock) was cut short by an interrupted
write, or is not a file (DVC then fails before any stage runs).

Run from the repository root: python -m stages.doctor [--fix]
"""

from __future__ import annotations

import argparse
import gc
import sys

from reinforce.io.errors import DataError
from reinforce.io.lockfile import lock_files, lock_problem, repair_lock


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fix", action="store_true", help="restore a damaged lock file from git (else remove it)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    names = lock_files(".")
    problems = {name: problem for name in names if (problem := lock_problem(".", name))}
    if not problems:
        print(f"doctor: {' and '.join(names)} {'is' if len(names) == 1 else 'are'} readable")
        return 0
    if not args.fix:
        for problem in problems.values():
            print(f"doctor: {problem}", file=sys.stderr)
        return 1
    code = 0
    for name in problems:
        try:
            print(f"doctor: {repair_lock('.', name)}")
        except (DataError, OSError) as err:  # a link outside the repository, a folder
            print(f"doctor: {err}", file=sys.stderr)
            code = 1
    return code


if __name__ == "__main__":
    gc.enable()  # stages/__init__.py turned it off for the imports (stage_main is not used)
    sys.exit(main())
