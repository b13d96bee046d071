"""What a user's stage costs: real `python -m stages.train` processes, timed from outside.

    python -m benchmarks.stage_cost                       # this checkout
    python -m benchmarks.stage_cost --baseline ../old     # another checkout first, same run
    python -m benchmarks.stage_cost --episodes 100 --repeats 1   # a shorter run

(a) The fixed cost: `python -m stages.train article` on 2 seeds x 1 episode, the Numba
    cache warm (one untimed run first):
    - start -> first episode done: from just before the process is started to the end of
      its first episode's update (its first Adam step included), marked by a wrapper that
      prints a wall-clock timestamp there; everything before that is fixed cost
      (interpreter, imports, config, loading the compiled kernels, torch's lazy imports);
    - whole stage: start to exit, outputs written.
(b) Stage-level throughput: `python -m stages.train article` on 10 seeds x --episodes
    episodes in one process (compute.workers: 1), against the article's loop
    (benchmarks/article_loop.py) on seed 0 x the same episodes, in this process, in the
    same run: the stage's own figure (it prints it; the one-off costs inside its training
    call, such as loading the compiled kernels, included) and the whole stage's (its env
    steps / its wall time, start to exit).

All of it runs in `--repeats` rounds (the article's loop, then each checkout's stages);
every figure printed is the median over the rounds. Each stage runs with its working
directory in a temporary folder (its logs/ and --out go there) and the checkout on
PYTHONPATH; params are the checkout's params.yaml with the variants cut down to `article`
and the seeds, episodes and workers set as above. Ratios measured in one run are the
figures that mean anything; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

MARK = "STAGE_COST_FIRST_EPISODE"

# Runs the stage as `python -m stages.train` would, with run_lockstep's episode callback
# wrapped to print the wall clock once, after the first episode's update. It imports the
# stages package first with sys.argv[0] "-m", as `python -m` does (stages/__init__.py acts
# on that), then reinforce.sim.rollout before the stage does (the stage imports it anyway).
WRAPPER = f"""
import runpy, sys, time
sys.argv = ["-m"] + sys.argv[1:]
import stages
import reinforce.sim.rollout as rollout
plain = rollout.run_lockstep
def run_lockstep(env_id, seeds, episodes, actor, on_episode_end, *args, **kwargs):
    marked = []
    def on_end(*a, **k):
        result = on_episode_end(*a, **k)
        if not marked:
            marked.append(True)
            print("{MARK}", repr(time.time()), flush=True)
        return result
    return plain(env_id, seeds, episodes, actor, on_end, *args, **kwargs)
rollout.run_lockstep = run_lockstep
sys.argv = ["stages.train"] + sys.argv[1:]
runpy.run_module("stages.train", run_name="__main__", alter_sys=True)
"""


def tiny_params(checkout: Path, seeds: int, episodes: int) -> dict:
    params = yaml.safe_load((checkout / "params.yaml").read_text())
    params["variants"] = {"article": params["variants"]["article"]}
    params["seeds"] = list(range(seeds))
    params["train"]["episodes"] = episodes
    params["tune"]["search"] = {}
    params["compute"] = {"backend": "local", "workers": 1}
    return params


def run_stage(checkout: Path, work: Path, seeds: int, episodes: int) -> dict:
    """One stage process: its wall time, the time to its first episode's end, its figures."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(tiny_params(checkout, seeds, episodes)))
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, "-c", WRAPPER, "article", "--params", "params.yaml"]
    command += ["--out", "out"]
    start = time.time()
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    wall = time.time() - start
    if done.returncode != 0:
        raise SystemExit(f"the stage failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    first = re.search(rf"^{MARK} (\S+)$", done.stdout, re.MULTILINE)
    log = json.loads((work / "logs" / "train-article.json").read_text())
    return {
        "wall": wall,
        "first_episode": float(first.group(1)) - start,
        "env_steps": log["env_steps"],
        "stage_speed": log["steps_per_second"],
    }


def article_speed(episodes: int, env_id: str, lr: float) -> float:
    """The article's loop on seed 0, in this process: env steps per second."""
    import torch

    import reinforce  # noqa: F401  (pins the numeric path, as in the stages)
    from benchmarks.article_loop import run_seed

    torch.set_num_threads(1)
    start = time.perf_counter()
    _, steps = run_seed(0, episodes, env_id, lr)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument(
        "--baseline", type=Path, default=None, help="another checkout, measured first"
    )
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in (args.baseline, args.checkout) if c is not None]
    cfg = tiny_params(checkouts[-1], 1, args.episodes)
    reference = (cfg["env"]["id"], cfg["train"]["lr"])

    # Rounds, each the article's loop then every checkout's stages, and medians over the
    # rounds: a load that drifts over the run (a shared machine) weighs on all alike.
    speeds, runs = [], {c: {"fixed": [], "stage": []} for c in checkouts}
    article_speed(1, *reference)  # untimed: this process's one-off imports (torch._dynamo)
    with tempfile.TemporaryDirectory(prefix="stage-cost-") as tmp:
        for i, checkout in enumerate(checkouts):
            run_stage(checkout, Path(tmp) / f"warm-up{i}", 2, 1)  # compiles or loads the cache
        for r in range(args.repeats):
            speeds.append(article_speed(args.episodes, *reference))
            for i, checkout in enumerate(checkouts):
                work = Path(tmp) / f"{r}-{i}"
                runs[checkout]["fixed"].append(run_stage(checkout, work / "fixed", 2, 1))
                stage = run_stage(checkout, work / "stage", args.seeds, args.episodes)
                runs[checkout]["stage"].append(stage)
    article = statistics.median(speeds)
    print(
        f"article's loop, seed 0 x {args.episodes} episodes, {args.repeats} rounds: "
        f"{', '.join(f'{s:,.0f}' for s in speeds)} steps/s (median {article:,.0f})"
    )
    results = {
        checkout: {
            "first": statistics.median(r["first_episode"] for r in run["fixed"]),
            "whole": statistics.median(r["wall"] for r in run["fixed"]),
            "stage": {
                "env_steps": run["stage"][0]["env_steps"],
                "stage_speed": statistics.median(r["stage_speed"] for r in run["stage"]),
                "wall": statistics.median(r["wall"] for r in run["stage"]),
            },
        }
        for checkout, run in runs.items()
    }
    for checkout, result in results.items():
        stage = result["stage"]
        whole_speed = stage["env_steps"] / stage["wall"]
        print(
            f"{checkout}:\n"
            f"  (a) fixed cost, 2 seeds x 1 episode, cache warm: "
            f"start -> first episode done {result['first']:.2f} s; "
            f"whole stage {result['whole']:.2f} s\n"
            f"  (b) {args.seeds} seeds x {args.episodes} episodes of article, 1 process, "
            f"{stage['env_steps']} env steps: stage's own figure "
            f"{stage['stage_speed']:,.0f} steps/s = {stage['stage_speed'] / article:.0f}x "
            f"the article's loop; whole stage {stage['wall']:.1f} s = {whole_speed:,.0f} "
            f"steps/s = {whole_speed / article:.0f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
