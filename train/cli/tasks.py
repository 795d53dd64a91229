"""`talent-tagger tasks`: articles -> Label Studio import file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from train.cli._app import app
from train.errors import InputError
from train.files import atomic_write
from train.labelstudio import tasks_for_articles


def expand_inputs(paths: list[Path], suffixes: tuple[str, ...] = (".txt",)) -> list[Path]:
    """Files as given, and the matching files inside directories (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in suffixes)
            if not found:
                raise InputError(f"{p}: directory has no {'/'.join(suffixes)} files")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    return out


@app.command()
def tasks(
    articles: list[Path] = typer.Argument(..., help="Article .txt files or directories of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Label Studio import file to write (JSON)."),
) -> None:
    """Write a Label Studio import file: one task per normalized paragraph."""
    result = tasks_for_articles(expand_inputs(articles))
    with atomic_write(output) as fh:
        json.dump(result, fh, ensure_ascii=False, indent=1)
    typer.echo(f"{output}: {len(result)} tasks from {len({t['data']['article_id'] for t in result})} articles", err=True)
