"""compute.backend: ray gives the bytes of local, on a real two-node Ray cluster bound to
127.0.0.1, through a node's death; a cluster that is not there, or Ray not installed,
fails in one line with nothing written (docs/cluster.md)."""

import ipaddress
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from reinforce.compute.backends import ClusterError, RayBackend, open_backend, split_groups
from reinforce.io.config import ComputeConfig, ConfigError, TrainConfig, parse_config
from tests.conftest import ROOT, tiny_params, tree_bytes

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def write_params(folder: Path, **overrides) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params(**overrides), sort_keys=False))
    return path


def run_stages(folder: Path, monkeypatch, compute: dict, variants=("article",)) -> dict:
    """The train and evaluate stages of each variant, in this process, in folder."""
    from stages.evaluate import main as evaluate
    from stages.train import main as train

    folder.mkdir()
    monkeypatch.chdir(folder)
    write_params(folder, compute=compute)
    for variant in variants:
        assert train([variant]) == 0
        assert evaluate([variant]) == 0
    return tree_bytes(folder, "runs")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------- without a Ray cluster


def test_compute_keys_are_validated():
    def error(compute):
        with pytest.raises(ConfigError) as info:
            parse_config(tiny_params(compute=compute), check_env=False)
        return str(info.value)

    assert error({"backend": "spark"}).startswith(
        "compute.backend: got 'spark'; allowed: local | ray"
    )
    assert error({"seeds_per_task": 0}).startswith("compute.seeds_per_task: got 0")
    assert error({"ray_address": " "}).startswith("compute.ray_address: got ' '")
    assert error({"ray_address": 6379}).startswith("compute.ray_address: got 6379")
    compute = parse_config(tiny_params(compute={}), check_env=False).compute
    assert (compute.backend, compute.ray_address, compute.seeds_per_task) == ("local", None, 1)


def test_group_split_covers_every_seed_once():
    assert split_groups([4, 1, 7, 2, 9], 2) == [[4, 1], [7, 2], [9]]
    assert split_groups([3], 5) == [[3]]


def test_ray_not_installed_is_one_line_naming_compute_backend(tmp_path, monkeypatch):
    from stages.train import main as train

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path, compute={"backend": "ray"})
    with pytest.raises(ConfigError) as info, open_backend(ComputeConfig(backend="ray")):
        pass
    message = str(info.value)
    assert message.startswith("compute.backend: got 'ray', but Ray is not installed here")
    assert "ray==2.60.0" in message and "\n" not in message
    assert train(["article"]) == 2
    assert not (tmp_path / "runs").exists()


def test_unreachable_ray_address_fails_in_one_line_before_any_work(tmp_path):
    write_params(tmp_path, compute={"backend": "ray"})
    address = f"127.0.0.1:{free_port()}"  # nothing listens there: a dead cluster's head
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stages.train", "article"],
        cwd=tmp_path,
        env={**ENV, "RAY_ADDRESS": address},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"train: bad parameter: RAY_ADDRESS: no Ray cluster at '{address}' (Connection refused "
        f"within 5 s); start it, or unset RAY_ADDRESS and compute.ray_address for a local "
        f"Ray; nothing was run or written"
    ]
    assert time.monotonic() - start < 60
    assert not (tmp_path / "runs").exists() and not (tmp_path / "logs").exists()


def test_compute_ray_address_is_checked_too(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    address = f"127.0.0.1:{free_port()}"
    with (
        pytest.raises(ClusterError, match=r"^compute\.ray_address: no Ray cluster at"),
        open_backend(ComputeConfig(backend="ray", ray_address=address)),
    ):
        pass
    with (
        pytest.raises(ConfigError, match=r"^compute\.ray_address: got 'head'; allowed"),
        open_backend(ComputeConfig(backend="ray", ray_address="head")),
    ):
        pass


def test_a_node_with_another_environment_is_refused():
    from reinforce.io.outputs import environment_fingerprint

    here = environment_fingerprint()
    backend = RayBackend(None, "compute.ray_address", 1)
    backend._check_environment({"environment": here, "host": "a"}, here)
    with pytest.raises(ClusterError, match=r"node b ran another environment.*torch '0\.0'"):
        backend._check_environment({"environment": {**here, "torch": "0.0"}, "host": "b"}, here)


def test_the_local_path_does_not_import_ray(tmp_path):
    params = write_params(tmp_path, compute={"workers": 1})
    code = (
        "import sys; from stages.train import main as t; from stages.evaluate import main "
        f"as e; assert t(['article', '--params', {str(params)!r}]) == 0; "
        f"assert e(['article', '--params', {str(params)!r}]) == 0; "
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=300,
    )


# --------------------------------------------------------- a real cluster on loopback


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each, on 127.0.0.1 only, with token authentication."""
    saved = dict(os.environ)
    os.environ.update(
        {
            # Before Ray loads: nodes advertise and listen on 127.0.0.1 only (Ray otherwise
            # resolves 127.0.0.1 to the machine's network address).
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            # Ray 2.60's token authentication, with a token of this test's own (nothing is
            # written to ~/.ray); every driver below inherits it.
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16),
        }
    )
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    ray_cluster = Cluster(initialize_head=True, head_node_args=node)
    ray_cluster.add_node(**node)
    ray_cluster.wait_for_nodes()
    ray_cluster.node_args = node
    try:
        yield ray_cluster
    finally:
        ray_cluster.shutdown()
        os.environ.clear()
        os.environ.update(saved)


def test_cluster_is_bound_to_loopback(cluster):
    ips = {node.node_ip_address for node in cluster.list_all_nodes()}
    assert ips == {"127.0.0.1"} and cluster.address.startswith("127.0.0.1:")
    for node in cluster.list_all_nodes():
        for name in ("raylet", "gcs_server"):
            for info in node.all_processes.get(name, []):
                for connection in psutil.Process(info.process.pid).net_connections("inet"):
                    ip = ipaddress.ip_address(connection.laddr.ip)
                    assert (getattr(ip, "ipv4_mapped", None) or ip).is_loopback, connection


def test_stages_on_the_cluster_give_the_bytes_of_local(cluster, tmp_path, monkeypatch):
    """The article variant of the tiny default params through the stages; the other
    variant (the value baseline) is trained on the cluster in the test below."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    local = run_stages(tmp_path / "local", monkeypatch, {"workers": 1})
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    on_ray = run_stages(tmp_path / "ray", monkeypatch, {"backend": "ray"})
    assert sorted(on_ray) == sorted(local) and len(local) == 6
    assert on_ray == local

    seeds = tiny_params()["seeds"]
    for stage in ("train", "evaluate"):
        log = json.loads((tmp_path / "ray" / "logs" / f"{stage}-article.json").read_text())
        assert (log["backend"], log["address"], log["address_from"]) == (
            "ray",
            cluster.address,
            "RAY_ADDRESS",
        )
        assert sorted(seed for task in log["tasks"] for seed in task["seeds"]) == seeds
        assert all(task["node_ip"] == "127.0.0.1" and task["seconds"] > 0 for task in log["tasks"])


def test_a_pruned_tpe_study_on_the_cluster_gives_the_bytes_of_local(cluster, monkeypatch):
    """Trials of a batch run as Ray tasks and finish in any order; they are told to the
    study in trial order, so the trials, the pruning and results.csv are local's bytes."""
    from reinforce.agent.tuning import results_csv, tune_variant

    params = tiny_params()
    params["train"]["episodes"] = 12
    params["tune"].update(
        sampler="tpe",
        trials=4,
        batch=2,
        pruner="successive-halving",
        search={"value-baseline": {"lr": {"low": 1e-6, "high": 0.05, "log": True}}},
    )
    config = parse_config(params)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with open_backend(ComputeConfig(backend="ray", ray_address=cluster.address)) as backend:
        on_ray = tune_variant(config, "value-baseline", backend=backend)
        tasks = backend.describe()["tasks"]
    local = tune_variant(config, "value-baseline")
    assert results_csv(on_ray.results) == results_csv(local.results)
    assert [t.params for t in on_ray.study.trials] == [t.params for t in local.study.trials]
    assert len(tasks) >= 4  # every trial of a batch was a task of its own


def test_a_node_removed_mid_stage_gives_the_same_bytes(cluster, monkeypatch):
    from reinforce.agent.train import train_variant

    variant = tiny_params()["variants"]["value-baseline"]
    cfg, seeds = TrainConfig(**{**tiny_params()["train"], **variant, "episodes": 300}), [0, 1, 2]
    doomed = cluster.add_node(**cluster.node_args)  # three nodes: one task lands on each
    cluster.wait_for_nodes()
    removed = threading.Event()

    def remove_when_busy():
        raylet = psutil.Process(doomed.all_processes["raylet"][0].process.pid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for child in raylet.children(recursive=True):
                try:
                    busy = "_run_group" in " ".join(child.cmdline())
                except psutil.Error:
                    continue
                if busy:
                    cluster.remove_node(doomed, allow_graceful=False)
                    removed.set()
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=remove_when_busy, daemon=True)
    killer.start()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with open_backend(ComputeConfig(backend="ray", ray_address=cluster.address)) as backend:
        on_ray = train_variant(cfg, "CartPole-v1", seeds, backend=backend)
        tasks = backend.describe()["tasks"]
    killer.join(timeout=5)
    assert removed.is_set(), "no task ran on the third node"
    local = train_variant(cfg, "CartPole-v1", seeds)
    assert on_ray.curves.to_csv() == local.curves.to_csv()
    assert on_ray.checkpoints == local.checkpoints
    assert doomed.node_id not in {task["node_id"] for task in tasks}
    assert sorted(seed for task in tasks for seed in task["seeds"]) == seeds
