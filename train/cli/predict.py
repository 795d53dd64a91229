"""`talent-tagger predict`: articles -> entities, metric values and measure classes."""

from __future__ import annotations

from pathlib import Path

import typer

from train.cli._app import app
from train.files import PROJECT_ROOT
from train.predict import FORMATS, run_predict


@app.command()
def predict(
    inputs: list[Path] = typer.Argument(
        ..., help="Article .txt files (UTF-8, GB18030 or Big5), directories of them, or .jsonl with {\"id\", \"text\"} per line."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="File to write: replaced atomically (through a symlink to its target); - or a device/FIFO is streamed to."),
    fmt: str = typer.Option(
        None,
        "--format",
        help=f"One of {', '.join(FORMATS)}. Default: csv for *.csv, labelstudio for *.json, else jsonl.",
    ),
    models: Path = typer.Option(PROJECT_ROOT / "models", "--models", show_default="the project's models/", help="Directory holding tagger/ and classifier/."),
    batch_size: int = typer.Option(32, "--batch-size", help="Paragraphs per model batch."),
    shard: str = typer.Option(
        None,
        "--shard",
        help="K/N (1-based): take articles number K, K+N, K+2N, ... (counting from 1) of the sorted "
        "input list, .jsonl lines counting as articles; shards 1/N..N/N cover every article exactly once.",
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1, ... (default: CUDA if available)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (a terminal only)."),
    decoding: str = typer.Option(
        "viterbi",
        "--decoding",
        help="viterbi: the most probable valid BIO sequence; argmax: each token's best label, repaired "
        "(what transformers' token-classification pipeline does).",
    ),
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="auto: bf16 on a CPU with AMX or a bf16 GPU (about 2x faster on CPU; a few tokens in ten thousand "
        "change label), else fp32; fp32, bf16 or int8 (CPU: dynamic int8 on the square and widening linear "
        "layers, about 1.15x faster) to choose.",
    ),
) -> None:
    """Tag entities and metrics, classify paragraphs, and write one record per article."""
    summary = run_predict(inputs, output, fmt, models, batch_size, shard, device, progress, decoding=decoding, precision=precision)
    typer.echo(summary.line(output), err=True)
