"""`talent-tagger pull`: a Label Studio project's annotations -> JSON export for training."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from train.cli._app import app
from train.cli.push import api_token
from train.files import check_output, output_file
from train.labelstudio import connect, export, get_or_create_project


@app.command()
def pull(
    url: str = typer.Option(..., "--url", help="Label Studio address, e.g. http://127.0.0.1:8080."),
    project: int = typer.Option(..., "--project", help="Project id."),
    output: Path = typer.Option(..., "-o", "--output", help="Export file to write (Label Studio JSON; - for stdout)."),
) -> None:
    """Export a project's tasks, annotations and predictions (token from LABEL_STUDIO_API_KEY)."""
    check_output(output)
    client = connect(url, api_token())
    get_or_create_project(client, project_id=project)  # a clear error for a wrong id
    tasks = export(client, project)
    with output_file(output) as fh:
        json.dump(tasks, fh, ensure_ascii=False, indent=1)
    annotated = sum(1 for t in tasks if any(not a.get("was_cancelled") for a in t.get("annotations") or []))
    typer.echo(f"{output}: {len(tasks)} tasks from project {project}, {annotated} annotated", err=True)
