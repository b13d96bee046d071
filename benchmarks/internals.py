"""What each private internal (reinforce/internals.py) buys: real stage processes, each
internal turned off alone against all of them on, alternated, in one run.

    python -W ignore -m benchmarks.internals                  # about 10 minutes here
    python -W ignore -m benchmarks.internals --rounds 5 --episodes 300

Workloads, each a real `python -m stages.<name>` process (working directory in a temporary
folder, this checkout on PYTHONPATH, the Numba cache warm from untimed runs), timed start
to exit:
- train article, train actor-critic, train ppo: params.yaml's variant on its seeds, with
  --episodes episodes (the committed runs have 1000, 300 and 300; the startup internals
  weigh less on longer runs, the per-update ones the same);
- evaluate article: params.yaml's evaluation (its episodes and seeds) of an article run
  trained once, untimed;
- train article in a fresh checkout: 2 seeds x 1 episode, in a copy of reinforce/ and
  stages/ at a new path, as a fresh clone or CI checkout is, with a Numba cache that
  another copy of the same source filled (numba_cache's case).

Arms: every internal on; each internal that applies to the workload off alone (the
others on); every internal off (the switch, REINFORCE_PRIVATE_INTERNALS=0). Each round
runs every arm of every workload, the arms' order reversed every other round; the
figures are medians over the rounds. Printed per internal and workload: the stage's wall
time with it off and with all on, the ratio, and the gain's share of the stage's wall time
without it ((off - on) / off). Run it on an otherwise idle machine: on a shared one,
differences of a few percent are noise (the spread over the rounds is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from reinforce.internals import NAMES, SWITCH

ROOT = Path(__file__).resolve().parents[1]

# Runs a stage as `python -m stages.<name>` does, with the internals named in argv[1]
# (comma-separated) turned off before anything else runs.
WRAPPER = """
import runpy, sys
off, stage = sys.argv[1], sys.argv[2]
from reinforce import internals
for name in filter(None, off.split(",")):
    internals.ON[name] = False
sys.argv = ["-m"] + sys.argv[3:]
import stages
sys.argv = [stage] + sys.argv[1:]
runpy.run_module(stage, run_name="__main__", alter_sys=True)
"""

STARTUP = ["skip_dynamo", "defer_tracing", "numba_blas_check"]
# workload -> (stage, variant, the internals that apply to it)
WORKLOADS = {
    "train article": ("train", "article", ["fused_adam", *STARTUP]),
    "train actor-critic": ("train", "actor-critic", ["fused_adam", *STARTUP]),
    "train ppo": ("train", "ppo", ["stacked_adam", *STARTUP]),
    "evaluate article": ("evaluate", "article", STARTUP),
    "train article, fresh checkout": ("train", "article", ["numba_cache"]),
}


def study_params(episodes: int, seeds: int | None) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["variants"] = {
        name: {**params["variants"][name], "episodes": episodes}
        for name in ("article", "actor-critic", "ppo")
    }
    if seeds is not None:
        params["seeds"] = list(range(seeds))
    params["tune"]["search"] = {}
    params["compute"] = {"backend": "local", "workers": 1}
    return params


def run_stage(work: Path, checkout: Path, stage: str, variant: str, off: list[str], env=None):
    """One stage process, start to exit: its wall time in seconds."""
    env = {**os.environ, "PYTHONPATH": str(checkout), **(env or {})}
    if set(off) == set(NAMES):
        env[SWITCH], off = "0", []  # the user's switch
    else:
        env[SWITCH] = "1"
    command = [sys.executable, "-c", WRAPPER, ",".join(off), f"stages.{stage}", variant]
    command += ["--params", "params.yaml", "--root", "study"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{stage} {variant} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall


def fresh_checkout(tmp: Path, name: str) -> Path:
    copy = tmp / "checkouts" / name
    for folder in ("reinforce", "stages"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=100, help="train's episodes per seed")
    parser.add_argument("--seeds", type=int, default=None, help="default: params.yaml's")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    arms = {
        workload: [[], *([name] for name in applies), list(NAMES)]
        for workload, (_, _, applies) in WORKLOADS.items()
    }
    walls = {workload: {",".join(arm): [] for arm in arms[workload]} for workload in WORKLOADS}
    with tempfile.TemporaryDirectory(prefix="internals-") as name:
        tmp = Path(name)
        work = tmp / "work"
        work.mkdir()
        (work / "params.yaml").write_text(yaml.safe_dump(study_params(args.episodes, args.seeds)))
        cache = {"XDG_CACHE_HOME": str(tmp / "cache")}
        # untimed: the kernels compiled into both caches (the user's, and Numba's own
        # beside _kernels.py for the arms without numba_cache), the run evaluate reads
        for off in ([], list(NAMES)):
            run_stage(work, ROOT, "train", "article", off)
        run_stage(work, fresh_checkout(tmp, "warm"), "train", "article", [], cache)
        fresh = tmp / "fresh"
        fresh.mkdir()
        (fresh / "params.yaml").write_text(yaml.safe_dump(study_params(1, 2)))

        for r in range(args.rounds):
            for workload, (stage, variant, _) in WORKLOADS.items():
                order = arms[workload] if r % 2 == 0 else arms[workload][::-1]
                for off in order:
                    if workload.endswith("fresh checkout"):
                        checkout = fresh_checkout(tmp, f"{r}-{'-'.join(off) or 'on'}")
                        wall = run_stage(fresh, checkout, stage, variant, off, cache)
                    else:
                        wall = run_stage(work, ROOT, stage, variant, off)
                    walls[workload][",".join(off)].append(wall)
                    print(f"round {r + 1} {workload:30s} off={','.join(off) or '-':60s} "
                          f"{wall:6.2f} s", file=sys.stderr, flush=True)  # fmt: skip

    load = os.getloadavg()
    print(
        f"benchmarks.internals: {args.rounds} rounds, train --episodes {args.episodes}, "
        f"seeds {args.seeds or 'of params.yaml'}; load average at the end "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
    )
    figures = {}
    for workload in WORKLOADS:
        on = statistics.median(walls[workload][""])
        spread = f"{min(walls[workload]['']):.2f}-{max(walls[workload]['']):.2f}"
        print(f"\n{workload}: every internal on {on:.2f} s (rounds {spread})")
        for arm, values in walls[workload].items():
            if not arm:
                continue
            off = statistics.median(values)
            label = "every internal off (the switch)" if "," in arm else f"{arm} off"
            share = (off - on) / off
            figures[f"{workload} / {label}"] = {"on": on, "off": off, "share": share}
            print(
                f"  {label:34s} {off:6.2f} s (rounds {min(values):.2f}-{max(values):.2f}): "
                f"x{off / on:.3f}, saves {off - on:+.2f} s = {share:+.1%} of the stage"
            )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
