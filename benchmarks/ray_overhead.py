"""What Ray costs on one machine: `dvc repro` from nothing with compute.backend local, then
ray (a local Ray per stage) with one seed per task and with five, one after the other,
each in a fresh temporary project; checks that all three give the same bytes.

    python -m benchmarks.ray_overhead [tiny | default | EPISODES] [--reverse] [--runs 0,1]

tiny: the tests' tiny params (2 variants x 2 seeds x 6 episodes); default: params.yaml as
it is (the default sweep, tuning included); EPISODES: the default params with that many
training episodes (and 10 evaluation episodes). --reverse runs them in the opposite
order, to see how much the machine's load drifted; --runs picks some of the three (0:
local, 1: ray with 1 seed per task, 2: ray with 5).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import yaml

from tests.conftest import ROOT, make_project, run, tiny_params, tree_bytes

RUNS = [
    ("local", {"backend": "local", "workers": 2}),
    ("ray, 1 seed per task", {"backend": "ray", "seeds_per_task": 1}),
    ("ray, 5 seeds per task", {"backend": "ray", "seeds_per_task": 5}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale", nargs="?", default="tiny")
    parser.add_argument("--reverse", action="store_true")
    parser.add_argument("--runs", default="0,1,2")
    args = parser.parse_args()
    runs = [RUNS[int(index)] for index in args.runs.split(",")]
    if args.scale == "tiny":
        params = tiny_params()
    elif args.scale == "default":
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
    else:
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["train"]["episodes"] = int(args.scale)
        params["evaluate"]["episodes"] = 10
    seconds, outputs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, compute in runs[::-1] if args.reverse else runs:
            chosen = copy.deepcopy(params)
            chosen["compute"] = {**chosen.get("compute", {}), **compute}
            project = make_project(Path(tmp) / name.replace(" ", "-").replace(",", ""), chosen)
            start = time.perf_counter()
            run(["dvc", "repro"], project)
            seconds[name] = time.perf_counter() - start
            outputs[name] = tree_bytes(project, "runs", "metrics.json", "reports/tables")
            print(f"{name:>22}: dvc repro in {seconds[name]:6.1f} s", flush=True)
    first = runs[0][0]
    for name, _ in runs[1:]:
        print(f"{name:>22}: {seconds[name] / seconds[first]:.2f}x the time of {first}")
    same = all(outputs[name] == outputs[first] for name, _ in runs)
    print("outputs identical:", same)
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
