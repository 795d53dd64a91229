"""The intermediate tagger (models/base-ner): general NER corpora once, then the domain tagger starts from it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from conftest import ROOT, SHARED
from train.config import load_config
from train.dataset import bio_labels
from train.runtime import from_base

CLUENER_DEV = SHARED / "corpora" / "cluener2020" / "dev.jsonl"
LABELS = bio_labels()
OURS = {"num_labels": len(LABELS), "id2label": dict(enumerate(LABELS)), "label2id": {l: i for i, l in enumerate(LABELS)}}


@pytest.fixture(scope="module")
def intermediate(tiny_base, tmp_path_factory):
    """A real run of the command on 80 CLUENER dev sentences (20 held out) with the tiny base."""
    work = tmp_path_factory.mktemp("intermediate")
    config = work / "intermediate.yaml"
    config.write_text(
        f"tagger:\n  base_model: {tiny_base}\n  max_length: 64\n  stride: 16\n  batch_size: 16\n"
        f"  learning_rate: 3.0e-3\n  logging_steps: 2\n"
        f"auxiliary:\n  enabled: true\n  epochs: 2\n  max_examples: 80\n"
        f"  corpora:\n    - {{path: {CLUENER_DEV}, format: cluener}}\n",
        encoding="utf-8",
    )
    out = work / "base-ner"
    proc = subprocess.run(
        [sys.executable, "-c", "from train.cli import main; main()", "intermediate", "--config", str(config), "--out", str(out), "--heldout", "20"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, proc.stderr


def test_the_command_writes_a_complete_model_dir_scored_on_held_out_sentences(intermediate):
    out, stderr = intermediate
    assert {"config.json", "model.safetensors", "tokenizer.json", "metrics.json", "manifest.json", "README.md"} <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["heldout_sentences"] == 20 and metrics["training"]["sentences"] == 60
    assert metrics["heldout"]["micro"]["support"] > 0
    assert "held-out entity micro F1" in stderr and "60 sentences" in stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "base-ner" and list(manifest["data"]["files"]) == [str(CLUENER_DEV)]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "talent-tagger intermediate --config" in card and str(CLUENER_DEV) in card


def test_weights_are_fp16_and_load_as_fp32_for_fine_tuning(intermediate):
    out, _ = intermediate
    with safe_open(out / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    assert json.loads((out / "config.json").read_text(encoding="utf-8"))["dtype"] == "float32"


def _head(model) -> torch.Tensor:
    return model.classifier.weight.detach().clone()


def test_a_tagger_with_the_same_labels_keeps_the_trained_head(intermediate, tiny_base):
    from transformers import AutoModelForTokenClassification

    out, _ = intermediate
    started = from_base(AutoModelForTokenClassification, str(out), **OURS)
    with safe_open(out / "model.safetensors", "pt") as f:
        saved = f.get_tensor("classifier.weight").float()
    assert torch.equal(_head(started), saved)
    assert started.config.id2label == OURS["id2label"]


def test_other_labels_get_a_fresh_head_and_the_classifier_its_own(intermediate):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    out, _ = intermediate
    with safe_open(out / "model.safetensors", "pt") as f:
        saved = f.get_tensor("classifier.weight").float()
    renamed = [l.replace("PER", "PERSON") for l in LABELS]  # same size, other labels: the head must not carry over
    other = from_base(
        AutoModelForTokenClassification, str(out), num_labels=len(renamed),
        id2label=dict(enumerate(renamed)), label2id={l: i for i, l in enumerate(renamed)},
    )
    assert not torch.equal(_head(other), saved)
    assert torch.equal(other.bert.embeddings.word_embeddings.weight, from_base(AutoModelForTokenClassification, str(out), **OURS).bert.embeddings.word_embeddings.weight)
    clf = from_base(AutoModelForSequenceClassification, str(out), num_labels=3, problem_type="multi_label_classification")
    assert _head(clf).shape == (3, clf.config.hidden_size)


def test_the_committed_intermediate_model_is_what_the_intermediate_config_makes():
    """models/base-ner: the 8-layer base after the public NER corpora (no longer make train's default)."""
    inter = load_config(ROOT / "configs" / "intermediate.yaml")
    assert inter.tagger.base_model == str(ROOT / "models" / "base") and inter.auxiliary.corpora
    base_ner = ROOT / "models" / "base-ner"
    metrics = json.loads((base_ner / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["command"][:2] == ["talent-tagger", "intermediate"]
    assert json.loads((base_ner / "config.json").read_text(encoding="utf-8"))["id2label"] == {str(k): v for k, v in OURS["id2label"].items()}
    assert (base_ner / "model.safetensors").stat().st_size < 40e6


def test_a_config_without_corpora_is_a_one_line_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("auxiliary:\n  enabled: true\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", "from train.cli import main; main()", "intermediate", "--config", str(config), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "auxiliary.corpora" in proc.stderr
    assert not (tmp_path / "o").exists()
