"""Where a stage's seed groups run: in this process, in local worker processes, or as
Ray tasks on a cluster (compute.backend in params.yaml; docs/cluster.md).

Every backend gives the same bytes: a seed's results do not depend on which seeds share
its group, process or node (tests/test_training.py, tests/test_ray.py), and the stage
gathers the results and writes its outputs itself, here, atomically. So DVC's cache,
dvc.lock and the report cannot tell the backends apart; logs/ records where each group ran.

Ray is imported only when compute.backend is ray: the local path never loads it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reinforce import NUMERIC_PINS
from reinforce.compute.workers import Progress, Report, map_seed_groups
from reinforce.io.config import ComputeConfig, ConfigError
from reinforce.io.errors import DataError, WorkerFailed
from reinforce.io.outputs import environment_fingerprint

RAY_REQUIREMENT = "ray==2.60.0"
# Ray retries a task whose worker process or node died, never one that raised: our code is
# deterministic, so it would raise again. A retried group starts over from its seeds and
# gives the same bytes. 3 is Ray's own default, written out because the promise rests on it.
MAX_RETRIES = 3
# A dead or unreachable cluster must fail in one line before any work, not hang the stage.
CONNECT_TIMEOUT_S = 5.0

GroupFunc = Callable[[list[int], Report], Any]


class ClusterError(ConfigError):
    """The Ray cluster named by RAY_ADDRESS / compute.ray_address cannot be used."""


class LocalBackend:
    """Seed groups in this process (workers=1) or in `workers` forked processes."""

    def __init__(self, workers: int = 1):
        self.workers = workers

    def map(self, func: GroupFunc, seeds: Sequence[int], progress: Progress) -> list[Any]:
        return map_seed_groups(func, seeds, self.workers, progress)

    def summary(self) -> None:
        return None

    def describe(self) -> dict:
        return {"backend": "local", "workers": self.workers}


def split_groups(seeds: Sequence[int], size: int) -> list[list[int]]:
    return [list(seeds[i : i + size]) for i in range(0, len(seeds), size)]


def _run_group(func: GroupFunc, group: list[int]) -> dict:
    """The body of one Ray task: func on a group of seeds, and where and how long it ran."""
    import ray

    started, clock = time.time(), time.perf_counter()
    returns: list[tuple] = []  # (episode return, curve row or None) per episode

    def report(episode_return: float, row: tuple | None = None) -> None:
        returns.append((episode_return, row))

    result = func(group, report)
    return {
        "result": result,
        "returns": returns,
        "seconds": time.perf_counter() - clock,
        "started": started,
        "node_id": ray.get_runtime_context().get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "environment": environment_fingerprint(),
    }


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"compute.backend: got 'ray', but Ray is not installed here; install the pinned "
            f"`{RAY_REQUIREMENT}` (pip install -r requirements.txt), or set compute.backend: "
            f"local"
        ) from None
    return ray


def _check_reachable(address: str, source: str) -> None:
    """One TCP connect to the cluster's head with a short timeout, before Ray's own
    connection logic (which waits and retries for a minute or more)."""
    if address == "auto":  # a cluster started by `ray start` on this machine
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"{source}: got {address!r}; allowed: the head's host:port "
            f"(e.g. 'head:6379'), 'ray://host:10001' or 'auto'"
        )
    try:
        with socket.create_connection(
            (host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S
        ) as connection:
            answers_grpc = _speaks_grpc(connection)
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise ClusterError(
            f"{source}: no Ray cluster at {address!r} ({reason} within {CONNECT_TIMEOUT_S:g} s);"
            f" start it, or unset RAY_ADDRESS and compute.ray_address for a local Ray; "
            f"nothing was run or written"
        ) from None
    if not answers_grpc:
        raise ClusterError(
            f"{source}: {address!r} accepts connections but is not a Ray head (no gRPC "
            f"answer within {CONNECT_TIMEOUT_S:g} s); check the host and port (the head's "
            f"GCS port, 6379 by default, or 'ray://host:10001'); nothing was run or written"
        )


# An HTTP/2 client's first bytes (RFC 9113, 3.4): the preface and an empty SETTINGS frame.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _speaks_grpc(connection: socket.socket) -> bool:
    """Whether the peer answers the HTTP/2 preface with a SETTINGS frame, as every gRPC
    server does (Ray's GCS and its client server are gRPC), within CONNECT_TIMEOUT_S: a
    plain listener that accepts and says nothing would make ray.init wait for minutes."""
    try:
        connection.sendall(_HTTP2_PREFACE)
        header = b""
        while len(header) < 9:
            chunk = connection.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except OSError:  # a timeout included
        return False
    return header[3] == 4  # the frame type: SETTINGS


def _runtime_env() -> dict:
    """Every task runs this driver's own library (shipped with the job, so the nodes need
    only the image's packages) under the driver's numeric pins, set before the worker's
    Python starts."""
    return {
        "py_modules": [str(Path(__file__).resolve().parents[1])],
        "excludes": ["__pycache__/", "*.pyc"],
        "env_vars": {name: os.environ[name] for name in NUMERIC_PINS if name in os.environ},
    }


class RayBackend:
    """Seed groups as one-CPU Ray tasks, seeds_per_task seeds each, on the cluster at
    `address`, or on a Ray started for this stage alone (loopback only) when it is None."""

    def __init__(self, address: str | None, source: str, seeds_per_task: int):
        self.address, self.source, self.seeds_per_task = address, source, seeds_per_task
        self.started_here = self.connected_here = False
        self.tasks: list[dict] = []
        self.ray = None

    def connect(self) -> RayBackend:
        if self.address is None:
            # A stage's own Ray listens on and advertises 127.0.0.1 only (Ray otherwise
            # picks the machine's network address), sends no usage statistics, and keeps
            # Ray 2.60's default token authentication without its warning.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        else:
            _check_reachable(self.address, self.source)
        ray = self.ray = _import_ray()
        if ray.is_initialized():  # a caller (a notebook, a test) connected already
            return self
        options = dict(
            runtime_env=_runtime_env(), logging_level=logging.WARNING, log_to_driver=False
        )
        try:
            if self.address is None:
                # "local": always a new Ray, never one that `ray start` left running here
                ray.init(
                    address="local",
                    num_cpus=len(os.sched_getaffinity(0)),
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    **options,
                )
                self.started_here = True
            else:
                ray.init(address=self.address, **options)
                self.connected_here = True
        except Exception as err:  # noqa: BLE001  (Ray raises several kinds; all end here)
            ray.shutdown()
            where = f"{self.source} {self.address!r}" if self.address else "a local Ray"
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ClusterError(
                f"compute.backend: ray could not start or join {where}: "
                f"{first_line} (see docs/cluster.md)"
            ) from None
        return self

    def close(self) -> None:
        if self.started_here or self.connected_here:
            self.ray.shutdown()

    def summary(self) -> str:
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        cpus = sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)
        where = f"{self.source} {self.address}" if self.address else "a local Ray"
        return f"Ray ({where}): {len(nodes)} node(s), {cpus:g} CPUs"

    def map(self, func: GroupFunc, seeds: Sequence[int], progress: Progress) -> list[Any]:
        """func(group, report) for each group of seeds_per_task seeds, as Ray tasks of one
        CPU each; results in group order. Progress advances as each group finishes."""
        ray = self.ray
        groups = split_groups(seeds, self.seeds_per_task)
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(_run_group)
        func_ref = ray.put(func)  # sent once, not once per task
        refs = [remote.remote(func_ref, group) for group in groups]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(groups)
        pending, here = list(refs), environment_fingerprint()
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        out = ray.get(ref)
                    except ray.exceptions.RayTaskError as err:
                        if isinstance(err.cause, (ConfigError, DataError)):
                            raise err.cause from None  # its one line, not Ray's traceback
                        raise
                    except ray.exceptions.WorkerCrashedError:
                        raise WorkerFailed(
                            f"the Ray task for seeds {groups[index[ref]]} died "
                            "(killed, or out of memory); nothing was written"
                        ) from None
                    group = groups[index[ref]]
                    self._check_environment(out, here)
                    for episode_return, row in out["returns"]:
                        progress.update(episode_return, row)
                    results[index[ref]] = out["result"]
                    self.tasks.append(
                        {
                            "seeds": group,
                            "node_id": out["node_id"],
                            "host": out["host"],
                            "pid": out["pid"],
                            "started": out["started"],
                            "seconds": out["seconds"],
                        }
                    )
            return results
        finally:
            progress.close()
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001  (already finished or gone)
                    pass

    def _check_environment(self, out: dict, here: dict) -> None:
        """The outputs record the driver's environment; a node that ran another one (not
        the same image) would make that record false, and maybe the bytes."""
        differences = [
            f"{key} {out['environment'].get(key)!r} (here {here[key]!r})"
            for key in here
            if out["environment"].get(key) != here[key]
        ]
        if differences:
            raise ClusterError(
                f"compute.backend: the Ray node {out['host']} ran another environment than "
                f"this driver: {'; '.join(differences)}; every node and the driver must run "
                f"the same image (docs/cluster.md)"
            )

    def describe(self) -> dict:
        addresses = {n["NodeID"]: n.get("NodeManagerAddress") for n in self.ray.nodes()}
        tasks = [
            {**task, "node_ip": addresses.get(task["node_id"])}
            for task in sorted(self.tasks, key=lambda t: t["seeds"])
        ]
        return {
            "backend": "ray",
            "address": self.address,
            "address_from": self.source,
            "seeds_per_task": self.seeds_per_task,
            "tasks": tasks,
        }


@contextmanager
def open_backend(compute: ComputeConfig) -> Iterator[LocalBackend | RayBackend]:
    """The backend compute.backend names, connected: a Ray cluster that cannot be reached
    fails here, in one line, before any work."""
    if compute.backend == "local":
        yield LocalBackend(compute.workers)
        return
    address, source = os.environ.get("RAY_ADDRESS"), "RAY_ADDRESS"
    if not address:
        address, source = compute.ray_address, "compute.ray_address"
    backend = RayBackend(address, source, compute.seeds_per_task).connect()
    try:
        yield backend
    finally:
        backend.close()
