"""Auxiliary-corpus stage: config checks, corpus files, a real run on CLUENER with a tiny base."""

from __future__ import annotations

import json
import logging
import tempfile

import pytest
import torch
import yaml

from conftest import ROOT, SHARED
from train.auxiliary import auxiliary_examples, corpus_files
from train.config import AuxiliaryConfig, TaggerConfig, TrainConfig, load_config, parse_config
from train.dataset import bio_labels, tagger_dataset, tagger_features
from train.errors import InputError
from train.auxiliary import auxiliary_stage
from train.tagger import token_classifier

CLUENER = SHARED / "corpora" / "cluener2020"


def aux(**section) -> AuxiliaryConfig:
    return parse_config({"auxiliary": section}, "t.yaml").auxiliary


def test_off_without_a_config_and_then_the_model_comes_back_untouched():
    """Off unless a config turns it on (configs/intermediate.yaml runs it once, for models/base-ner)."""
    assert TrainConfig().auxiliary.enabled is False
    assert load_config(ROOT / "configs" / "intermediate.yaml").auxiliary.enabled is True
    model = torch.nn.Linear(2, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    off = aux(corpora=[{"path": "/nowhere", "format": "cluener"}])  # not read while off
    assert auxiliary_stage(model, None, off, TaggerConfig()) is model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unknown_format_and_foreign_labels_name_the_config_key():
    with pytest.raises(InputError, match=r"^t\.yaml: auxiliary\.corpora\.0\.format: .*unknown format 'clue'"):
        aux(corpora=[{"path": "x", "format": "clue"}])
    with pytest.raises(InputError, match=r"auxiliary\.corpora\.1\.label_map: .*'name: PERSON'.*label_config\.xml"):
        aux(corpora=[{"path": "x", "format": "msra"}, {"path": "x", "format": "cluener", "label_map": {"name": "PERSON"}}])
    with pytest.raises(InputError, match=r"auxiliary\.corpora\.0: .*format 'cluener_full' maps to address"):
        aux(corpora=[{"path": "x", "format": "cluener_full"}])
    with pytest.raises(InputError, match=r"unknown key 'auxiliary\.corpora\.0\.preset'"):
        aux(corpora=[{"path": "x", "format": "cluener", "preset": "cluener"}])


def test_label_map_overrides_the_preset():
    corpus = aux(corpora=[{"path": "x", "format": "cluener", "label_map": {"address": None, "scene": "LOC"}}]).corpora[0]
    assert corpus.effective_label_map() == {
        "name": "PER", "government": "ORG", "organization": "ORG", "company": "ORG", "scene": "LOC",
    }


def test_a_dir_means_its_corpus_files_without_test_splits(tmp_path):
    assert [p.name for p in corpus_files(CLUENER)] == ["dev.jsonl", "train.jsonl"]
    assert [p.name for p in corpus_files(CLUENER / "test.jsonl")] == ["test.jsonl"]  # named: used
    assert [p.name for p in corpus_files(SHARED / "corpora" / "weibo_ner")] == ["weiboNER_2nd_conll.dev", "weiboNER_2nd_conll.train"]
    with pytest.raises(InputError, match=r"auxiliary\.corpora\.3\.path: .*no such file"):
        corpus_files(tmp_path / "missing", "auxiliary.corpora.3")
    (tmp_path / "README.md").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"no corpus files"):
        corpus_files(tmp_path)


def test_sample_is_capped_seeded_and_mapped():
    cfg = aux(enabled=True, max_examples=150, corpora=[
        {"path": str(CLUENER / "dev.jsonl"), "format": "cluener"},
        {"path": str(SHARED / "corpora" / "msra_ner" / "test.bio.tsv"), "format": "msra"},
    ])
    a, b, c = (auxiliary_examples(cfg, seed) for seed in (1, 1, 2))
    assert len(a) == 150 and [e.text for e in a] == [e.text for e in b] != [e.text for e in c]
    assert {e.source for e in a} == {"aux0-cluener", "aux1-msra"}
    assert {s.label for e in a for s in e.spans} == {"PER", "ORG", "LOC", "EDU"}  # schools named as ORG become EDU
    assert "EDU" not in {s.label for e in auxiliary_examples(cfg, 1, {"PER", "ORG", "LOC"}) for s in e.spans}
    with pytest.raises(InputError, match=r"auxiliary\.corpora\.0\.label_map: the tagger has no label LOC"):
        auxiliary_examples(cfg, 1, {"PER", "ORG"})


def _mean_loss(model, examples, tokenizer, label2id) -> float:
    windows, labels = tagger_features(examples, tokenizer, label2id, 64, 16)
    ds = tagger_dataset(windows, labels, tokenizer)
    model.eval()
    losses = []
    with torch.no_grad():
        for row in ds:
            batch = {k: torch.tensor([v]) for k, v in row.items()}
            losses.append(model(**batch).loss.item())
    return sum(losses) / len(losses)


def test_stage_trains_the_tagger_on_cluener_and_leaves_no_files(tiny_base, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the stage's work dir goes
    model = token_classifier(str(tiny_base), bio_labels())
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = aux(enabled=True, epochs=1, max_examples=200, corpora=[{"path": str(CLUENER / "train.jsonl"), "format": "cluener"}])
    tagger = TaggerConfig(max_length=64, stride=16, batch_size=16, learning_rate=3e-3, logging_steps=5)
    held = auxiliary_examples(cfg.model_copy(update={"max_examples": 30}), seed=7)
    loss_before = _mean_loss(model, held, tokenizer, model.config.label2id)

    trained = auxiliary_stage(model, tokenizer, cfg, tagger)

    after = trained.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k].cpu())]
    assert "classifier.weight" in changed and any(k.startswith("bert.encoder.") for k in changed)
    assert _mean_loss(trained, held, tokenizer, trained.config.label2id) < loss_before
    assert list(tmp_path.iterdir()) == []  # the work dir is gone


def test_train_tagger_runs_the_stage_and_writes_only_the_tagger_dir(tiny_base, tmp_path, caplog):
    from fixtures_models import TINY_TRAIN_YAML, slice_exports
    from train.dataset import training_data
    from train.labelstudio import read_exports
    from train.tagger import train_tagger

    data = slice_exports(tmp_path / "slice.json", articles=2)
    text = TINY_TRAIN_YAML.format(base=tiny_base).replace("epochs: 3", "epochs: 1")
    text += f"auxiliary:\n  enabled: true\n  max_examples: 50\n  corpora:\n    - {{path: {CLUENER / 'dev.jsonl'}, format: cluener}}\n"
    config = parse_config(yaml.safe_load(text))
    split = training_data(read_exports([data]).examples, [data], 0.5, 13)
    out = tmp_path / "models"
    caplog.set_level(logging.INFO, logger="train")
    train_tagger(split, config, out)
    assert "auxiliary: 50 sentences" in caplog.text and "tagger: epoch 1/1" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == ["tagger"]
    manifest = json.loads((out / "tagger" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["auxiliary"]["enabled"] is True
