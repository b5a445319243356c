"""Runs a training recipe from a checkout, without installing the package.

    python training/launch.py --recipe NAME --workdir DIR
        [--strategy auto|mirrored|multi_worker|one_device] [--set KEY=VALUE ...]
        [--cpu-devices N] [--list-recipes] [--quiet]

The same arguments and exit status as the `keras-preact-train` console script
(`keras_preact.commands.train`): 0 completed (or preempted by SIGTERM, checkpoint
saved), 2 bad arguments or data, 3 stopped on a non-finite loss. See training/README.md.

A worker that training/launch_workers.sh starts (it sets KERAS_PREACT_LAUNCHER_PID to its
own pid) gets SIGTERM when the script ends, even by SIGKILL, so no worker outlives it.
"""

import ctypes
import os
import signal
import sys
import threading
import time

LAUNCHER_PID = "KERAS_PREACT_LAUNCHER_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _follow_launcher():
    """SIGTERM to this process when the launcher named by KERAS_PREACT_LAUNCHER_PID (its
    parent) dies: Linux's parent-death signal, else a thread that watches the parent.
    A launcher already gone (it died before the request took effect): SIGTERM now."""
    launcher = os.environ.pop(LAUNCHER_PID, "")
    if not launcher.isdigit():
        return
    if not _parent_death_signal(signal.SIGTERM):
        threading.Thread(target=_watch_parent, args=(int(launcher),), daemon=True).start()
    if os.getppid() != int(launcher):
        os.kill(os.getpid(), signal.SIGTERM)


def _parent_death_signal(signum):
    """Asks Linux to send `signum` when the parent dies (prctl); False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(launcher):
    """Sends SIGTERM to this process once its parent is no longer `launcher`."""
    while os.getppid() == launcher:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


_follow_launcher()  # first: a launcher that dies while TensorFlow loads still ends the worker
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    from keras_preact.commands.train import main
except ModuleNotFoundError as e:  # the core install, without the training extras
    if e.name not in ("tensorflow", "tensorflow_datasets", "tensorboard"):
        raise
    sys.exit(f"training/launch.py: error: {e}; install the training extras: pip install -e '.[train]'")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
