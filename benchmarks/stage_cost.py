"""What a user's stage costs: real `python -m stages.train` processes, timed from outside.

    python -m benchmarks.stage_cost                       # this checkout
    python -m benchmarks.stage_cost --checkout ../other   # the same on another checkout
    python -m benchmarks.stage_cost --episodes 100 --repeats 1   # a shorter run

(a) The fixed cost: `python -m stages.train article` on 2 seeds x 1 episode, the Numba
    cache warm (one untimed run first), `--repeats` times (the median is printed):
    - start -> first episode done: from just before the process is started to the end of
      its first episode's update (its first Adam step included), marked by a wrapper that
      prints a wall-clock timestamp there; everything before that is fixed cost
      (interpreter, imports, config, loading the compiled kernels, torch's lazy imports);
    - whole stage: start to exit, outputs written.
(b) Stage-level throughput: `python -m stages.train article` on 10 seeds x --episodes
    episodes in one process (compute.workers: 1), against the article's loop
    (benchmarks/article_loop.py) on 1 seed x the same episodes, in this process, in the same
    run: the stage's own steps/s figure (it prints it; one-off costs inside the training
    call included) and the whole stage's (its env steps / its wall time, start to exit).

Each stage runs with its working directory in a temporary folder (its logs/ and --out go
there) and the checkout on PYTHONPATH; params are the checkout's params.yaml with the
variants cut down to `article` and the seeds, episodes and workers set as above. Ratios
measured in one run are the figures that mean anything; run it on an otherwise idle
machine.
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
# wrapped to print the wall clock once, after the first episode's update. It imports
# reinforce.sim.rollout before the stage does (the stage imports it anyway).
WRAPPER = f"""
import runpy, sys, time
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    print(f"checkout: {checkout}", flush=True)

    with tempfile.TemporaryDirectory(prefix="stage-cost-") as tmp:
        tmp = Path(tmp)
        run_stage(checkout, tmp / "warm-up", 2, 1)  # compiles or loads the kernels' cache
        fixed = [run_stage(checkout, tmp / f"fixed{i}", 2, 1) for i in range(args.repeats)]
        first = statistics.median(r["first_episode"] for r in fixed)
        whole = statistics.median(r["wall"] for r in fixed)
        print(
            f"(a) fixed cost, 2 seeds x 1 episode, cache warm, median of {args.repeats}: "
            f"start -> first episode done {first:.2f} s; whole stage {whole:.2f} s",
            flush=True,
        )
        stage = run_stage(checkout, tmp / "throughput", args.seeds, args.episodes)

    import torch

    import reinforce  # noqa: F401  (pins the numeric path, as in the stages)
    from benchmarks.article_loop import run_seed

    torch.set_num_threads(1)
    cfg = tiny_params(checkout, 1, args.episodes)
    start = time.perf_counter()
    _, article_steps = run_seed(0, args.episodes, cfg["env"]["id"], cfg["train"]["lr"])
    article_speed = article_steps / (time.perf_counter() - start)

    whole_speed = stage["env_steps"] / stage["wall"]
    print(
        f"(b) {args.seeds} seeds x {args.episodes} episodes of article, 1 process: "
        f"{stage['env_steps']} env steps; stage's own figure {stage['stage_speed']:,.0f} "
        f"steps/s; whole stage {stage['wall']:.1f} s = {whole_speed:,.0f} steps/s "
        f"(first episode done at {stage['first_episode']:.2f} s)\n"
        f"    article's loop, seed 0 x {args.episodes} episodes: {article_steps} env steps "
        f"= {article_speed:,.0f} steps/s\n"
        f"    ratio, stage's own figure / article: {stage['stage_speed'] / article_speed:.0f}x\n"
        f"    ratio, whole stage / article: {whole_speed / article_speed:.0f}x"
    )


if __name__ == "__main__":
    main()
