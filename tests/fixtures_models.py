"""Fixtures: tiny real models, built and trained once per session.

* ``tiny_base``: a randomly initialized 2-layer BertForMaskedLM with the
  bert-base-chinese vocabulary, saved like the committed base (fp16 weights, config, tokenizer).
* ``tiny_models``: a tagger and a classifier fine-tuned from it by ``talent-tagger train``
  on a slice of seeds/annotations (the five seed articles and three written ones), both
  under one models dir (``tiny_models.root``), so ``--models tiny_models.root`` works.
  The tagger trains 25 epochs (both models in under 20 s on one core): enough to find
  many gold entities of the seed articles again (place names, numbers with units), so
  predict tests can check real entities, offsets and metric values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT.parent / "shared" / "vocab" / "bert-base-chinese-vocab.txt"
ANNOTATIONS = ROOT / "seeds" / "annotations"

_TINY_CLASSIFIER_AND_SPLIT = """\
classifier:
  base_model: {base}
  max_length: 64
  epochs: 2
  batch_size: 16
  learning_rate: 1.0e-3
  early_stopping_patience: 2
  logging_steps: 2
split:
  eval_fraction: 0.25
  seed: 13
"""

TINY_TRAIN_YAML = """\
tagger:
  base_model: {base}
  max_length: 64
  stride: 16
  epochs: 3
  batch_size: 4
  learning_rate: 3.0e-3
  early_stopping_patience: 2
  logging_steps: 2
""" + _TINY_CLASSIFIER_AND_SPLIT


# tiny_models: the tagger learns (25 epochs, no early stopping); the classifier stays a few steps.
TINY_MODELS_YAML = """\
tagger:
  base_model: {base}
  max_length: 64
  stride: 16
  epochs: 25
  batch_size: 8
  learning_rate: 5.0e-3
  early_stopping_patience: 100
  logging_steps: 10
""" + _TINY_CLASSIFIER_AND_SPLIT


def build_tiny_bert(path: Path, max_positions: int = 128) -> Path:
    """Save a random tiny BERT masked LM and the bert-base-chinese tokenizer at ``path``."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    tokenizer = BertTokenizerFast(vocab=str(VOCAB))  # transformers 5 ignores vocab_file=
    assert len(tokenizer) == 21128 and tokenizer.unk_token_id == 100
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).half().save_pretrained(path)  # fp16, like the committed base
    tokenizer.model_max_length = max_positions
    tokenizer.save_pretrained(path)
    return path


# The slice's first written articles are pinned: the tiny models' article split, and so the
# seed entities the tests expect them to find, must not move when written files are added.
SLICE_WRITTEN_FIRST = ("w-e-001", "w-e-002", "w-e-003")


def slice_exports(out: Path, articles: int = 8) -> Path:
    """One export with every task of the first ``articles`` articles of seeds/annotations.

    Order: the real seed articles (sorted ids), then ``SLICE_WRITTEN_FIRST``, then the other
    written articles (sorted ids).
    """
    tasks = [t for p in sorted(ANNOTATIONS.glob("*.json")) for t in json.loads(p.read_text(encoding="utf-8"))]
    if not tasks:
        raise FileNotFoundError(f"{ANNOTATIONS}: no exports (run `make gold`)")
    ids = {t["data"]["article_id"]: t["data"].get("source") == "written" for t in tasks}
    real = sorted(a for a, written in ids.items() if not written)
    pinned = [a for a in SLICE_WRITTEN_FIRST if a in ids]
    rest = sorted(a for a, written in ids.items() if written and a not in pinned)
    keep = set((real + pinned + rest)[:articles])
    out.write_text(json.dumps([t for t in tasks if t["data"]["article_id"] in keep], ensure_ascii=False), encoding="utf-8")
    return out


@dataclass(frozen=True)
class TinyModels:
    root: Path  # the models dir: root/tagger, root/classifier
    tagger: Path
    classifier: Path
    data: Path  # the export they were trained on
    config: Path


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_base"))


@pytest.fixture(scope="session")
def tiny_models(tiny_base, tmp_path_factory) -> TinyModels:
    from typer.testing import CliRunner

    from train.cli import app

    work = tmp_path_factory.mktemp("tiny_models")
    data = slice_exports(work / "slice.json")
    config = work / "train.yaml"
    config.write_text(TINY_MODELS_YAML.format(base=tiny_base), encoding="utf-8")
    root = work / "models"
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(root)])
    if result.exit_code != 0:
        raise RuntimeError(f"tiny training failed ({result.exit_code}): {result.output}") from result.exception
    return TinyModels(root, root / "tagger", root / "classifier", data, config)
