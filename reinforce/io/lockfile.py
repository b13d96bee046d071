"""dvc.lock cut short by an interrupted write (DVC's own, e.g. Ctrl-C right after
"Updating lock file"): every later `dvc repro` and `dvc status` then fails before any stage
runs, so the check and its repair live outside the pipeline (`python -m stages.doctor`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from reinforce.io.errors import DataError
from reinforce.io.outputs import guard, write_atomic

LOCK_FILE = "dvc.lock"


def recovery(name: str = LOCK_FILE) -> str:
    return (
        f"restore it with `git checkout -- {name}` (or delete it) and run `dvc repro` "
        "again, or run `python -m stages.doctor --fix`"
    )


def lock_files(root: str | Path = ".") -> list[str]:
    """The lock files doctor looks at, relative to the repository root: dvc.lock and that
    of every study under studies/ with a dvc.yaml (the suite's), whether or not each is
    there yet."""
    studies = sorted(p.parent for p in Path(root).glob("studies/*/dvc.yaml"))
    return [LOCK_FILE] + [(p.relative_to(root) / LOCK_FILE).as_posix() for p in studies]


def lock_problem(root: str | Path = ".", name: str = LOCK_FILE) -> str | None:
    """One line when the lock file (name, under root) is there but DVC cannot read it; None
    when it can (or when there is none, which DVC reads as "every stage to run")."""
    path = Path(root) / name
    if path.is_dir() and not path.is_symlink():
        return (
            f"{name} is a folder, not DVC's lock file; move it away (doctor removes no "
            "folder) and run `dvc repro`, which reruns every stage it does not find locked"
        )
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        from dvc.schema import COMPILED_LOCKFILE_SCHEMA  # DVC's own check of the file

        COMPILED_LOCKFILE_SCHEMA(data)
    except Exception:  # noqa: BLE001  (YAML, encoding and schema errors: all the same to DVC)
        return f"{name} is cut short or damaged (an interrupted write); {recovery(name)}"
    return None


def _committed_lock(root: Path, name: str) -> bytes | None:
    """The lock file as git's HEAD holds it, None where git holds none."""
    result = subprocess.run(["git", "show", f"HEAD:./{name}"], cwd=root, capture_output=True)
    return result.stdout if result.returncode == 0 else None


def repair_lock(root: str | Path = ".", name: str = LOCK_FILE) -> str:
    """Replace a damaged lock file by the committed one when that one is sound, else remove
    it; `dvc repro` then reruns exactly the stages whose recorded hashes do not match.
    Returns what was done. Every write and the removal go through outputs.guard: a lock
    file (or its folder) linked outside the repository is refused (DataError), untouched;
    a folder in its place is refused too."""
    root = Path(root)
    path = guard(root / name)
    damaged_path = guard(root / (name + ".damaged"))
    if path.is_dir() and not path.is_symlink():
        raise DataError(lock_problem(root, name))
    committed = _committed_lock(root, name)
    write_atomic(damaged_path, path.read_bytes())
    if committed is not None:
        write_atomic(path, committed)
        if lock_problem(root, name) is None:
            return (
                f"restored {name} from git's HEAD (the damaged one is kept as "
                f"{name}.damaged); run `dvc repro`"
            )
    path.unlink()
    return (
        f"removed {name} (no sound committed one; the damaged one is kept as "
        f"{name}.damaged); run `dvc repro`, which reruns every stage"
    )
