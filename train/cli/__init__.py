"""The `talent-tagger` command line: one command per module, registered here."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from train.cli._app import app
from train.cli import predict, stats, tasks  # noqa: F401  (each module registers its command)
from train.cli import pull, push  # noqa: F401  (Label Studio review loop)
from train.cli import base, pretrain  # noqa: F401  (base encoders: e5 from its wheel, masked LM)
from train.cli import evaluate, train  # noqa: F401  (tagger and classifier training, evaluation)
from train.cli import report, select, serve  # noqa: F401  (what the predictions say; what to annotate next; the ML backend)
from train.errors import InputError


class Terminated(BaseException):
    """SIGTERM as an exception, so every ``finally`` (temp files, staging dirs) runs before exit.

    A BaseException, like KeyboardInterrupt: library code that catches Exception must not swallow it.
    """


def _terminate(signum: int, frame: FrameType | None) -> None:
    """Raise :class:`Terminated` where the interrupted code is.

    Python prints and ignores an exception raised inside a ``__del__`` (the garbage
    collector runs them anywhere): a SIGTERM landing there was lost and the run went on
    to the end. There the exception is deferred by 10 ms (SIGALRM comes back here).
    """
    if _in_finalizer(frame):
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second TERM ends the process at once
    raise Terminated


def _in_finalizer(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def main() -> None:
    """Entry point: bad input is one line on stderr and exit status 2, never a traceback.

    SIGINT and SIGTERM unwind the stack (removing temporary files) and exit 130 / 143
    with one line; what a SIGKILL leaves behind, the next run into the same place removes.
    """
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGALRM, _terminate)  # a deferred SIGTERM (see _terminate)
    try:
        app()
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Terminated:
        print("terminated", file=sys.stderr)
        sys.exit(143)
