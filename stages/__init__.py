"""Thin DVC stage entry points: parse arguments, call the library, write outputs."""

import gc
import os
import signal
import sys


def _interrupted_while_starting(signum, frame):
    # Ctrl-C while a stage imports torch & co. (a second or more): one line instead of the
    # traceback of whichever import it hit, and the end by SIGINT that stage_main gives
    # (reinforce.io.cli.die_of_signal, not imported here: it is what is being loaded). The
    # same for SIGTERM and SIGHUP (reinforce.io.cli.ENDING_SIGNALS): no worker runs yet.
    print("stage: interrupted while starting; no output written", file=sys.stderr, flush=True)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # unreachable unless the signal is blocked


# `python -m stages.<name>` imports this package first, while sys.argv[0] is still "-m";
# stage_main puts Python's own handler back once the stage's main runs. A process that
# imports a stage (a test) keeps its handler.
def _one_line_when_memory_is_short(kind, err, trace):
    # An import under a low address-space limit (`ulimit -v`) fails before stage_main runs:
    # libtorch's "failed to map segment", llvmlite's "Could not find/load shared object"
    # (which blames a missing library). Say memory was short, in one line, as stage_main does.
    from reinforce.io.errors import memory_short

    if short := memory_short(err):
        print(f"stage: {short}", file=sys.stderr, flush=True)
    else:
        sys.__excepthook__(kind, err, trace)


if sys.argv[:1] == ["-m"]:
    for _signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_signum, _interrupted_while_starting)
    sys.excepthook = _one_line_when_memory_is_short
    # No cyclic collections while the stage imports torch & co.: the ~200,000 objects they
    # create live as long as the process, and the collections that would scan them over and
    # over cost 0.15-0.3 s here. stage_main (reinforce/io/cli.py) freezes what is alive
    # when the stage's main starts and turns the collector on again (doctor.py, not a
    # stage_main, turns it on itself).
    gc.disable()
    # torch.export and torch's meta kernels wait until something traces (about 0.2 s of
    # every stage's `import torch`); reinforce/internals.py says what is deferred and why
    from reinforce import internals

    internals.defer_tracing_modules()
