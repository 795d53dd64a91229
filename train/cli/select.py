"""`talent-tagger select`: the paragraphs of a pool most worth annotating next."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from train.cli._app import app
from train.errors import InputError
from train.files import PROJECT_ROOT, check_output, output_file


@app.command()
def select(
    pool: list[Path] = typer.Argument(..., help="Unannotated articles: .txt files, directories of them, or .jsonl with {\"id\", \"text\"} per line."),
    budget: int = typer.Option(..., "--budget", help="How many paragraphs to choose."),
    output: Path = typer.Option(..., "-o", "--output", help="Label Studio import file to write (JSON, tasks with predictions, in the order chosen)."),
    models: Path = typer.Option(PROJECT_ROOT / "models", "--models", show_default="the project's models/", help="Directory holding tagger/ and classifier/."),
    exclude: list[Path] = typer.Option([], "--exclude", help="Label Studio exports whose paragraphs are annotated already (repeatable)."),
    similarity: float = typer.Option(0.6, "--similarity", help="Skip a paragraph this similar (character 5-gram Jaccard) to one chosen before."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (a terminal only)."),
) -> None:
    """Choose paragraphs to annotate: least confident first, spread over articles, no near-duplicates."""
    from tqdm import tqdm

    from train.labelstudio import read_exports
    from train.predict import Models, PredictSummary, count_articles, expand_inputs, iter_articles, with_text
    from train.selection import select_paragraphs

    if budget < 1:
        raise InputError(f"--budget {budget}: must be at least 1")
    if not 0 < similarity <= 1:
        raise InputError(f"--similarity {similarity}: must be in (0, 1]")
    files = expand_inputs(pool)
    annotated = {ex.text for ex in read_exports(exclude).examples} if exclude else set()
    check_output(output, inputs=[*files, *exclude])
    loaded = Models.load(models)
    bar = tqdm(total=count_articles(files), unit="article", desc="select", file=sys.stderr, disable=None if progress else True)
    empty = PredictSummary()
    try:
        articles = with_text(iter_articles(files), empty, on_skip=lambda: bar.update(1))
        summary = select_paragraphs(articles, loaded, budget, annotated, similarity, on_article=lambda: bar.update(1))
    finally:
        bar.close()
    with output_file(output) as fh:
        json.dump(summary.chosen, fh, ensure_ascii=False, indent=1)
    skipped = f"; {len(empty.skipped)} articles skipped: nothing left after normalization" if empty.skipped else ""
    typer.echo(summary.line(str(output)) + skipped, err=True)
