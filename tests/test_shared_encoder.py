"""One encoder, two heads (``shared_encoder: true``): one training run writes the usual two
model dirs with the same encoder weights, and predict runs that encoder once per window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from fixtures_models import TINY_MODELS_YAML, slice_exports
from train.cli import app
from train.config import parse_config
from train.errors import InputError
from train.predict import Models
from train.text import read_article, split_article

ROOT = Path(__file__).resolve().parent.parent
SEED_ARTICLE = sorted((ROOT / "seeds" / "articles").glob("*.txt"))[0]


@pytest.fixture(scope="module")
def shared_models(tiny_base, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("shared")
    data = slice_exports(work / "slice.json")
    config = work / "train.yaml"
    config.write_text(TINY_MODELS_YAML.format(base=tiny_base) + "shared_encoder: true\n", encoding="utf-8")
    out = work / "models"
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def _encoder(model_dir: Path) -> dict[str, torch.Tensor]:
    weights = load_file(str(model_dir / "model.safetensors"))
    return {k: v for k, v in weights.items() if k.startswith("bert.") and ".pooler." not in k}


def test_one_run_writes_both_model_dirs_with_one_encoder(shared_models, tiny_base):
    tagger, classifier = _encoder(shared_models / "tagger"), _encoder(shared_models / "classifier")
    assert tagger.keys() == classifier.keys() and len(tagger) > 10
    assert all(torch.equal(tagger[k], classifier[k]) for k in tagger)
    base = load_file(str(tiny_base / "model.safetensors"))
    assert not torch.equal(tagger["bert.embeddings.word_embeddings.weight"], base["bert.embeddings.word_embeddings.weight"].float())
    for kind in ("tagger", "classifier"):
        metrics = json.loads((shared_models / kind / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["shared_encoder"] is True
        evals = [h for h in metrics["training"]["log_history"] if "eval_f1" in h]
        assert evals and all({"eval_entity_f1", "eval_class_f1"} <= h.keys() for h in evals)
    assert (shared_models / "classifier" / "thresholds.json").exists()


def test_predict_runs_the_encoder_once_and_agrees_with_two_passes(shared_models):
    models = Models.load(shared_models)
    assert models.shared
    tagger_encoder = models.tagger.model.bert.encoder
    assert models.classifier.model.bert.encoder is tagger_encoder  # one copy in memory
    texts = [p.text for p in split_article(read_article(SEED_ARTICLE))]
    assert len(texts) > 5

    rows: list[int] = []
    hook = tagger_encoder.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    try:
        ents, probs = models.predict(texts, batch_size=8)
        once = sum(rows)
        rows.clear()
        apart_ents = models.tagger.predict(texts, batch_size=8)
        apart_probs = models.classifier.predict(texts, batch_size=8)
        twice = sum(rows)
    finally:
        hook.remove()
    assert once < twice and twice - once == len(texts)  # the classifier's pass is the one saved
    assert ents == apart_ents and any(ents)
    for a, b in zip(probs, apart_probs):
        assert a.keys() == b.keys() and all(abs(a[c] - b[c]) <= 2e-4 for c in a)


def test_int8_keeps_one_shared_encoder(shared_models):
    models = Models.load(shared_models, precision="int8")
    assert models.shared and models.classifier.model.bert.encoder is models.tagger.model.bert.encoder
    ents, probs = models.predict([p.text for p in split_article(read_article(SEED_ARTICLE))][:4])
    assert len(ents) == len(probs) == 4 and all(set(p) == set(models.classifier.classes) for p in probs)


def test_separately_trained_models_are_not_taken_for_shared(tiny_models):
    assert not Models.load(tiny_models.root).shared


def test_shared_encoder_needs_one_base():
    with pytest.raises(InputError, match=r"train.yaml: shared_encoder: tagger.base_model .* differ"):
        parse_config(
            {"tagger": {"base_model": "a/b"}, "classifier": {"base_model": "c/d"}, "shared_encoder": True}, "train.yaml"
        )


def test_shared_encoder_needs_one_depth():
    with pytest.raises(InputError, match=r"train.yaml: shared_encoder: tagger.layers \(6\) and classifier.layers \(None\) differ"):
        parse_config({"tagger": {"layers": 6}, "shared_encoder": True}, "train.yaml")
