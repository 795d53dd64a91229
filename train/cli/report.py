"""`talent-tagger report`: predictions -> a page and tables for analysts."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from train.cli._app import app
from train.files import check_output, expand_paths


@app.command()
def report(
    predictions: list[Path] = typer.Argument(..., help="predict's JSONL output: files, or directories of *.jsonl."),
    output: Path = typer.Option(..., "-o", "--output", help="Directory to write (index.html and CSVs): replaced whole, or not at all; one holding other files is refused."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr (a terminal only)."),
) -> None:
    """Measure types by province and city, programmes, policies, organizations and metrics, each with its evidence."""
    from tqdm import tqdm

    from train.report import write_report

    files = expand_paths(predictions, (".jsonl",))
    check_output(output, directory=True, inputs=files)

    def bar(stage: str, total: int) -> tqdm:
        return tqdm(total=total, unit="article", desc=stage, file=sys.stderr)

    summary = write_report(files, output, bar if progress and sys.stderr.isatty() else None)
    typer.echo(summary.line(output), err=True)
