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

import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from transformers import DataCollatorForTokenClassification, Trainer

from train.config import AuxiliaryConfig, AuxiliaryCorpus, TaggerConfig, TrainConfig
from train.corpora import Record, mapped_examples, read_corpus_file
from train.dataset import AlignReport, tagger_dataset, tagger_features
from train.errors import InputError
from train.files import atomic_dir
from train.labelstudio import PROJECT_ROOT, Example
from train.runtime import trained_model, training_arguments


def _log(message: str) -> None:
    print(f"auxiliary: {message}", file=sys.stderr, flush=True)


def _is_test_split(path: Path) -> bool:
    return "test" in path.name.lower().split(".")


def corpus_files(path: str | Path, key: str = "auxiliary.corpora") -> list[Path]:
    """The corpus files ``path`` stands for: the file itself, or the corpus files in a dir.

    In a dir, files ``read_corpus_file`` does not know (READMEs, class lists) and test
    splits (``test.jsonl``, ``*.test``) are left out; name a test file to use it.
    A relative path is taken from the working dir, else from the project root.
    """
    p = Path(path).expanduser()
    if not p.is_absolute() and not p.exists() and (PROJECT_ROOT / p).exists():
        p = PROJECT_ROOT / p
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


def train_intermediate(config: TrainConfig, out: Path, heldout: int = 1000, command: Sequence[str] = ()) -> dict[str, Any]:
    """An intermediate tagger (``models/base-ner``): the base encoder after the auxiliary corpora.

    On all of CLUENER and MSRA the stage takes longer than the domain training on a CPU,
    so it runs once here and ``tagger.base_model`` points at the result; the domain training then
    starts from it (same labels: the head is kept). ``heldout`` sentences of the
    corpora are scored (entity micro F1) and never trained on.
    """
    from transformers import set_seed

    from train.dataset import bio_labels
    from train.report import manifest, share_permissions, write_json
    from train.runtime import load_tokenizer, resolve_base, save_fp16
    from train.tagger import Tagger, entity_report, token_classifier

    cfg = config.tagger
    if cfg.soup > 1:
        raise InputError(f"tagger.soup is {cfg.soup}: the intermediate stage trains one copy (set soup in configs/train.yaml)")
    base = resolve_base(cfg.base_model)
    tokenizer = load_tokenizer(base)
    set_seed(cfg.seed)
    model = token_classifier(base, bio_labels())
    model, summary, held = run_stage(model, tokenizer, config.auxiliary, cfg, heldout)
    model.config.window_stride = cfg.stride
    tokenizer.model_max_length = cfg.max_length
    model.eval()
    tagger = Tagger(model, tokenizer, cfg.max_length, cfg.stride)
    span_labels = tagger.labels
    report = entity_report(held, tagger.predict([ex.text for ex in held], cfg.eval_batch_size), span_labels) if held else None
    metrics = {"heldout": report, "heldout_sentences": len(held), "training": summary, "command": list(command)}
    files = [f for n, c in enumerate(config.auxiliary.corpora) for f in corpus_files(c.path, f"auxiliary.corpora.{n}")]
    with atomic_dir(out) as tmp:
        save_fp16(model, tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "metrics.json", metrics)
        man = manifest("base-ner", tmp, config.model_dump(mode="json"), files, cfg.base_model)
        write_json(tmp / "manifest.json", man)
        (tmp / "README.md").write_text(_card(man, metrics, files), encoding="utf-8")
        share_permissions(tmp)
    return metrics


def _card(man: dict[str, Any], metrics: dict[str, Any], files: Sequence[Path]) -> str:
    from train.report import scores_table_md

    t = metrics["training"]
    rep = metrics["heldout"]
    scores = "(no held-out sentences)"
    if rep:
        rows = {k: v for k, v in rep["per_type"].items() if v["support"]}  # the corpora's types only
        rows["micro avg"] = rep["micro"]
        scores = scores_table_md(rows, "type")
    corpora = "\n".join(f"- `{f}`" for f in files)
    entities = ", ".join(f"{k} {v}" for k, v in t["entities"].items())
    return f"""# Intermediate tagger: the base encoder after general NER corpora

Version `{man['version']}`, made {man['created_utc']} from `{man['base_model']}`.

A token classifier with this project's labels (labels/label_config.xml), trained on public
NER corpora whose labels were mapped to ours (`train.corpora.LABEL_MAPS`, e.g. CLUENER
name -> PER, government/organization/company -> ORG, address -> LOC). The domain tagger
starts from it (`tagger.base_model` in configs/train.yaml): people, places and
organizations are far more frequent here than in a few hundred policy paragraphs.
Labels that the corpora lack (POLICY, PROGRAM, metrics) are learned from the domain data.

Command: `{' '.join(metrics['command']) or 'train.auxiliary.train_intermediate'}`

## Data

{corpora}

{t['sentences']} sentences ({t['windows']} windows); entities {entities}.
{t['epochs']:g} epoch(s), {t['steps']} steps, {t['minutes']} min, mean training loss {t['training_loss']}.

## Held-out figures ({metrics['heldout_sentences']} sentences of the same corpora, never trained on)

{scores}

Strict entity F1 (seqeval IOB2 over characters), Viterbi decoding.

## Files

`model.safetensors` (fp16; config.json says float32, so it loads upcast for fine-tuning),
`config.json` (label maps in `id2label`), the tokenizer, `metrics.json`, `manifest.json`
(corpus hashes, config, package versions, git commit `{man['git_sha']}`).
"""
