"""The `talent-tagger` command line: one command per module, registered here."""

from __future__ import annotations

import sys

from train.cli._app import app
from train.cli import predict, stats, tasks  # noqa: F401  (each module registers its command)
from train.cli import pull, push  # noqa: F401  (Label Studio review loop)
from train.cli import base, intermediate, pretrain  # noqa: F401  (base encoders: e5 from its wheel, masked LM, general NER)
from train.cli import evaluate, train  # noqa: F401  (tagger and classifier training, evaluation)
from train.errors import InputError


def main() -> None:
    """Entry point: bad input is one line on stderr and exit status 2, never a traceback."""
    try:
        app()
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
