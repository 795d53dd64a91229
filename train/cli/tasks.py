"""`talent-tagger tasks`: articles -> Label Studio import file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from train.cli._app import app
from train.files import atomic_write, check_output, expand_paths
from train.labelstudio import tasks_for_articles


@app.command()
def tasks(
    articles: list[Path] = typer.Argument(..., help="Article .txt files or directories of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Label Studio import file to write (JSON)."),
) -> None:
    """Write a Label Studio import file: one task per normalized paragraph."""
    files = expand_paths(articles, (".txt",))
    result = tasks_for_articles(files)
    check_output(output, inputs=files)
    with atomic_write(output) as fh:
        json.dump(result, fh, ensure_ascii=False, indent=1)
    typer.echo(f"{output}: {len(result)} tasks from {len({t['data']['article_id'] for t in result})} articles", err=True)
