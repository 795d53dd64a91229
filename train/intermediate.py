"""The intermediate tagger (``models/base-ner``): the base encoder after the public NER corpora.

Built once by `talent-tagger intermediate`, then named as ``tagger.base_model``; the
corpora stage itself is :func:`train.auxiliary.run_stage`, shared with in-line training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from train.auxiliary import corpus_files, run_stage
from train.config import TrainConfig
from train.modeldir import write_model
from train.tagger import Tagger, entity_report, token_classifier


def train_intermediate(config: TrainConfig, out: Path, heldout: int = 1000, command: Sequence[str] = ()) -> dict[str, Any]:
    """An intermediate tagger (``models/base-ner``): the base encoder after the auxiliary corpora.

    On all of CLUENER and MSRA the stage takes longer than the domain training on a CPU,
    so it runs once here and ``tagger.base_model`` points at the result; the domain training then
    starts from it (same labels: the head is kept). ``heldout`` sentences of the
    corpora are scored (entity micro F1) and never trained on.
    """
    from transformers import set_seed

    from train.dataset import bio_labels
    from train.runtime import base_encoder, save_fp16

    cfg = config.tagger
    base, tokenizer = base_encoder(cfg.base_model)
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
    write_model(
        out, "base-ner", model, tokenizer, metrics, config, files, cfg.base_model,
        card=lambda man: _card(man, metrics, files), save=save_fp16,
    )  # fmt: skip
    return metrics


def _card(man: dict[str, Any], metrics: dict[str, Any], files: Sequence[Path]) -> str:
    from train.cards import scores_table_md

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

Command: `{' '.join(metrics['command']) or 'train.intermediate.train_intermediate'}`

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
