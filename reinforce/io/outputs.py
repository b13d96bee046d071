"""Writing outputs so that a killed stage never leaves a file that looks complete, and
recording the environment every output was made in."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from reinforce import NUMERIC_PINS
from reinforce.io.errors import ConfigError, DataError
from reinforce.io.names import show
from reinforce.io.paths import LOGS, STUDY_OUTPUTS

FINGERPRINT_FILE = "environment.json"
# The columns of a variant's runs/<variant>/train/curves.csv and eval/eval.csv: written by
# training and evaluation, read by the statistics (and tuning, before they are files).
CURVE_COLUMNS = ("seed", "episode", "return", "length", "loss")
EVAL_COLUMNS = ("seed", "episode", "return")


def curves_csv(rows: Iterable[tuple]) -> str:
    """curves.csv's text for (seed, episode, return, length, loss) rows: the bytes that
    pandas.DataFrame(rows, columns=CURVE_COLUMNS).to_csv(index=False, float_format="%.9g")
    gives (tests/test_outputs.py holds it to that), written here without pandas because
    importing it costs a train stage 0.2-0.3 s after its last episode. As pandas does for
    these columns: an integer as Python writes it, a float with %.9g, NaN as an empty field."""

    def field(value) -> str:
        if isinstance(value, float):
            # pandas applies float_format with %, so the same operator here
            return "" if math.isnan(value) else "%.9g" % value  # noqa: UP031
        return str(value)

    lines = [",".join(CURVE_COLUMNS), *(",".join(map(field, row)) for row in rows)]
    return "\n".join(lines) + "\n"


def flatten(record: dict, prefix: str = "") -> dict:
    """A nested record (metrics.json, environment.json) as one level of dotted keys:
    {"a": {"b": 1}} -> {"a.b": 1}."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_TEMP_PREFIX = ".tmp-"


class OutsideStudy(DataError):
    """An output path that a planted symlink leads outside the study."""


def guard(path: str | Path) -> Path:
    """path, after checking that writing or deleting it stays in the study: every write
    and delete of the pipeline (write_atomic, atomic_directory, the doctor's repair) goes
    through here first. A path inside the working folder (the repository every stage runs
    in) must also resolve inside it, symlinks followed: a folder such as runs/<variant>
    moved elsewhere and linked back, or dvc.lock linked to a file outside, is refused in
    one line before anything is created, written or removed. A path given outside the
    working folder (an explicit --out elsewhere) is the user's own choice."""
    path = Path(path)
    here = Path.cwd()
    lexical = Path(os.path.normpath(here / path))
    real_here = here.resolve()
    if not (lexical.is_relative_to(here) or lexical.is_relative_to(real_here)):
        return path
    real = lexical.resolve()
    if real == real_here or real.is_relative_to(real_here):
        return path
    base = here if lexical.is_relative_to(here) else real_here
    link = next(  # the first link on the way that leads out: the one to name
        (
            step
            for step in [*reversed(lexical.parents), lexical]
            if step.is_relative_to(base)
            and step.is_symlink()
            and not step.resolve().is_relative_to(real_here)
        ),
        lexical,
    )
    raise OutsideStudy(
        f"{path}: {link.relative_to(base)} is a symlink to {link.resolve()}, outside the "
        f"study ({real_here}); refusing to write or delete through it, nothing was written "
        "(remove the link, or move what it points to back)"
    )


def check_study_links(root: str | Path = ".") -> None:
    """Refuse (OutsideStudy, one line) a study whose output folders hold a symlink leading
    outside it, before any stage runs: DVC itself removes a stage's outputs before its
    command runs, so a link found only by the stage would be found too late. The check
    stage calls it (dvc.yaml's first stage)."""
    for name in STUDY_OUTPUTS:
        top = Path(root) / name
        guard(top)
        if not top.is_dir() or top.is_symlink():
            continue
        for folder, dirs, files in os.walk(top):  # never follows a link: each is checked
            for entry in dirs + files:
                if os.path.islink(os.path.join(folder, entry)):
                    guard(Path(folder) / entry)


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write data to path through a temporary file in the same folder and a rename (a link
    at path is replaced, never written through); guard()ed first."""
    path = guard(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _holds_cwd_or_repo(path: Path) -> bool:
    """Whether path is the working folder, one above it, or holds a git repository."""
    resolved, here = path.resolve(), Path.cwd().resolve()
    return resolved == here or resolved in here.parents or (path / ".git").exists()


def check_output_folder(path: str | Path, stage: str, owns) -> None:
    """Refuse (one-line ConfigError, key --out) an output folder that replacing would
    destroy something else: the working folder or one above it, a repository, a file, or a
    non-empty folder holding a name that owns(name) says this stage never writes. Also
    refuse a parent this process cannot write into, before any work."""
    path = guard(path)
    if _holds_cwd_or_repo(path):
        raise ConfigError(
            f"--out: got {show(str(path))}; allowed: a new folder or a previous "
            f"output of {stage}, never the working folder, one above it or a "
            "repository"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out: got {show(str(path))}; it is a file; allowed: a folder")
    if path.is_dir():
        foreign = sorted(p.name for p in path.iterdir() if not owns(p.name))
        if foreign:
            raise ConfigError(
                f"--out: got {show(str(path))}; it holds {show(foreign)}, which {stage} never "
                f"writes; allowed: a new or empty folder, or a previous output of {stage}"
            )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--out: got {show(str(path))}; {parent} is not writable; nothing was run"
        )


@contextmanager
def atomic_directory(path: str | Path):
    """Yield a temporary folder beside path; on success it replaces path as a whole.

    A crash or Ctrl-C leaves only a hidden `.tmp-*` folder, which the next run removes.
    Never replaces the working folder, one above it, or a folder holding a repository;
    guard()ed first, and a link at path is removed, never followed.
    """
    path = guard(path)
    if _holds_cwd_or_repo(path):
        raise ConfigError(
            f"{path}: refusing to replace the working folder, one above it or a "
            "repository with an output"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f"{_TEMP_PREFIX}{path.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def requirements_sha256(root: str | Path = ".") -> str | None:
    lock = Path(root) / "requirements.txt"
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else None


def environment_fingerprint() -> dict:
    """What the numbers of an output depend on, and nothing that varies between runs.

    Only fields that can change the bytes are recorded (Python's minor version, library
    versions, CPU architecture, the numeric-path pins, the vector kernels torch runs): no
    host names, times, paths, Python patch levels or raw CPU flags, so the same pinned
    stack gives the same file in the image and on a host, on every CPU the promise covers.
    The image's own identity goes to logs/ (see container_identity).
    """
    import torch

    return {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "implementation": platform.python_implementation(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "gymnasium": _version("gymnasium"),
        "machine": platform.machine(),
        # The kernels torch actually dispatches to: "AVX2" wherever the pin holds, "DEFAULT"
        # (or another name) on a CPU without AVX2, under emulation or on another architecture.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "system": platform.system(),
        "numeric_pins": {name: os.environ.get(name, "") for name in sorted(NUMERIC_PINS)},
    }


def container_identity() -> dict:
    """The image's identity, set by the Dockerfile; empty outside the image."""
    keys = ("REINFORCE_IMAGE_BASE", "REINFORCE_IMAGE_REVISION")
    identity = {key.lower(): os.environ[key] for key in keys if os.environ.get(key)}
    if identity:
        identity["requirements_sha256"] = requirements_sha256(
            os.environ.get("REINFORCE_IMAGE_REQUIREMENTS_DIR", ".")
        )
    return identity


# Where the committed results are promised byte for byte (README, "What the reproducibility
# promise covers"); anywhere else the pipeline runs, says so once, and records what it ran with.
PROMISE = {"system": "Linux", "machine": "x86_64", "python": "3.11", "cpu_capability": "AVX2"}
_noted = False


def promise_note(fingerprint: dict) -> str | None:
    """One line when this environment stands outside the reproducibility promise."""
    outside = [
        f"{key} {fingerprint.get(key)}"
        for key, value in PROMISE.items()
        if fingerprint.get(key) != value
    ]
    if not outside:
        return None
    return (
        f"note: this machine is outside the reproducibility promise ({', '.join(outside)}; "
        f"promised: {', '.join(PROMISE.values())}): it runs, but its bytes may differ from the "
        f"committed run's; {FINGERPRINT_FILE} records what it ran with"
    )


def write_fingerprint(folder: str | Path) -> None:
    global _noted
    fingerprint = environment_fingerprint()
    if not _noted and (note := promise_note(fingerprint)):
        print(note, file=sys.stderr)
        _noted = True
    write_atomic(
        Path(folder) / FINGERPRINT_FILE, json.dumps(fingerprint, indent=2, sort_keys=True) + "\n"
    )


def fingerprint_mismatch(folder: str | Path) -> str | None:
    """One line naming what differs between an output's recorded environment and this one."""
    recorded_path = Path(folder) / FINGERPRINT_FILE
    if not recorded_path.exists():
        return None
    try:
        recorded = json.loads(recorded_path.read_text())
    except (OSError, ValueError):
        return f"{recorded_path}: unreadable environment record"
    current = environment_fingerprint()
    differences = [
        f"{key} {recorded.get(key)!r} -> {current[key]!r}"
        for key in current
        if recorded.get(key) != current[key]
    ]
    if not differences:
        return None
    return f"{folder} was made under another environment: {'; '.join(differences)}"


def log_path(name: str) -> Path:
    """A git-ignored place for wall-clock figures, never a DVC output."""
    folder = Path(LOGS)
    folder.mkdir(exist_ok=True)
    return folder / name
