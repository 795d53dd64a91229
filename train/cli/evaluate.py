"""`talent-tagger evaluate`: trained models against gold exports (the figures of metrics.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import typer
from rich.console import Console
from rich.table import Table

from train.cli._app import app
from train.cli.train import export_paths, skipped_line
from train.errors import InputError
from train.files import PROJECT_ROOT, check_output, output_file
from train.labelstudio import Example, read_exports


def _version(model_dir: Path) -> str | None:
    try:
        return json.loads((model_dir / "manifest.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None


def evaluate_models(models: Path, examples: Sequence[Example], batch_size: int = 32) -> dict[str, Any]:
    """Entity figures of models/tagger and class figures of models/classifier on the examples."""
    from train.classifier import Classifier, evaluate_classifier
    from train.tagger import Tagger, entity_report

    from train.modeldir import current

    base = current(models)  # resolved once: one run's pair
    dirs = {"tagger": base / "tagger", "classifier": base / "classifier"}
    present = {k: d for k, d in dirs.items() if (d / "config.json").exists()}
    if not present:
        raise InputError(f"{models}: no trained tagger/ or classifier/ here (run `talent-tagger train` or pass --models DIR)")
    report: dict[str, Any] = {"models": {k: {"dir": str(d), "version": _version(d)} for k, d in present.items()}}
    if "tagger" in present:
        tagger = Tagger.load(present["tagger"])
        report["tagger"] = entity_report(examples, tagger.predict([ex.text for ex in examples], batch_size))
    if "classifier" in present:
        report["classifier"] = evaluate_classifier(Classifier.load(present["classifier"]), examples, batch_size)
    return report


def scores_table(title: str, rows: dict[str, dict[str, Any]], micro: dict[str, Any], macro: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    extra = any("threshold" in r for r in rows.values())
    for col in ["", "precision", "recall", "F1", "support"] + (["threshold"] if extra else []):
        table.add_column(col, justify="left" if not col else "right")
    for name, r in list(rows.items()) + [("micro avg", micro), ("macro avg", macro)]:
        cells = [f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", str(r["support"])]
        if extra:
            cells.append(f"{r['threshold']:.3f}" if "threshold" in r else "")
        table.add_row(name, *cells, end_section=name == list(rows)[-1])
    return table


@app.command()
def evaluate(
    data: list[Path] = typer.Option(..., "--data", help="Gold Label Studio JSON export(s) or dirs of them."),
    more: list[Path] = typer.Argument(None, hidden=True, help="More exports after --data (--data A.json B.json)."),
    models: Path = typer.Option(PROJECT_ROOT / "models", "--models", show_default="the project's models/", help="Directory holding tagger/ and classifier/."),
    output: Path = typer.Option(None, "-o", "--output", help="Write the report as JSON here (- for stdout; the tables then go to stderr)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
) -> None:
    """Score the trained models on gold exports: entity P/R/F1 per type, class P/R/F1 per class."""
    paths = export_paths([*data, *(more or [])], default=None)
    gold = read_exports(paths)
    if output is not None:
        check_output(output, inputs=paths)  # before the models run, not after
    if not gold.examples:
        raise InputError(f"{', '.join(map(str, paths))}: no annotated tasks to evaluate on")
    report = evaluate_models(models, gold.examples, batch_size)
    report["data"] = {"exports": [str(p) for p in paths], "paragraphs": len(gold.examples), "skipped": dict(gold.skipped)}
    if output is not None:
        with output_file(output) as fh:
            json.dump(report, fh, ensure_ascii=False, indent=2)
    console = Console(stderr=output is not None and str(output) == "-")  # stdout then carries the JSON
    console.print(f"{len(gold.examples)} gold paragraphs; {skipped_line(gold)}")
    if "tagger" in report:
        t = report["tagger"]
        console.print(scores_table(f"entities ({report['models']['tagger']['version']})", t["per_type"], t["micro"], t["macro"]))
    if "classifier" in report:
        c = report["classifier"]
        console.print(scores_table(f"classes ({report['models']['classifier']['version']})", c["per_class"], c["micro"], c["macro"]))
    if output is not None:
        typer.echo(f"wrote {output}", err=True)
