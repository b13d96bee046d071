"""Queued experiments sharing one Ray cluster: a Ray head of 2 CPUs on 127.0.0.1 (token
authentication on), a temporary project with compute.backend: ray, RAY_ADDRESS exported;
a baseline `dvc repro`, then two experiments with `dvc queue start -j 1` and two with
`-j 2`. Prints the wall times and how many stage drivers joined the cluster, and how many
at once (from Ray's job table). docs/cluster.md, "Measured here".

    python -m benchmarks.ray_queue
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path

from tests.conftest import make_project, run, tiny_params


def wait_for_queue(project: Path) -> str:
    while True:
        status = run(["dvc", "queue", "status"], project).stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(2)


def main() -> None:
    os.environ.update(
        {
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # loopback only
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16),
        }
    )
    import ray
    from ray._private import state
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1", "include_dashboard": False},
    )
    os.environ["RAY_ADDRESS"] = cluster.address
    try:
        with tempfile.TemporaryDirectory() as tmp:
            params = tiny_params(compute={"backend": "ray"})
            params["seeds"] = [0, 1, 2, 3]
            params["train"]["episodes"] = 50
            project = make_project(Path(tmp) / "project", params)
            start = time.perf_counter()
            run(["dvc", "repro"], project)
            print(f"baseline dvc repro: {time.perf_counter() - start:.1f} s", flush=True)
            for jobs, values in ((1, "0.001,0.002"), (2, "0.005,0.006")):
                run(
                    ["dvc", "exp", "run", "--queue", "-S", f"variants.article.lr={values}"], project
                )
                start = time.perf_counter()
                run(["dvc", "queue", "start", "-j", str(jobs)], project)
                status = wait_for_queue(project)
                print(
                    f"dvc queue start -j {jobs}: 2 experiments in "
                    f"{time.perf_counter() - start:.1f} s ({status.count('Failed')} failed)",
                    flush=True,
                )
        ray.init(address=cluster.address, logging_level="ERROR")
        spans = [(job["StartTime"], job["EndTime"]) for job in state.jobs() if job.get("EndTime")]
        ray.shutdown()
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        level = peak = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        print(f"stage drivers that joined the cluster: {len(spans)}; most at once: {peak}")
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
