"""The default sweep from nothing, stage by stage: `dvc repro --force` in fresh clones.

    python -m benchmarks.sweep_cost                         # this checkout's HEAD
    python -m benchmarks.sweep_cost --baseline 9326109      # that commit, then HEAD
    python -m benchmarks.sweep_cost --baseline 9326109 --rounds 2   # old, new, old, new

Each run clones the repository at one commit into a folder of its own (what a user's fresh
clone holds: committed files only, no DVC cache) and runs `dvc repro --force` there, with
NUMBA_CACHE_DIR an empty folder of its own, so every commit compiles its kernels as a
fresh machine would (--warm-numba: the user's Numba cache as it is). dvc's output is
read line by line as it comes; a stage's time runs from its "Running stage" line to the
next one's (the last one's to dvc's exit). After each run it says whether the outputs are
the commit's own bytes (`git status` of the clone). The table gives each stage's median
over the rounds, for every commit, and the whole sweep's; the ratio new/old of the
totals is the figure that means anything (README, "Speed": only ratios measured in one run compare).
Run it on an otherwise idle machine: the stages use all the workers params.yaml gives.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"^Running stage '([^']+)':")


def stage_seconds(timed_lines: Iterable[tuple[float, str]], end: float) -> dict[str, float]:
    """{stage: seconds} from dvc repro's output lines with the time each arrived: a stage
    runs from its "Running stage" line to the next stage's, the last one until `end`."""
    starts = [(t, match[1]) for t, line in timed_lines if (match := STAGE_LINE.match(line))]
    ends = [t for t, _ in starts[1:]] + [end]
    return {name: stop - start for (start, name), stop in zip(starts, ends)}


def commit_of(revision: str) -> str:
    """The full hash of a commit of this repository; a revision that could be read as an
    option, or names no commit, is refused with one line."""
    if not revision or revision.startswith("-"):
        raise SystemExit(f"--baseline: got {revision!r}; allowed: a commit of {REPO}")
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise SystemExit(f"--baseline: got {revision!r}; allowed: a commit of {REPO}")
    return found.stdout.strip()


def sweep(commit: str, work: Path, warm_numba: bool) -> tuple[dict[str, float], float]:
    """`dvc repro --force` in a fresh clone of commit under work: ({stage: s}, total s)."""
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", commit], check=True)
    env = dict(os.environ)
    if not warm_numba:
        (work / "numba").mkdir()
        env["NUMBA_CACHE_DIR"] = str(work / "numba")
    command = [sys.executable, "-m", "dvc", "repro", "--force"]
    lines = []
    start = time.perf_counter()
    with subprocess.Popen(
        command,
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as repro:
        for line in repro.stdout:
            now = time.perf_counter() - start
            lines.append((now, line))
            if STAGE_LINE.match(line):
                print(f"  {now:6.1f} s  {line.strip()}", flush=True)
    total = time.perf_counter() - start
    if repro.returncode != 0:
        tail = "".join(line for _, line in lines[-30:])
        raise SystemExit(f"dvc repro failed ({repro.returncode}) at {commit}:\n{tail}")
    # dvc.lock holds every output's md5, and metrics.json and reports/ are committed: a
    # clean tree is every output as the commit has it
    changed = subprocess.run(
        ["git", "-C", str(clone), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.splitlines()
    if changed:
        print(f"  outputs that differ from {commit[:10]}'s: {', '.join(changed)}", flush=True)
    else:
        print(f"  every output as {commit[:10]} has it (git status clean)", flush=True)
    return stage_seconds(lines, total), total


def table(results: dict[str, list[tuple[dict[str, float], float]]]) -> str:
    """Each stage's median seconds per commit (a blank where a commit has no such stage),
    in the order the stages ran, and the totals."""
    stages: list[str] = []
    for runs in results.values():
        for name in runs[0][0]:
            if name not in stages:
                stages.append(name)
    width = max(len(name) for name in [*stages, "whole sweep"])
    rows = [f"{'stage':<{width}}" + "".join(f"  {commit[:10]:>10}" for commit in results)]
    for name in stages + ["whole sweep"]:
        cells = []
        for runs in results.values():
            if name == "whole sweep":
                times = [total for _, total in runs]
            else:
                times = [seconds[name] for seconds, _ in runs if name in seconds]
            cells.append(f"{statistics.median(times):9.1f}s" if times else " " * 10)
        rows.append(f"{name:<{width}}" + "".join(f"  {cell}" for cell in cells))
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", help="a commit of this repository, run first")
    parser.add_argument("--rounds", type=int, default=1, help="alternated rounds (default 1)")
    parser.add_argument(
        "--warm-numba", action="store_true", help="keep the user's Numba cache (not from nothing)"
    )
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit(f"--rounds: got {args.rounds}; allowed: an integer >= 1")
    commits = [commit_of(args.baseline)] if args.baseline else []
    commits.append(commit_of("HEAD"))
    if len(set(commits)) < len(commits):
        raise SystemExit(
            f"--baseline: got {args.baseline!r}, which is HEAD; allowed: another commit"
        )
    results: dict[str, list[tuple[dict[str, float], float]]] = {c: [] for c in commits}
    with tempfile.TemporaryDirectory(prefix="sweep-cost-") as tmp:
        for r in range(args.rounds):
            for i, commit in enumerate(commits):
                print(f"round {r + 1}/{args.rounds}: dvc repro --force at {commit[:10]}")
                work = Path(tmp) / f"{r}-{i}"
                work.mkdir()
                results[commit].append(sweep(commit, work, args.warm_numba))
    print(table(results))
    if len(commits) == 2:
        old, new = (statistics.median(total for _, total in results[c]) for c in commits)
        print(f"whole sweep, {commits[1][:10]} / {commits[0][:10]}: {new / old:.2f}x")


if __name__ == "__main__":
    main()
