"""`talent-tagger intermediate`: the base encoder trained on general NER corpora (models/base-ner)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from train.cli._app import app
from train.files import PROJECT_ROOT

DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "intermediate.yaml"


@app.command()
def intermediate(
    config: Path = typer.Option(
        DEFAULT_CONFIG, "--config", show_default="the project's configs/intermediate.yaml",
        help="YAML config: tagger (base and settings) and auxiliary (corpora); relative paths in it are relative to its directory.",
    ),
    out: Path = typer.Option(PROJECT_ROOT / "models" / "base-ner", "--out", show_default="the project's models/base-ner", help="Model dir to write (replaced whole when done)."),
    heldout: int = typer.Option(1000, "--heldout", min=0, help="Sentences of the corpora kept out of training to score the model."),
) -> None:
    """Train the tagger on label-mapped public NER corpora once; configs/train.yaml starts the domain tagger from it."""
    from train.intermediate import train_intermediate
    from train.config import load_config
    from train.errors import InputError
    from train.files import check_model_output

    cfg = load_config(config)
    if not cfg.auxiliary.corpora:
        raise InputError(f"{config}: auxiliary.corpora lists no corpus to train on")
    check_model_output(out, "intermediate")
    metrics = train_intermediate(cfg, out, heldout, command=["talent-tagger", *sys.argv[1:]])
    rep = metrics["heldout"]
    score = f"held-out entity micro F1 {rep['micro']['f1']:.3f} on {metrics['heldout_sentences']} sentences" if rep else "no held-out sentences"
    typer.echo(f"{out}: {metrics['training']['sentences']} sentences, {metrics['training']['minutes']} min; {score}", err=True)
