"""`talent-tagger train`: Label Studio exports -> models/tagger and models/classifier."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import typer

from train.cli._app import app, quiet_stderr
from train.config import TrainConfig, load_config
from train.errors import InputError
from train.files import PROJECT_ROOT, check_output, expand_paths, is_main_process
from train.labelstudio import ExportData, read_exports
from train.modeldir import staged_pair

DEFAULT_DATA = PROJECT_ROOT / "seeds" / "annotations"

log = logging.getLogger(__name__)


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


def train_models(config: TrainConfig, paths: Sequence[Path], out: Path) -> dict[str, Any]:
    """Read the exports, split by article, add ``classifier.negatives`` to the classifier's side, train
    the tagger then the classifier (or both at once with ``shared_encoder``), publish them as ``out``'s pair.

    Progress goes to the ``train`` loggers (stderr, see train/cli/_app.py) and, for the
    record, to ``train.log`` in the run's dir.
    """
    from train.classifier import train_classifier
    from train.dataset import training_data, with_negatives
    from train.joint import train_shared
    from train.tagger import train_tagger

    data = read_exports(paths)
    said = [f"{len(data.examples)} annotated paragraphs from {len(paths)} export(s); {skipped_line(data)}"]
    log.info(said[0])
    if not data.examples:
        raise InputError(f"{', '.join(map(str, paths))}: no annotated tasks to train on")
    split = training_data(data.examples, paths, config.split.eval_fraction, config.split.seed, data.skipped)
    info = split.info
    said.append(
        f"split by article: {info['train_articles']} articles / {info['train_examples']} paragraphs for training, "
        f"{info['validation_articles']} / {info['validation_examples']} for validation"
    )
    log.info(said[1])
    negatives, classifier_data = config.classifier.negatives, split
    if negatives and config.shared_encoder:
        log.warning("classifier.negatives is not used with shared_encoder: the one encoder trains on annotated paragraphs only")
    elif negatives:
        classifier_data = with_negatives(split, negatives)  # read before any training: a bad file costs nothing
        said.append(f"classifier: {classifier_data.info['negative_examples']} paragraphs of no class from {negatives}")
        log.info(said[-1])
    with staged_pair(out) as (stage, run), log_file(stage / "train.log", said):  # both models, or neither: train/modeldir.py
        if config.shared_encoder:
            tagger, classifier = train_shared(split, config, stage)
        else:
            tagger = train_tagger(split, config, stage)
        log.info("tagger: %s", tagger["alignment"]["summary"])
        log.info("tagger: validation micro F1 %.3f, macro F1 %.3f", tagger["validation"]["micro"]["f1"], tagger["validation"]["macro"]["f1"])
        if not config.shared_encoder:
            classifier = train_classifier(classifier_data, config, stage)
        log.info(
            "classifier: validation micro F1 %.3f, macro F1 %.3f", classifier["validation"]["micro"]["f1"], classifier["validation"]["macro"]["f1"]
        )
    return {"tagger": tagger, "classifier": classifier, "run": run}


@contextmanager
def log_file(path: Path, said: Sequence[str] = ()) -> Iterator[None]:
    """Everything the ``train`` loggers say, also written to ``path`` with times (main process only);
    ``said``: what was said before the file could exist, written first."""
    if not is_main_process():
        yield
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for line in said:
        handler.handle(logging.LogRecord(log.name, logging.INFO, __file__, 0, line, None, None))
    logger = logging.getLogger("train")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def quiet_libraries() -> None:
    """Silence what a user cannot act on: the libraries' load and save bars and their advice to developers."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers|accelerate)\.")


@app.command()
def train(
    config: Path = typer.Option(None, "--config", help="YAML config [default: the project's configs/train.yaml, wherever this runs]; relative paths in it are relative to its own directory."),
    data: list[Path] = typer.Option(None, "--data", help="Label Studio JSON export(s) or dirs of them [default: the project's seeds/annotations/]."),
    more: list[Path] = typer.Argument(None, hidden=True, help="More exports after --data (--data A.json B.json)."),
    out: Path = typer.Option(PROJECT_ROOT / "models", "--out", show_default="the project's models/", help="Directory that receives tagger/ and classifier/."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors (no progress bar, no epoch lines)."),
) -> None:
    """Train the token tagger and the paragraph classifier from Label Studio exports.

    One line per stage and per epoch (validation figures, time left), a progress bar on a
    terminal; the same lines, with times, in train.log beside the models.
    """
    if not is_main_process():  # under torchrun only rank 0 talks
        logging.getLogger("train").setLevel(logging.WARNING)
    elif quiet:  # warnings on stderr, no bar; train.log still gets every line
        quiet_stderr()
        logging.getLogger("train.progress").setLevel(logging.WARNING)
    quiet_libraries()
    cfg = load_config(config)
    paths = export_paths([*(data or []), *(more or [])])
    check_output(out, directory=True)  # now, not after the tagger has trained
    result = train_models(cfg, paths, out)
    log.info("wrote %s and %s (run %s, %s)", out / "tagger", out / "classifier", result["run"], out / "current")
