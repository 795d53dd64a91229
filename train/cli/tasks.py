"""`talent-tagger tasks`: articles -> Label Studio import file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from train.cli._app import app
from train.files import check_output, expand_paths, output_file
from train.labelstudio import tasks_for_articles


@app.command()
def tasks(
    articles: list[Path] = typer.Argument(..., help="Article .txt files or directories of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Label Studio import file to write (JSON; - for stdout)."),
) -> None:
    """Write a Label Studio import file: one task per normalized paragraph."""
    files = expand_paths(articles, (".txt",))
    result = tasks_for_articles(files)
    check_output(output, inputs=files)
    with output_file(output) as fh:
        json.dump(result, fh, ensure_ascii=False, indent=1)
    articles = len({t["data"]["article_id"] for t in result})
    skipped = f" ({len(files) - articles} skipped: nothing left after normalization)" if len(files) > articles else ""
    typer.echo(f"{output}: {len(result)} tasks from {articles} articles{skipped}", err=True)
