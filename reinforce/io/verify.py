"""Did a rerun reproduce the committed results? If not: which outputs differ, and how this
environment differs from the committed run's, so a user knows at once whether they stand
outside the reproducibility promise or have found a bug.

`python -m reinforce.io.verify COMMITTED REPRODUCED` (the image's `verify` runs it after
`dvc repro --force` in a copy of the committed repository) exits 0 only when dvc.lock is
byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reinforce.io import paths

# outputs.py needs only the standard library: verify still loads no numpy, scipy or torch.
from reinforce.io.outputs import flatten

LOCK = "dvc.lock"
REPORT = Path(paths.REPORT)
PROMISE = 'README, "What the reproducibility promise covers"'


@dataclass
class Verdict:
    identical: bool
    outputs: dict[str, str] = field(default_factory=dict)  # out path -> what differs
    deps: list[str] = field(default_factory=list)  # deps whose hash differs
    environment: list[str] = field(default_factory=list)  # "field: committed -> here"
    committed_environment: dict | None = None
    reproduced_environment: dict | None = None

    @property
    def outside_promise(self) -> bool:
        return bool(self.environment)


def _lock_entries(lock: dict, kind: str) -> dict[str, dict]:
    entries = {}
    for body in (lock or {}).get("stages", {}).values():
        for entry in body.get(kind, []):
            entries[entry["path"]] = {k: v for k, v in entry.items() if k != "path"}
    return entries


def _tree(path: Path) -> dict[str, str]:
    """sha256 of every file under path (or of path itself), by relative name."""
    if path.is_file():
        return {"": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


def _differing_files(committed: Path, reproduced: Path) -> str:
    if not committed.exists():
        return "DVC-cached, its committed files are not here (`dvc pull` them to compare files)"
    if not reproduced.exists():
        return "missing from the rerun"
    old, new = _tree(committed), _tree(reproduced)
    names = sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    if names == [""]:
        return "content differs"
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
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
        return json.loads(candidate.read_text())
    report = root / REPORT
    if not report.exists():
        return None
    section = report.read_text().partition("## Environment")[2]
    match = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    return json.loads(match.group(1)) if match else None


def reproduced_environment(root: Path) -> dict | None:
    records = sorted(root.glob(paths.RUNS + "/*/*/environment.json"))
    return json.loads(records[0].read_text()) if records else None


def compare(committed: Path, reproduced: Path) -> Verdict:
    committed, reproduced = Path(committed), Path(reproduced)
    old_bytes, new_bytes = (committed / LOCK).read_bytes(), (reproduced / LOCK).read_bytes()
    old_lock, new_lock = yaml.safe_load(old_bytes), yaml.safe_load(new_bytes)
    verdict = Verdict(identical=old_bytes == new_bytes)
    old_outs, new_outs = _lock_entries(old_lock, "outs"), _lock_entries(new_lock, "outs")
    for path in sorted(old_outs.keys() | new_outs.keys()):
        if old_outs.get(path) != new_outs.get(path):
            verdict.outputs[path] = _differing_files(committed / path, reproduced / path)
    old_deps, new_deps = _lock_entries(old_lock, "deps"), _lock_entries(new_lock, "deps")
    outs = old_outs.keys() | new_outs.keys()

    def made_here(dep: str) -> bool:  # an output of the pipeline, or a folder holding outputs
        return any(dep == out or out.startswith(dep.rstrip("/") + "/") for out in outs)

    verdict.deps = sorted(
        path
        for path in old_deps.keys() | new_deps.keys()
        if not made_here(path) and old_deps.get(path) != new_deps.get(path)
    )
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
        lines.append("dvc.lock reproduced byte for byte: every output is identical.")
    else:
        if verdict.outputs:
            lines.append(f"{len(verdict.outputs)} output(s) differ from the committed run:")
            lines += [f"  {path}: {what}" for path, what in verdict.outputs.items()]
        else:
            lines.append("every output is identical, but dvc.lock differs:")
        if verdict.deps:
            lines.append(
                "  dependencies that differ from the committed dvc.lock (code or data "
                "changed since that run): " + ", ".join(verdict.deps)
            )
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
    verdict = compare(args.committed, args.reproduced)
    print(explain(verdict))
    print(f"verify: {'PASS' if verdict.identical else 'FAIL'}")
    return 0 if verdict.identical else 1


if __name__ == "__main__":
    sys.exit(main())
