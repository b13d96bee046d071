"""Running groups of seeds in worker processes, with one progress display.

Seeds never share a computation, so splitting them across processes changes no byte of
any result (tests/test_training.py holds it); it only uses the machine's cores.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from reinforce.io.errors import ConfigError, DataError, WorkerFailed

# report(episode_return) once per finished episode; a training loop also passes the
# episode's curve row, (seed, episode, return, length, loss), which reaches Progress's
# on_row in the stage's own process (the live metrics, reinforce/agent/live.py).
Report = Callable[..., None]
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Progress:
    """tqdm on a terminal; a plain log line every tenth of the work otherwise; each curve
    row reported to on_row (None: dropped)."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "episodes",
        on_row: Callable[[tuple], None] | None = None,
    ):
        self.label, self.total, self.unit, self.on_row = label, total, unit, on_row
        self.count, self.next_log, self.recent = 0, total / 10, []
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="ep", leave=True)

    def update(self, episode_return: float, row: tuple | None = None, count: int = 1) -> None:
        if row is not None and self.on_row is not None:
            self.on_row(row)
        self.count += count
        self.recent.append(episode_return)
        del self.recent[:-100]
        mean = sum(self.recent) / len(self.recent)
        if self.bar is not None:
            self.bar.update(count)
            if self.count % 50 < count or self.count == self.total:
                self.bar.set_postfix(mean_return=f"{mean:.1f}")
        elif self.count >= self.next_log or self.count == self.total:
            self.next_log += self.total / 10
            print(
                f"{self.label}: {self.count}/{self.total} {self.unit}, mean return of the "
                f"last {len(self.recent)}: {mean:.1f}",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def split_round_robin(seeds: Sequence[int], groups: int) -> list[list[int]]:
    groups = max(1, min(groups, len(seeds)))
    return [list(seeds[i::groups]) for i in range(groups)]


def fork_is_safe() -> bool:
    """Whether workers may be forked from this process even after it has run autograd.

    torch's autograd engine refuses to run in a child forked after it started its device
    threads ("Unable to handle autograd's threading in combination with fork-based
    multiprocessing"); it starts them at the first backward only for accelerator devices
    (Engine::start_device_threads returns early when no non-CPU device type has a device).
    A Linux process with a CPU-only torch build (the pinned wheel) has none, so forking it
    is safe; any other build (CUDA, ROCm, XPU) or platform gets the forkserver."""
    import torch  # the caller's work imports it anyway

    accelerators = (torch.version.cuda, torch.version.hip, getattr(torch.version, "xpu", None))
    return sys.platform == "linux" and not any(accelerators)


def start_context(func: Callable) -> multiprocessing.context.BaseContext:
    """fork where fork_is_safe() (no start cost), else a forkserver: a fresh process,
    started once per parent process, that imports func's module (torch with it) and forks
    each worker. The server has run nothing, so forking it is safe with any build; only
    the first pool of a process pays for its imports (about 5 s on a busy 2-core machine,
    measured). Forking the parent itself is unsafe on an accelerator build once it has
    run autograd, and the parent may have trained in-process before (a test does)."""
    if fork_is_safe():
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    module = getattr(func, "func", func).__module__  # functools.partial: the wrapped function
    preload = ["reinforce.compute._forkserver"]
    preload += [module] if module and module != "__main__" else []
    context.set_forkserver_preload(preload)
    # Python 3.11's forkserver ignores the parent's sys.path (it gets the environment and
    # the working directory): name this package's root in its PYTHONPATH, for its start
    # only, so the preload finds the module wherever the parent runs from.
    root = str(Path(__file__).resolve().parents[2])
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, saved]))
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    return context


def _die_with_parent(parent: int | None) -> None:
    """Linux: the kernel kills this worker when the process that started it ends, however
    it ends (SIGKILL included), so no worker is ever left re-parented to init, blocked on
    a pipe nobody reads. parent: the pid expected to have started it (None: not known, a
    forkserver's child); a parent already gone by now ends the worker at once. (The
    kernel watches the thread that forked: map_seed_groups starts workers from the
    stage's main thread, which lives as long as the stage.)"""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no C library to ask: the parent's finally stops us
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def _worker(func, group, results: Connection, parent: int | None = None) -> None:
    # Ctrl-C reaches the whole process group: the parent alone reacts and stops us. A
    # SIGTERM (the parent's terminate(), or a kill of the group) ends us at once: the
    # handler a forked worker inherits from its stage (reinforce/io/cli.py) is put back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    _die_with_parent(parent)
    batch: list[tuple] = []

    def report(episode_return: float, row: tuple | None = None) -> None:
        batch.append((episode_return, row))
        if len(batch) >= 25:
            results.send(("progress", list(batch)))
            batch.clear()

    try:
        result = func(group, report)
        results.send(("progress", list(batch)))
        results.send(("done", result))
    except (ConfigError, DataError) as err:  # one line: the parent raises it as it is
        results.send(("refused", err))
    except BaseException:  # noqa: BLE001  (sent to the parent, which raises it)
        results.send(("error", traceback.format_exc()))
    finally:
        results.close()


def map_seed_groups(
    func: Callable[[list[int], Report], Any], seeds: Sequence[int], workers: int, progress: Progress
) -> list[Any]:
    """func(seed_group, report) for each group of seeds, in `workers` processes (this one
    and workers - 1 started ones); report() is called once per finished episode. Results
    come back in group order."""
    groups = split_round_robin(seeds, workers)
    if len(groups) == 1:
        try:
            return [func(groups[0], progress.update)]
        finally:
            progress.close()

    context = start_context(func)
    # Groups 1.. go to worker processes; this process runs group 0 meanwhile, so the
    # workers' start (the forkserver's imports, the first time) overlaps useful work.
    # One pipe per worker, its only writer: no locks, hence no named semaphores that a
    # process ended by Ctrl-C would leave to the resource tracker.
    pipes = {index: context.Pipe(duplex=False) for index in range(1, len(groups))}
    parent = os.getpid() if context.get_start_method() == "fork" else None
    processes = {
        index: context.Process(
            target=_worker, args=(func, groups[index], writer, parent), daemon=True
        )
        for index, (_, writer) in pipes.items()
    }
    readers = {reader: index for index, (reader, _) in pipes.items()}
    results: list[Any] = [None] * len(groups)
    pending = set(pipes)

    def receive(timeout: float) -> None:
        for reader in wait([r for r, i in readers.items() if i in pending], timeout=timeout):
            index = readers[reader]
            try:
                kind, payload = reader.recv()
            except EOFError:
                processes[index].join(timeout=1)
                raise WorkerFailed(
                    f"the worker process for seeds {groups[index]} died "
                    f"(exit code {processes[index].exitcode}: killed, or out "
                    "of memory); nothing was written"
                ) from None
            if kind == "progress":
                for episode_return, row in payload:
                    progress.update(episode_return, row)
            elif kind == "refused":
                raise payload
            elif kind == "done":
                results[index] = payload
                pending.discard(index)
            else:
                raise RuntimeError(f"worker for seeds {groups[index]} failed:\n{payload}")

    here = 0

    def report(episode_return: float, row: tuple | None = None) -> None:
        nonlocal here
        progress.update(episode_return, row)
        here += 1
        if here % 25 == 0 and pending:  # the workers' progress too, while we work
            receive(timeout=0)

    try:
        for index, process in processes.items():
            process.start()
            pipes[index][1].close()  # the worker holds its own end: end of file = it is gone
        results[0] = func(groups[0], report)
        while pending:
            receive(timeout=0.1)
        return results
    finally:
        progress.close()
        for process in processes.values():
            if process.is_alive():
                process.terminate()
            if process.pid is not None:
                process.join()
        for reader in readers:
            reader.close()
