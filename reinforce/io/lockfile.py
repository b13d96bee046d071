"""dvc.lock cut short by an interrupted write (DVC's own, e.g. Ctrl-C right after
"Updating lock file"): every later `dvc repro` and `dvc status` then fails before any stage
runs, so the check and its repair live outside the pipeline (`python -m stages.doctor`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

LOCK_FILE = "dvc.lock"
RECOVERY = (
    f"restore it with `git checkout -- {LOCK_FILE}` (or delete it) and run `dvc repro` "
    "again, or run `python -m stages.doctor --fix`"
)


def lock_problem(root: str | Path = ".") -> str | None:
    """One line when dvc.lock is there but DVC cannot read it; None when it can (or when
    there is none, which DVC reads as "every stage to run")."""
    path = Path(root) / LOCK_FILE
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        from dvc.schema import COMPILED_LOCKFILE_SCHEMA  # DVC's own check of the file

        COMPILED_LOCKFILE_SCHEMA(data)
    except Exception:  # noqa: BLE001  (YAML, encoding and schema errors: all the same to DVC)
        return f"{LOCK_FILE} is cut short or damaged (an interrupted write); {RECOVERY}"
    return None


def _committed_lock(root: Path) -> bytes | None:
    """dvc.lock as git's HEAD holds it, None where git holds none."""
    result = subprocess.run(["git", "show", f"HEAD:./{LOCK_FILE}"], cwd=root, capture_output=True)
    return result.stdout if result.returncode == 0 else None


def repair_lock(root: str | Path = ".") -> str:
    """Replace a damaged dvc.lock by the committed one when that one is sound, else remove
    it; `dvc repro` then reruns exactly the stages whose recorded hashes do not match.
    Returns what was done."""
    root = Path(root)
    path = root / LOCK_FILE
    committed = _committed_lock(root)
    damaged = path.read_bytes()
    path.with_name(LOCK_FILE + ".damaged").write_bytes(damaged)
    if committed is not None:
        path.write_bytes(committed)
        if lock_problem(root) is None:
            return (
                f"restored {LOCK_FILE} from git's HEAD (the damaged one is kept as "
                f"{LOCK_FILE}.damaged); run `dvc repro`"
            )
    path.unlink()
    return (
        f"removed {LOCK_FILE} (no sound committed one; the damaged one is kept as "
        f"{LOCK_FILE}.damaged); run `dvc repro`, which reruns every stage"
    )
