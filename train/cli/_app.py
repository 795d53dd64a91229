"""The Typer application every command module registers itself on, and where its messages go."""

import logging
import sys

import typer

app = typer.Typer(
    name="talent-tagger",
    help="Tag entities and metrics and classify talent measures (引才/育才/留才) in Chinese talent-policy news.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it), above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 (logging's own rule: a message never crashes the program)
            self.handleError(record)


class _Plain(logging.Formatter):
    """Information as it is; a warning or an error starts with its level, one line each."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def setup_logging() -> None:
    """The package's loggers (``train.*``) print to stderr: info plainly, warnings as ``warning: ...``."""
    logger = logging.getLogger("train")
    handler = next((h for h in logger.handlers if isinstance(h, _Stderr)), None)
    if handler is None:
        handler = _Stderr()
        handler.setFormatter(_Plain())
        logger.addHandler(handler)
    handler.setLevel(logging.NOTSET)  # a --quiet of an earlier command in this process is over
    logger.setLevel(logging.INFO)
    logging.getLogger("train.progress").setLevel(logging.NOTSET)


def quiet_stderr() -> None:
    """Only warnings and errors on stderr; handlers elsewhere (a run's train.log) still get everything."""
    for handler in logging.getLogger("train").handlers:
        if isinstance(handler, _Stderr):
            handler.setLevel(logging.WARNING)


@app.callback()
def _root() -> None:
    """Tag entities and metrics and classify talent measures in Chinese talent-policy news."""
    setup_logging()
