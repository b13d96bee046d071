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
from pathlib import Path

from reinforce.io.config import Config, load_config
from reinforce.io.errors import ConfigError, DataError, WorkerFailed
from reinforce.io.names import check_name, show
from reinforce.io.paths import env_root

# The signals that end a stage as Ctrl-C does (SIGINT): `kill` (SIGTERM, also what a
# scheduler or `docker stop` sends) and a closed terminal (SIGHUP).
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the stage is, so that it cleans up as for Ctrl-C:
    its workers stopped (compute/workers.py's finally), its temporary outputs removed
    (outputs.atomic_directory), one line; then it ends by that signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminated(signum, frame):
    for ending in ENDING_SIGNALS:  # a second one while cleaning up changes nothing
        signal.signal(ending, signal.SIG_IGN)
    raise Terminated(signum)


def end_like_ctrl_c() -> None:
    """SIGTERM and SIGHUP raise Terminated, a KeyboardInterrupt (stage_main's handling of
    Ctrl-C), in this process; worker processes put the default back."""
    for ending in ENDING_SIGNALS:
        signal.signal(ending, _terminated)


# The errors of a machine's disk rather than of the code: a one-line message, not a traceback.
MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


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
                end_like_ctrl_c()
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
            except OSError as err:
                if err.errno not in MACHINE_ERRNOS:
                    raise
                # A full disk or a read-only folder met anywhere (our outputs, logs/,
                # Numba's cache, torch's temporary files): the machine's state, not a bug,
                # so one line; the atomic writes left nothing that looks complete.
                where = f"{err.filename}: " if err.filename else ""
                print(
                    f"{name}: {where}{os.strerror(err.errno)}; no output written", file=sys.stderr
                )
                return 1
            except KeyboardInterrupt as err:  # Ctrl-C, or Terminated: SIGTERM, SIGHUP
                print(f"{name}: interrupted; no output written", file=sys.stderr)
                signum = getattr(err, "signum", signal.SIGINT)
                if main.__module__ == "__main__":
                    die_of_signal(signum)
                return 128 + signum

        return run

    return decorate


def die_of_signal(signum: int = signal.SIGINT) -> None:
    """End the process by the signal that interrupted it (SIGINT for Ctrl-C), as the
    shell's convention for a handled Ctrl-C asks (https://www.cons.org/cracauer/sigint.html):
    a waiting shell such as dash then stops too, and `dvc repro` reports the same "exited
    with -2" (-15 for SIGTERM) under every shell, whereas an exit code of 130 shows through
    only where the shell execs the stage (bash).

    The temporary outputs are removed and the workers stopped by now, so this also skips
    the interpreter's teardown of torch & co. (0.4 s idle, over 1 s on a busy machine)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # unreachable unless the signal is blocked


# DVC names the stage it runs in this variable of the command's environment (dvc/stage/run.py:
# stage.addressing, e.g. "train@article", "studies/suite/dvc.yaml:train@CartPole-v1-article"),
# so dvc.yaml's commands never carry a variant or env as shell text: a name a user wrote in
# params.yaml cannot close a quote of the command (`dvc repro -s "tune@<name>"` skips check).
DVC_STAGE = "DVC_STAGE"


def dvc_stage() -> tuple[str, str] | None:
    """(group, key) of the foreach/matrix stage DVC runs this process for, from DVC_STAGE:
    ("train", "article") for "train@article", also behind a dvc.yaml's path
    ("../dvc.yaml:train@article", "studies/suite/dvc.yaml:random@CartPole-v1"); None
    outside DVC or for a stage without a key."""
    addressing = os.environ.get(DVC_STAGE)
    if not addressing:
        return None
    cut = addressing.find("dvc.yaml:")
    name = addressing[cut + len("dvc.yaml:") :] if cut != -1 else addressing
    group, at, key = name.partition("@")
    return (group, key) if at else None


def add_study_arguments(parser: argparse.ArgumentParser, variant: bool = False) -> None:
    """--params, and where a suite's stage works: --env (one env of the suite's `envs`) and
    --root (the folder its outputs and inputs live under: the env's folder of the suite),
    or --suite (the suite's folder: the env, and the variant, are the ones DVC names in
    DVC_STAGE, and the root is that env's folder; studies/suite/dvc.yaml passes it).
    variant: the stage works on one variant, given as an argument or, under DVC, by
    DVC_STAGE (dvc.yaml passes none)."""
    if variant:
        parser.add_argument(
            "variant", nargs="?", default=None, help="default under DVC: the stage's own"
        )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--env", default=None, help="a suite's env id (its `envs` key)")
    parser.add_argument("--root", default=None, help="the study folder (default: .)")
    parser.add_argument(
        "--suite", default=None, help="a suite's folder: work in envs/<the stage's env>/ of it"
    )


def _stage_key(what: str) -> tuple[str, str]:
    stage = dvc_stage()
    if stage is None:
        raise ConfigError(
            f"{what}: not given; name it as an argument (a stage run by DVC learns it from "
            f"{DVC_STAGE})"
        )
    return stage


def _split_matrix_key(config: Config, group: str, key: str) -> tuple[str, str]:
    """(env, variant) of a suite's matrix stage: DVC names it <env>-<variant>."""
    names = config.tune.search if group == "tune" else config.variants
    pairs = [(env, name) for env in config.envs for name in names if f"{env}-{name}" == key]
    if len(pairs) != 1:
        found = "no" if not pairs else "more than one"
        raise ConfigError(
            f"{DVC_STAGE}: got {show(key)}; {found} <env>-<variant> of this suite gives it"
        )
    return pairs[0]


def study_root(root: str | Path, key: str = "--root") -> str:
    """root, when it is a folder or a new one inside the working folder (a suite's env
    folder before its first stage); else a one-line ConfigError: a stage never creates
    folders elsewhere (such as /nonexistent/dir at the filesystem's root)."""
    here = Path.cwd()
    inside = Path(os.path.normpath(here / root)).is_relative_to(here)
    if not Path(root).is_dir() and (Path(root).exists() or not inside):
        raise ConfigError(
            f"{key}: got {show(str(root))}; not a folder; allowed: an existing study folder, "
            "or a new one inside the working folder"
        )
    return str(root)


def load_study(args: argparse.Namespace, check_env: bool = True) -> Config:
    """The config of the env a stage works on (the whole study for a single-env params).
    Fills in args.variant (a stage with one), args.env and args.root where DVC_STAGE
    names them."""
    config = load_config(args.params, check_env=check_env)
    keyed = "variant" in vars(args)
    if args.suite is not None and args.env is None:
        group, key = _stage_key("--env")
        if keyed and args.variant is None:
            args.env, args.variant = _split_matrix_key(config, group, key)
        else:
            args.env = key
    if keyed and args.variant is None:
        args.variant = _stage_key("variant")[1]
    if args.suite is not None:
        study_root(args.suite, "--suite")
    if args.root is None:
        args.root = str(env_root(args.suite, args.env)) if args.suite is not None else "."
    study_root(args.root)
    if keyed:
        check_name("variant", args.variant)
    return config.for_env(args.env)


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
