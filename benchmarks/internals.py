"""What each private internal (reinforce/internals.py) buys: real stage processes, each
internal turned off alone against all of them on, alternated, in one run.

    python -W ignore -m benchmarks.internals                  # about 10 minutes here
    python -W ignore -m benchmarks.internals --rounds 5 --episodes 300

Workloads, each a real `python -m stages.<name>` process (working directory in a temporary
folder, this checkout on PYTHONPATH, the Numba cache warm from untimed runs), timed start
to exit:
- train article, train actor-critic, train ppo: params.yaml's variant on its seeds, with
  --episodes, --ac-episodes, --ppo-episodes episodes per seed (100, 20, 50; the committed
  runs have 1000, 300 and 300: the startup internals weigh less on longer runs, the
  per-update ones about the same);
- evaluate article: params.yaml's evaluation (its episodes and seeds) of an article run
  trained once, untimed;
- train article in a fresh checkout: 2 seeds x 1 episode, in a copy of reinforce/ and
  stages/ at a new path, as a fresh clone or CI checkout is, with a Numba cache that
  another copy of the same source filled (numba_cache's case).

Arms: every internal on; each internal that the workload measures off alone (the others
on; the startup ones, paid once per process, on the article's train and on evaluate);
every internal off (the switch, REINFORCE_PRIVATE_INTERNALS=0). Each round
runs every arm of every workload, the arms' order reversed every other round; the
figures are medians over the rounds. Printed per internal and workload: the stage's wall
time with it off and with all on, the ratio, and the gain's share of the stage's wall time
without it ((off - on) / off); the same for the process's CPU time (user + system),
which a shared machine disturbs far less than the wall time. Run it on an otherwise idle
machine: on a shared one, wall-time differences of a few percent are noise (the spread
over the rounds is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

# what every stage process pays once: measured on the article's train and on evaluate
STARTUP = ["skip_dynamo", "defer_tracing", "numba_blas_check"]
# workload -> (stage, variant, the internals turned off one at a time in it)
WORKLOADS = {
    "train article": ("train", "article", ["fused_adam", *STARTUP]),
    "train actor-critic": ("train", "actor-critic", ["fused_adam"]),
    "train ppo": ("train", "ppo", ["stacked_adam"]),
    "evaluate article": ("evaluate", "article", STARTUP),
    "train article, fresh checkout": ("train", "article", ["numba_cache"]),
}


def study_params(episodes: dict[str, int], seeds: int | None) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["variants"] = {
        name: {**params["variants"][name], "episodes": n} for name, n in episodes.items()
    }
    if seeds is not None:
        params["seeds"] = list(range(seeds))
    params["tune"]["search"] = {}
    params["compute"] = {"backend": "local", "workers": 1}
    return params


def run_stage(work: Path, checkout: Path, stage: str, variant: str, off: list[str], env=None):
    """One stage process, start to exit: its wall time and its CPU time (user + system),
    in seconds."""
    env = {**os.environ, "PYTHONPATH": str(checkout), **(env or {})}
    if set(off) == set(NAMES):
        env[SWITCH], off = "0", []  # the user's switch
    else:
        env[SWITCH] = "1"
    command = [sys.executable, "-c", WRAPPER, ",".join(off), f"stages.{stage}", variant]
    command += ["--params", "params.yaml", "--root", "study"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise SystemExit(f"{stage} {variant} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, cpu


def fresh_checkout(tmp: Path, name: str) -> Path:
    copy = tmp / "checkouts" / name
    for folder in ("reinforce", "stages"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=100, help="article's, per seed")
    parser.add_argument("--ac-episodes", type=int, default=20, help="actor-critic's")
    parser.add_argument("--ppo-episodes", type=int, default=50, help="ppo's")
    parser.add_argument("--seeds", type=int, default=None, help="default: params.yaml's")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--only", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS), help="workloads"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    workloads = {name: WORKLOADS[name] for name in args.only}
    arms = {
        workload: [[], *([name] for name in applies), list(NAMES)]
        for workload, (_, _, applies) in workloads.items()
    }
    times = {workload: {",".join(arm): [] for arm in arms[workload]} for workload in workloads}
    with tempfile.TemporaryDirectory(prefix="internals-") as name:
        tmp = Path(name)
        work = tmp / "work"
        work.mkdir()
        episodes = {
            "article": args.episodes,
            "actor-critic": args.ac_episodes,
            "ppo": args.ppo_episodes,
        }
        (work / "params.yaml").write_text(yaml.safe_dump(study_params(episodes, args.seeds)))
        cache = {"XDG_CACHE_HOME": str(tmp / "cache")}
        # untimed: the kernels compiled into both caches (the user's, and Numba's own
        # beside _kernels.py for the arms without numba_cache), the run evaluate reads
        for off in ([], list(NAMES)):
            run_stage(work, ROOT, "train", "article", off)
        run_stage(work, fresh_checkout(tmp, "warm"), "train", "article", [], cache)
        fresh = tmp / "fresh"
        fresh.mkdir()
        (fresh / "params.yaml").write_text(yaml.safe_dump(study_params({"article": 1}, 2)))

        for r in range(args.rounds):
            for workload, (stage, variant, _) in workloads.items():
                order = arms[workload] if r % 2 == 0 else arms[workload][::-1]
                for off in order:
                    if workload.endswith("fresh checkout"):
                        checkout = fresh_checkout(tmp, f"{r}-{'-'.join(off) or 'on'}")
                        wall, cpu = run_stage(fresh, checkout, stage, variant, off, cache)
                    else:
                        wall, cpu = run_stage(work, ROOT, stage, variant, off)
                    times[workload][",".join(off)].append((wall, cpu))
                    arm = ",".join(off) or "-"
                    line = f"round {r + 1} {workload:30s} off={arm:60s} {wall:6.2f} s"
                    line += f", CPU {cpu:6.2f} s"
                    print(line, file=sys.stderr, flush=True)

    load = os.getloadavg()
    print(
        f"benchmarks.internals: {args.rounds} rounds, episodes per seed: article "
        f"{args.episodes}, actor-critic {args.ac_episodes}, ppo {args.ppo_episodes}; seeds "
        f"{args.seeds or 'of params.yaml'}; load average at the end "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs"
    )
    figures = {}
    for workload in workloads:
        base = times[workload][""]
        on, on_cpu = (statistics.median(t[i] for t in base) for i in (0, 1))
        print(
            f"\n{workload}: every internal on: wall {on:.2f} s "
            f"(rounds {min(t[0] for t in base):.2f}-{max(t[0] for t in base):.2f}), "
            f"CPU {on_cpu:.2f} s"
        )
        for arm, values in times[workload].items():
            if not arm:
                continue
            off, off_cpu = (statistics.median(t[i] for t in values) for i in (0, 1))
            label = "every internal off (the switch)" if "," in arm else f"{arm} off"
            share, cpu_share = (off - on) / off, (off_cpu - on_cpu) / off_cpu
            figures[f"{workload} / {label}"] = {
                "wall_on": on,
                "wall_off": off,
                "wall_share": share,
                "cpu_on": on_cpu,
                "cpu_off": off_cpu,
                "cpu_share": cpu_share,
            }
            print(
                f"  {label:34s} wall {off:6.2f} s "
                f"(rounds {min(t[0] for t in values):.2f}-{max(t[0] for t in values):.2f}): "
                f"x{off / on:.3f}, saves {off - on:+.2f} s = {share:+.1%} of the stage; "
                f"CPU {off_cpu:6.2f} s: saves {off_cpu - on_cpu:+.2f} s = {cpu_share:+.1%}"
            )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
