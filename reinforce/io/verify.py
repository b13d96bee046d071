"""Did a rerun reproduce the committed results? If not: which outputs differ, and how this
environment differs from the committed run's, so a user knows at once whether they stand
outside the reproducibility promise or have found a bug.

`python -m reinforce.io.verify COMMITTED REPRODUCED` (the image's `verify` runs it after
`dvc repro --force` in a copy of the committed repository) exits 0 only when dvc.lock is
byte-identical and every output's files, hashed here as DVC hashes them, match it (a file
changed after the run under an unchanged dvc.lock fails); it names every differing file
and lock entry. It exits 2, with one line, when a repository or its dvc.lock is missing or
is no lock.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reinforce.io import paths
from reinforce.io.errors import DataError
from reinforce.io.inputs import read_json, regular_file

# outputs.py needs only the standard library: verify still loads no numpy, scipy or torch.
from reinforce.io.outputs import flatten

LOCK = "dvc.lock"
REPORT = Path(paths.REPORT)
PROMISE = 'README, "What the reproducibility promise covers"'


class VerifyError(ValueError):
    """A repository verify cannot compare (no folder, no dvc.lock, a lock that is no lock)."""


@dataclass
class Verdict:
    identical: bool
    outputs: dict[str, str] = field(default_factory=dict)  # out path -> what differs
    deps: list[str] = field(default_factory=list)  # deps whose hash differs
    entries: list[str] = field(default_factory=list)  # every dvc.lock entry that differs
    lock_lines: list[str] = field(default_factory=list)  # dvc.lock's differing lines, when
    # no entry explains them
    environment: list[str] = field(default_factory=list)  # "field: committed -> here"
    committed_environment: dict | None = None
    reproduced_environment: dict | None = None

    @property
    def outside_promise(self) -> bool:
        return bool(self.environment)


def read_lock(root: Path) -> tuple[bytes, dict]:
    """(bytes, parsed) of root/dvc.lock, or a one-line VerifyError."""
    if not root.is_dir():
        raise VerifyError(f"{root}: not found or not a folder; expected a repository")
    path = root / LOCK
    try:
        regular_file(path, VerifyError)  # /dev/zero would be read until memory runs out
        data = path.read_bytes()
    except FileNotFoundError:
        raise VerifyError(f"{path}: not found; run `dvc repro` there first") from None
    except OSError as err:
        raise VerifyError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        lock = yaml.safe_load(data)
    except yaml.YAMLError as err:
        first = (str(err).strip().splitlines() or ["?"])[0]
        raise VerifyError(f"{path}: not valid YAML ({first})") from None
    stages = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages, dict) or not all(
        isinstance(body, dict)
        and all(
            isinstance(entries, list)
            and all(isinstance(e, dict) and isinstance(e.get("path"), str) for e in entries)
            for kind, entries in body.items()
            if kind in ("deps", "outs")
        )
        for body in stages.values()
    ):
        kind = type(lock).__name__ if lock is not None else "an empty file"
        raise VerifyError(
            f"{path}: not a DVC lock file (got {kind}; expected a mapping with `stages`, each "
            "listing its deps and outs)"
        )
    return data, lock


def _lock_entries(lock: dict, kind: str) -> dict[str, dict]:
    """path -> entry of every dep or out (the last stage's, where several list one path)."""
    entries = {}
    for body in (lock or {}).get("stages", {}).values():
        for entry in body.get(kind, []):
            entries[entry["path"]] = {k: v for k, v in entry.items() if k != "path"}
    return entries


def _stage_entries(lock: dict) -> dict[str, object]:
    """ "<stage>: <kind> <path>" -> its record, for every entry of every stage: one path
    listed by several stages (an out of train@x, a dep of evaluate@x) is named per stage."""
    entries: dict[str, object] = {}
    for stage, body in (lock or {}).get("stages", {}).items():
        for kind, value in body.items():
            if kind in ("deps", "outs"):
                for entry in value:
                    record = {k: v for k, v in entry.items() if k != "path"}
                    entries[f"{stage}: {kind[:-1]} {entry['path']}"] = record
            elif kind == "params" and isinstance(value, dict):
                for file, params in value.items():
                    entries[f"{stage}: params of {file}"] = params
            else:
                entries[f"{stage}: {kind}"] = value
    return entries


def _md5(path: Path) -> str:
    digest = hashlib.md5()  # noqa: S324  (DVC's content hash, not a security measure)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(path: Path) -> dict[str, str]:
    """md5 of every file under path (DVC's relpaths), or {"": md5} for a file."""
    if path.is_file():
        return {"": _md5(path)}
    return {
        f.relative_to(path).as_posix(): _md5(f)
        for f in sorted(path.rglob("*"))
        if f.is_file() and "__pycache__" not in f.relative_to(path).parts
    }


def dvc_hash(path: Path) -> str | None:
    """What DVC's dvc.lock records as an output's md5: the file's own md5, or for a folder
    the md5 of its sorted [{"md5", "relpath"}] listing plus ".dir" (dvc_data's
    Tree.as_bytes); None when path is not there."""
    if not path.exists():
        return None
    files = _files(path)
    if path.is_file():
        return files[""]
    listing = [{"md5": md5, "relpath": name} for name, md5 in sorted(files.items())]
    text = json.dumps(listing, sort_keys=True).encode()
    return hashlib.md5(text).hexdigest() + ".dir"  # noqa: S324


def _manifest(md5: str, roots: list[Path]) -> dict[str, str] | None:
    """The files of a folder output as a DVC cache holds its listing (md5 ending in .dir)."""
    name = md5.removesuffix(".dir")
    for root in roots:
        listing = root / ".dvc" / "cache" / "files" / "md5" / name[:2] / (name[2:] + ".dir")
        try:
            return {e["relpath"]: e["md5"] for e in json.loads(listing.read_text())}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _differing_files(
    path: str, committed_md5: str | None, committed: Path, reproduced: Path
) -> str | None:
    """What differs between an output as the committed dvc.lock records it and the files the
    rerun left (hashed here, not read from the rerun's lock), or None when nothing does."""
    here = reproduced / path
    if dvc_hash(here) == committed_md5:
        return None
    if not here.exists():
        return "missing from the rerun"
    if committed_md5 is None:
        return "not an output of the committed run"
    new = _files(here)
    if not committed_md5.endswith(".dir"):
        return "content differs" if here.is_file() else "a folder here, a file in the committed run"
    old = _manifest(committed_md5, [committed, reproduced])
    if old is None and dvc_hash(committed / path) == committed_md5:
        old = _files(committed / path)  # git-tracked, or pulled: the committed files
    if old is None:
        return (
            "its files differ from the committed dvc.lock's hash (DVC-cached: the committed "
            "files are not here; `dvc pull` them to name the files)"
        )
    names = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    shown = ", ".join(names)
    return f"{len(names)} of {len(old.keys() | new.keys())} files differ: {shown}"


def environment_differences(committed: dict, here: dict) -> list[str]:
    """One "field: committed -> here" line per fingerprint field that differs."""
    old, new = flatten(committed), flatten(here)
    return [
        f"{name}: {old.get(name)!r} (committed) -> {new.get(name)!r} (here)"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]


def committed_environment(root: Path) -> dict | None:
    """The fingerprint the committed run recorded; the report carries it in git (runs/ is
    DVC-cached), as a JSON block under "## Environment"."""
    for candidate in sorted(root.glob(paths.TRAIN_DIR.format(variant="*") + "/environment.json")):
        return read_json(candidate)
    report = root / REPORT
    if not report.exists():
        return None
    section = report.read_text().partition("## Environment")[2]
    match = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    try:
        return json.loads(match.group(1)) if match else None
    except ValueError:
        raise VerifyError(f"{report}: its environment block is not valid JSON") from None


def reproduced_environment(root: Path) -> dict | None:
    records = sorted(root.glob(paths.RUNS + "/*/*/environment.json"))
    return read_json(records[0]) if records else None


def compare(committed: Path, reproduced: Path) -> Verdict:
    """The verdict on a rerun: its outputs hashed here (so a file changed after the run,
    under an unchanged dvc.lock, is caught) against the committed dvc.lock, every differing
    file and lock entry named."""
    committed, reproduced = Path(committed), Path(reproduced)
    old_bytes, old_lock = read_lock(committed)
    new_bytes, new_lock = read_lock(reproduced)
    old_outs, new_outs = _lock_entries(old_lock, "outs"), _lock_entries(new_lock, "outs")
    verdict = Verdict(identical=False)
    for path in sorted(old_outs.keys() | new_outs.keys()):
        what = _differing_files(path, old_outs.get(path, {}).get("md5"), committed, reproduced)
        if what:
            verdict.outputs[path] = what
    old_deps, new_deps = _lock_entries(old_lock, "deps"), _lock_entries(new_lock, "deps")
    outs = old_outs.keys() | new_outs.keys()

    def made_here(dep: str) -> bool:  # an output of the pipeline, or a folder holding outputs
        return any(dep == out or out.startswith(dep.rstrip("/") + "/") for out in outs)

    verdict.deps = sorted(
        path
        for path in old_deps.keys() | new_deps.keys()
        if not made_here(path) and old_deps.get(path) != new_deps.get(path)
    )
    old_entries, new_entries = _stage_entries(old_lock), _stage_entries(new_lock)
    verdict.entries = sorted(
        name
        for name in old_entries.keys() | new_entries.keys()
        if old_entries.get(name) != new_entries.get(name)
    )
    if old_bytes != new_bytes and not verdict.entries:
        verdict.lock_lines = [
            line
            for line in difflib.unified_diff(
                old_bytes.decode(errors="replace").splitlines(),
                new_bytes.decode(errors="replace").splitlines(),
                "committed",
                "reproduced",
                n=0,
                lineterm="",
            )
        ][:20]
    verdict.identical = old_bytes == new_bytes and not verdict.outputs
    verdict.committed_environment = committed_environment(committed)
    verdict.reproduced_environment = reproduced_environment(reproduced)
    if verdict.committed_environment and verdict.reproduced_environment:
        verdict.environment = environment_differences(
            verdict.committed_environment, verdict.reproduced_environment
        )
    return verdict


def cpu_summary() -> str:
    """This machine's vector units, for the user's eyes only (never written to an output)."""
    import torch

    machine = platform.machine()
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    units = (
        ", ".join(
            f"{name} {'yes' if name in flags else 'no'}" for name in ("avx2", "fma", "avx512f")
        )
        if flags
        else "flags unknown"
    )
    return (
        f"this CPU: {machine} ({units}); torch runs its "
        f"{torch.backends.cpu.get_cpu_capability()} kernels"
    )


def explain(verdict: Verdict) -> str:
    lines = []
    if verdict.identical:
        lines.append(
            "dvc.lock reproduced byte for byte, and every output's files hash to it: every "
            "output is identical."
        )
    else:
        if verdict.outputs:
            lines.append(f"{len(verdict.outputs)} output(s) differ from the committed run:")
            lines += [f"  {path}: {what}" for path, what in verdict.outputs.items()]
        else:
            lines.append("every output's files are identical, but dvc.lock differs:")
        if verdict.deps:
            lines.append(
                "  dependencies that differ from the committed dvc.lock (code or data "
                "changed since that run): " + ", ".join(verdict.deps)
            )
        if verdict.entries:
            lines.append(f"  dvc.lock entries that differ ({len(verdict.entries)}):")
            lines += [f"    {name}" for name in verdict.entries]
        elif verdict.lock_lines:
            lines.append("  dvc.lock lines that differ (no entry's value does):")
            lines += [f"    {line}" for line in verdict.lock_lines]
    if verdict.environment:
        lines.append("the environment fingerprint differs from the committed run's:")
        lines += [f"  {line}" for line in verdict.environment]
    elif verdict.committed_environment is None:
        lines.append(
            "the committed run's environment is not recorded here "
            f"({REPORT} has no environment block)"
        )
    elif not verdict.identical:
        lines.append("the environment fingerprint is the same as the committed run's.")
    lines.append(cpu_summary())
    if not verdict.identical:
        if verdict.outside_promise:
            lines.append(
                f"This run stands outside the promise ({PROMISE}): the same bytes are "
                "promised only for the committed environment (x86_64 with AVX2, the "
                "pins, Python and packages of requirements.txt). Other bytes are "
                "expected here, not a bug."
            )
        elif verdict.outputs:
            lines.append(
                "Same environment, other bytes: this looks like a bug. Please report it "
                "with this output and dvc.lock."
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "committed", type=Path, help="the committed repository (its dvc.lock, reports/)"
    )
    parser.add_argument("reproduced", type=Path, help="where `dvc repro --force` just ran")
    args = parser.parse_args(argv)
    try:
        verdict = compare(args.committed, args.reproduced)
    except (VerifyError, DataError) as err:
        print(f"verify: {err}", file=sys.stderr)
        return 2
    print(explain(verdict))
    print(f"verify: {'PASS' if verdict.identical else 'FAIL'}")
    return 0 if verdict.identical else 1


if __name__ == "__main__":
    sys.exit(main())
