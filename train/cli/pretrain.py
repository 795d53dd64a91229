"""`talent-tagger pretrain`: masked-LM pretraining of the base encoder (or of a given base)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from train.cli._app import app


@app.command(context_settings={"allow_extra_args": True})
def pretrain(
    ctx: typer.Context,
    corpus: list[Path] = typer.Option(
        ..., "--corpus", help="Corpus files or directories (several may follow one --corpus)."
    ),
    out: Path = typer.Option(..., "--out", help="Model dir to write (checkpoints go to OUT.checkpoints/)."),
    config: Path = typer.Option(None, "--config", help="Pretrain config (default: configs/pretrain.yaml)."),
    base: str = typer.Option(None, "--base", help="Continue from this BERT (local dir or hub id) instead of a new model."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in OUT.checkpoints/."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop this run after so many minutes (resume later)."),
) -> None:
    """Pretrain a compact Chinese BERT with masked LM on plain text from corpus files."""
    from train.errors import InputError
    from train.files import check_model_output, check_output
    from train.pretrain import pretrain as run

    extra = [a for a in ctx.args]
    unknown = [a for a in extra if a.startswith("-")]
    if unknown:
        raise InputError(f"unknown option {unknown[0]}")
    check_model_output(out, "pretrain")
    check_output(out.with_name(out.name + ".checkpoints"), directory=True)
    result = run(
        [*corpus, *map(Path, extra)],
        out,
        config=config,
        base=base,
        resume=resume,
        max_minutes=max_minutes,
        command=["talent-tagger", *sys.argv[1:]],
    )
    m = result.metrics
    state = "complete" if m["complete"] else f"partial ({m['steps']}/{m['max_steps']} steps; --resume to go on)"
    typer.echo(
        f"{out}: held-out MLM accuracy {m['heldout_mlm_accuracy']:.4f} after {m['steps']} steps, "
        f"{m['model_file_bytes'] / 1e6:.1f} MB fp16, {state}",
        err=True,
    )
