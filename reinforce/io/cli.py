"""What every stage entry point shares: config errors and Ctrl-C as one line, no traceback."""

from __future__ import annotations

import argparse
import errno
import functools
import gc
import os
import signal
import sys
from collections.abc import Callable

from reinforce.io.config import Config, load_config
from reinforce.io.errors import ConfigError, DataError, WorkerFailed, memory_short

# The errors of a machine's disk rather than of the code: a one-line message, not a traceback.
# EFBIG: a file size limit (`ulimit -f`; Python ignores SIGXFSZ, so the write fails).
MACHINE_ERRNOS = (
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EFBIG,
)


def stage_main(name: str):
    """Decorate a stage's main(argv): a ConfigError exits 2, an input it cannot use
    (DataError, e.g. another stage's output missing) exits 1, and Ctrl-C ends the process by
    SIGINT, each with one line on stderr; the outputs are written atomically, so none
    leaves a file that looks complete."""

    def decorate(main):
        @functools.wraps(main)
        def run(argv=None):
            try:
                # Ctrl-C is KeyboardInterrupt again (stages/__init__.py's handler covered
                # the imports)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                if main.__module__ == "__main__":
                    # The modules' objects, imported with the collector off
                    # (stages/__init__.py), live as long as the process: later collections
                    # skip them.
                    gc.freeze()
                    gc.enable()
                code = main(sys.argv[1:] if argv is None else argv) or 0
                if main.__module__ == "__main__":  # the process ends next
                    # The interpreter's last collections then skip every object alive now
                    # (torch's and the other modules'): its teardown takes ~0.1 s, not ~0.6-1 s.
                    gc.freeze()
                return code
            except ConfigError as err:
                print(f"{name}: bad parameter: {err}", file=sys.stderr)
                return 2
            except (DataError, WorkerFailed) as err:
                print(f"{name}: {err}", file=sys.stderr)
                return 1
            except (MemoryError, ImportError, OSError) as err:
                # Memory short (MemoryError, numpy's ArrayMemoryError, a library that could
                # not be mapped under `ulimit -v`): the machine's state, one line.
                if short := memory_short(err):
                    print(f"{name}: {short}", file=sys.stderr)
                    return 1
                if not isinstance(err, OSError) or err.errno not in MACHINE_ERRNOS:
                    raise
                # A full disk or a read-only folder met anywhere (our outputs, logs/,
                # Numba's cache, torch's temporary files): the machine's state, not a bug,
                # so one line; the atomic writes left nothing that looks complete.
                where = f"{err.filename}: " if err.filename else ""
                print(
                    f"{name}: {where}{os.strerror(err.errno)}; no output written", file=sys.stderr
                )
                return 1
            except KeyboardInterrupt:
                print(f"{name}: interrupted; no output written", file=sys.stderr)
                if main.__module__ == "__main__":
                    die_of_sigint()
                return 130

        return run

    return decorate


def die_of_sigint() -> None:
    """End the process by SIGINT, as the shell's convention for a handled Ctrl-C asks
    (https://www.cons.org/cracauer/sigint.html): a waiting shell such as dash then stops
    too, and `dvc repro` reports the same "exited with -2" under every shell, whereas an
    exit code of 130 shows through only where the shell execs the stage (bash).

    The temporary outputs are removed and the workers stopped by now, so this also skips
    the interpreter's teardown of torch & co. (0.4 s idle, over 1 s on a busy machine)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    os._exit(130)  # unreachable unless SIGINT is blocked


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """--params, and where a suite's stage works: --env (one env of the suite's `envs`) and
    --root (the folder its outputs and inputs live under: the env's folder of the suite;
    studies/suite/dvc.yaml passes both)."""
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--env", default=None, help="a suite's env id (its `envs` key)")
    parser.add_argument("--root", default=".", help="the study folder (default: .)")


def load_study(args: argparse.Namespace, check_env: bool = True) -> Config:
    """The config of the env a stage works on (the whole study for a single-env params)."""
    return load_config(args.params, check_env=check_env).for_env(args.env)


def log_label(args: argparse.Namespace) -> str:
    """A stage's name in logs/: its variant, after its env's id in a suite."""
    return f"{args.env}-{args.variant}" if args.env else args.variant


def run_report_step(
    name: str,
    doc: str,
    argv,
    step: Callable[[Config, str], str],
    input_errors: tuple[type[Exception], ...],
) -> int:
    """The whole of a stage that takes only the study arguments and reads other stages'
    outputs (select, aggregate, plot): step(config, root) writes the outputs and returns
    what to print; an input it cannot use (input_errors) exits 1 with one line."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    add_study_arguments(parser)
    args = parser.parse_args(argv)
    config = load_study(args, check_env=False)
    try:
        done = step(config, args.root)
    except input_errors as err:
        if isinstance(err, FileNotFoundError) and err.filename:
            err = f"{err.filename}: not found; run `dvc repro` to make it"
        print(f"{name}: {err}", file=sys.stderr)
        return 1
    print(f"{name}: {done}")
    return 0
