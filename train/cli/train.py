"""`talent-tagger train`: Label Studio exports -> models/tagger and models/classifier."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import typer

from train.cli._app import app
from train.config import TrainConfig, load_config
from train.errors import InputError
from train.files import check_output, expand_paths
from train.labelstudio import ExportData, read_exports
from train.modeldir import staged_pair

DEFAULT_DATA = Path("seeds/annotations")


def export_paths(data: Sequence[Path] | None, default: Path | None = DEFAULT_DATA) -> list[Path]:
    """Export files as given; a directory stands for the *.json files in it."""
    if not data:
        if default is None:
            raise InputError("no data: pass --data EXPORT.json")
        data = [default]
    return expand_paths(data, (".json",), recursive=False)


def skipped_line(data: ExportData) -> str:
    if not data.skipped:
        return "skipped 0 tasks"
    parts = ", ".join(f"{reason}: {n}" for reason, n in sorted(data.skipped.items()))
    return f"skipped {sum(data.skipped.values())} tasks ({parts})"


def train_models(config: TrainConfig, paths: Sequence[Path], out: Path, log=print) -> dict[str, Any]:
    """Read the exports, split by article, train the tagger then the classifier, publish them as ``out``'s pair."""
    from train.classifier import train_classifier
    from train.dataset import split_by_article
    from train.tagger import train_tagger

    data = read_exports(paths)
    log(f"{len(data.examples)} annotated paragraphs from {len(paths)} export(s); {skipped_line(data)}")
    if not data.examples:
        raise InputError(f"{', '.join(map(str, paths))}: no annotated tasks to train on")
    train, val = split_by_article(data.examples, config.split.eval_fraction, config.split.seed)
    info = {
        "exports": [str(p) for p in paths],
        "skipped": dict(data.skipped),
        "train_examples": len(train),
        "validation_examples": len(val),
        "train_articles": len({ex.article_id for ex in train}),
        "validation_articles": len({ex.article_id for ex in val}),
        "validation_article_ids": sorted({ex.article_id for ex in val}),
    }
    log(
        f"split by article: {info['train_articles']} articles / {len(train)} paragraphs for training, "
        f"{info['validation_articles']} / {len(val)} for validation"
    )
    with staged_pair(out) as (stage, run):  # both models, or neither: see train/modeldir.py
        tagger = train_tagger(train, val, config, stage, paths, info)
        log(f"tagger: {tagger['alignment']['summary']}")
        log(f"tagger: validation micro F1 {tagger['validation']['micro']['f1']:.3f}, macro F1 {tagger['validation']['macro']['f1']:.3f}")
        classifier = train_classifier(train, val, config, stage, paths, info)
        log(
            f"classifier: validation micro F1 {classifier['validation']['micro']['f1']:.3f}, "
            f"macro F1 {classifier['validation']['macro']['f1']:.3f}"
        )
    return {"tagger": tagger, "classifier": classifier, "run": run}


@app.command()
def train(
    config: Path = typer.Option(None, "--config", help="YAML config [default: the project's configs/train.yaml, wherever this runs]; relative paths in it are relative to its own directory."),
    data: list[Path] = typer.Option(None, "--data", help="Label Studio JSON export(s) or dirs of them [default: seeds/annotations]."),
    more: list[Path] = typer.Argument(None, hidden=True, help="More exports after --data (--data A.json B.json)."),
    out: Path = typer.Option(Path("models"), "--out", help="Directory that receives tagger/ and classifier/."),
) -> None:
    """Train the token tagger and the paragraph classifier from Label Studio exports."""
    cfg = load_config(config)
    paths = export_paths([*(data or []), *(more or [])])
    check_output(out, directory=True)  # now, not after the tagger has trained
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 talks
    log = (lambda msg: typer.echo(msg, err=True)) if main else (lambda msg: None)
    result = train_models(cfg, paths, out, log=log)
    log(f"wrote {out / 'tagger'} and {out / 'classifier'} (run {result['run']}, {out / 'current'})")
