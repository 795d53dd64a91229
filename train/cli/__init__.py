"""The `talent-tagger` command line: one command per module, registered here."""

from __future__ import annotations

import signal
import sys

from train.cli._app import app
from train.cli import predict, stats, tasks  # noqa: F401  (each module registers its command)
from train.cli import pull, push  # noqa: F401  (Label Studio review loop)
from train.cli import base, intermediate, pretrain  # noqa: F401  (base encoders: e5 from its wheel, masked LM, general NER)
from train.cli import evaluate, train  # noqa: F401  (tagger and classifier training, evaluation)
from train.errors import InputError


class Terminated(BaseException):
    """SIGTERM as an exception, so every ``finally`` (temp files, staging dirs) runs before exit.

    A BaseException, like KeyboardInterrupt: library code that catches Exception must not swallow it.
    """


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second TERM ends the process at once
    raise Terminated


def main() -> None:
    """Entry point: bad input is one line on stderr and exit status 2, never a traceback.

    SIGINT and SIGTERM unwind the stack (removing temporary files) and exit 130 / 143
    with one line; what a SIGKILL leaves behind, the next run into the same place removes.
    """
    signal.signal(signal.SIGTERM, _terminate)
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
