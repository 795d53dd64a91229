"""`talent-tagger stats`: counts and consistency checks of annotation exports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from train.cli._app import app
from train.cli.train import export_paths
from train.labelstudio import load_schema, read_exports
from train.quality import corpus_stats


@app.command()
def stats(
    exports: list[Path] = typer.Argument(..., help="Label Studio JSON exports, or dirs of them."),
    show_missed: int = typer.Option(20, help="How many possibly missed mentions to list."),
    strict: bool = typer.Option(False, help="Exit 1 if any mention looks missed or has several labels."),
) -> None:
    """Paragraphs and spans per label, class and script; mentions tagged in one place but missed in another."""
    schema = load_schema()
    data = read_exports(export_paths(exports, default=None), schema)
    s = corpus_stats(data.examples)
    console = Console(stderr=False)
    console.print(f"{s.paragraphs} paragraphs in {s.articles} articles  ({', '.join(f'{k}: {v}' for k, v in sorted(s.sources.items()))})")
    if data.skipped:
        console.print("skipped tasks: " + ", ".join(f"{k}: {v}" for k, v in data.skipped.items()))
    table = Table(title="spans per label")
    table.add_column("label")
    table.add_column("spans", justify="right")
    for label in schema.span_labels:
        table.add_row(label, str(s.spans[label]))
    table.add_row("total", str(sum(s.spans.values())))
    console.print(table)
    table = Table(title="paragraphs per class")
    table.add_column("class")
    table.add_column("paragraphs", justify="right")
    for c in schema.classes:
        table.add_row(c, str(s.classes[c]))
    for combo, n in sorted(s.class_sets.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {combo}", str(n))
    console.print(table)
    if s.scripts:
        console.print("script: " + ", ".join(f"{k}: {v} ({v / s.paragraphs:.0%})" for k, v in sorted(s.scripts.items())))
    if s.conflicts:
        console.print(f"[yellow]{len(s.conflicts)} strings carry several labels:[/yellow]")
        for text, labels in list(s.conflicts.items())[:show_missed]:
            console.print(f"  {text}: " + ", ".join(f"{k}×{v}" for k, v in labels.items()))
    if s.missed:
        console.print(f"[yellow]{len(s.missed)} possibly missed mentions (tagged elsewhere, untagged here):[/yellow]")
        for m in s.missed[:show_missed]:
            console.print(f"  task {m.task_id} ({m.article_id}) char {m.start}: {m.text} [{m.label}]")
    if strict and (s.missed or s.conflicts):
        raise typer.Exit(1)
