"""Auxiliary-corpus stage of tagger training: general NER data before the domain data.

Public corpora (CLUENER, MSRA, ...) label people, organizations and places far more
often than a few hundred annotated policy paragraphs do. Mapped to this project's
labels (``train.corpora.LABEL_MAPS``), they give the freshly created token classifier
an intermediate round of training; the domain training then starts from it. Off by
default (configs/train.yaml ``auxiliary:``).

The stage reads with ``train.corpora``, builds windows and token labels with the same
``train.dataset`` functions and label set as the tagger, trains with the transformers
Trainer in a temporary work dir (removed afterwards) and writes nothing else.
"""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from transformers import DataCollatorForTokenClassification, Trainer
from transformers.trainer_callback import PrinterCallback

from train.config import AuxiliaryConfig, AuxiliaryCorpus, TaggerConfig
from train.corpora import Record, mapped_examples, read_corpus_file
from train.dataset import AlignReport, tagger_dataset, tagger_features
from train.errors import InputError
from train.labelstudio import Example
from train.runtime import StageProgress, trained_model, training_arguments


log = logging.getLogger(__name__)


def _log(message: str) -> None:
    log.info("auxiliary: %s", message)


def _is_test_split(path: Path) -> bool:
    return "test" in path.name.lower().split(".")


def corpus_files(path: str | Path, key: str = "auxiliary.corpora") -> list[Path]:
    """The corpus files ``path`` stands for: the file itself, or the corpus files in a dir.

    In a dir, files ``read_corpus_file`` does not know (READMEs, class lists) and test
    splits (``test.jsonl``, ``*.test``) are left out; name a test file to use it.
    Config paths arrive absolute (train.config resolves them).
    """
    p = Path(path).expanduser()
    if p.is_file():
        read_corpus_file(p)  # an unknown format is an InputError naming the file
        return [p]
    if not p.is_dir():
        raise InputError(f"config {key}.path: {path}: no such file or directory")
    found = []
    for f in sorted(p.iterdir()):
        if not f.is_file() or f.name.startswith(".") or _is_test_split(f):
            continue
        try:
            read_corpus_file(f)
        except InputError:
            continue
        found.append(f)
    if not found:
        raise InputError(f"config {key}.path: {path}: no corpus files in this dir (test splits are left out)")
    return found


def auxiliary_examples(config: AuxiliaryConfig, seed: int, labels: set[str] | None = None) -> list[Example]:
    """Examples from every configured corpus, labels mapped, at most ``max_examples`` of them.

    The sample is drawn with ``seed`` from all sentences of all corpora together (so a
    corpus contributes in proportion to its size); only the sampled sentences are
    normalized. ``labels``, when given, are the labels the model can tag.
    """
    pool: list[tuple[int, Record]] = []
    for n, corpus in enumerate(config.corpora):
        key = f"auxiliary.corpora.{n}"
        _check_labels(corpus, labels, key)
        for f in corpus_files(corpus.path, key):
            pool += [(n, rec) for rec in read_corpus_file(f)]
    if config.max_examples is not None and len(pool) > config.max_examples:
        picked = sorted(random.Random(seed).sample(range(len(pool)), config.max_examples))
        pool = [pool[i] for i in picked]
    examples: list[Example] = []
    for n, corpus in enumerate(config.corpora):
        records = [rec for c, rec in pool if c == n]
        edu = labels is None or "EDU" in labels  # a label set without EDU keeps schools as ORG
        examples += mapped_examples(records, corpus.effective_label_map(), f"aux{n}-{corpus.format}", edu)
    return examples


def _check_labels(corpus: AuxiliaryCorpus, labels: set[str] | None, key: str) -> None:
    if labels is None:
        return
    bad = sorted(set(corpus.effective_label_map().values()) - labels)
    if bad:
        raise InputError(f"config {key}.label_map: the tagger has no label {', '.join(bad)} ({', '.join(sorted(labels))})")


def auxiliary_stage(model, tokenizer, config: AuxiliaryConfig, tagger: TaggerConfig):
    """Train the token classifier on the auxiliary corpora; return it (unchanged when off).

    Windows, stride, batch size, learning rate and seed are the tagger's; ``epochs``
    and ``max_examples`` are the section's own. No evaluation, no checkpoints.
    """
    if not config.enabled:
        return model
    model, _, _ = run_stage(model, tokenizer, config, tagger)
    return model


def run_stage(model, tokenizer, config: AuxiliaryConfig, tagger: TaggerConfig, heldout: int = 0):
    """The stage itself: (trained model, summary, held-out examples); ``heldout`` sentences are kept out to score it."""
    if not config.corpora:
        raise InputError("config auxiliary.corpora: no corpora are listed")
    label2id = dict(model.config.label2id)
    labels = {name.partition("-")[2] for name in label2id if name != "O"}
    examples = auxiliary_examples(config, tagger.seed, labels)
    if len(examples) <= heldout:
        raise InputError(f"config auxiliary.corpora: {len(examples)} sentences, too few to keep {heldout} for scoring")
    held = random.Random(tagger.seed).sample(examples, heldout) if heldout else []
    held_ids = {id(ex) for ex in held}
    examples = [ex for ex in examples if id(ex) not in held_ids]
    per_label = Counter(s.label for ex in examples for s in ex.spans)
    align = AlignReport()
    windows, token_labels = tagger_features(examples, tokenizer, label2id, tagger.max_length, tagger.stride, align)
    _log(
        f"{len(examples)} sentences, {len(windows.input_ids)} windows, "
        f"entities {', '.join(f'{k} {v}' for k, v in sorted(per_label.items())) or 'none'}; "
        f"training {config.epochs:g} epoch(s)"
    )
    if align.total_misaligned:
        _log(align.summary())

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="talent-tagger-aux-"))
    try:
        args = training_arguments(tagger.model_copy(update={"epochs": config.epochs, "max_steps": -1}), work)
        args = args.set_evaluate("no").set_save("no")
        args.load_best_model_at_end = False
        trainer = Trainer(
            model=model,
            args=args,
            data_collator=DataCollatorForTokenClassification(tokenizer),
            train_dataset=tagger_dataset(windows, token_labels, tokenizer),
            processing_class=tokenizer,
        )
        trainer.remove_callback(PrinterCallback)  # one line per epoch from StageProgress, not raw log dicts
        trainer.add_callback(StageProgress("auxiliary"))
        result = trainer.train()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    _log(f"done: {result.global_step} steps in {minutes:.1f} min, mean training loss {result.training_loss:.4f}")
    summary = {
        "sentences": len(examples),
        "windows": len(windows.input_ids),
        "entities": dict(sorted(per_label.items())),
        "epochs": config.epochs,
        "steps": result.global_step,
        "minutes": round(minutes, 1),
        "training_loss": round(result.training_loss, 4),
    }
    return trained_model(trainer), summary, held
