"""`talent-tagger push`: predictions JSONL -> Label Studio tasks with predictions, for review."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from train.cli._app import app
from train.errors import InputError
from train.labelstudio import connect, get_or_create_project, push_predictions, read_predictions

TOKEN_ENV = "LABEL_STUDIO_API_KEY"


def api_token() -> str:
    """The Label Studio API token, from the environment only (never an option: it would show in `ps`)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise InputError(f"{TOKEN_ENV} is not set: export your Label Studio access token (Account & Settings)")
    return token


@app.command()
def push(
    predictions: Path = typer.Argument(..., help="Output of `talent-tagger predict` (JSONL)."),
    url: str = typer.Option(..., "--url", help="Label Studio address, e.g. http://127.0.0.1:8080."),
    project: int | None = typer.Option(None, "--project", help="Id of an existing project."),
    title: str | None = typer.Option(None, "--title", help="Project title; created from labels/label_config.xml if missing."),
) -> None:
    """Import paragraphs with their predictions for review (token from LABEL_STUDIO_API_KEY).

    One task per paragraph; each prediction carries the model_version and a score, the
    model's lowest confidence in the paragraph, so reviewers can sort least sure first.
    Pushing the same file again adds nothing.
    """
    if (project is None) == (title is None):
        raise InputError("push: give either --project ID or --title T")
    token = api_token()
    tasks = read_predictions(predictions)  # every record checked before anything is sent
    client = connect(url, token)
    proj, created = get_or_create_project(client, title=title, project_id=project)
    s = push_predictions(client, proj, tasks)
    typer.echo(
        f"{predictions} -> project {proj.id} {proj.title!r}{' (created)' if created else ''}: "
        f"{s.tasks_created} tasks created, {s.tasks_existing} already there; "
        f"{s.predictions_created} predictions added, {s.predictions_existing} already there "
        f"(model_version {', '.join(s.model_versions)})",
        err=True,
    )
