"""End to end on a tiny random BERT: train both models, check the model dirs, load, predict, evaluate."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from train.classifier import Classifier
from train.cli import app
from train.labelstudio import load_schema, read_export
from train.tagger import Entity, Tagger

pytestmark = pytest.mark.slow

COMMON = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "metrics.json", "manifest.json", "README.md", "training_curves.png"}


def flat(report: dict, prefix: str = "") -> dict[str, float]:
    """A nested report as {"per_type.LOC.f1": 0.5, ...} (pytest.approx compares flat mappings)."""
    out = {}
    for k, v in report.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize("kind", ["tagger", "classifier"])
def test_model_dirs_have_every_file(tiny_models, kind):
    d = getattr(tiny_models, kind)
    files = {p.name for p in d.iterdir()}
    assert COMMON <= files
    assert ("thresholds.json" in files) == (kind == "classifier")
    assert not [p for p in tiny_models.root.iterdir() if p.name.startswith(".")]  # no temp or checkpoint dirs left
    man = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    assert man["version"].startswith(f"{kind}-") and len(man["version"].split("-")[-1]) == 8
    assert man["data"]["files"] == {str(tiny_models.data): man["data"]["files"][str(tiny_models.data)]}
    assert len(man["label_config_sha256"]) == 64 and man["config"][kind]["max_length"] == 64
    assert {"torch", "transformers", "python"} <= set(man["packages"])
    assert man["created_utc"].endswith("+00:00")
    card = (d / "README.md").read_text(encoding="utf-8")
    assert man["version"] in card and "training_curves.png" in card and "micro avg" in card
    assert (d / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_label_maps_and_metrics(tiny_models):
    schema = load_schema()
    tagger_cfg = json.loads((tiny_models.tagger / "config.json").read_text(encoding="utf-8"))
    assert tagger_cfg["id2label"]["0"] == "O" and len(tagger_cfg["id2label"]) == 1 + 2 * len(schema.span_labels)
    clf_cfg = json.loads((tiny_models.classifier / "config.json").read_text(encoding="utf-8"))
    assert tagger_cfg["dtype"] == clf_cfg["dtype"] == "float32"  # trained in fp32 from the fp16 base
    assert list(clf_cfg["id2label"].values()) == list(schema.classes)
    assert clf_cfg["problem_type"] == "multi_label_classification"
    tm = json.loads((tiny_models.tagger / "metrics.json").read_text(encoding="utf-8"))
    assert set(tm["validation"]["per_type"]) == set(schema.span_labels)
    assert tm["data"]["validation_articles"] >= 1 and tm["data"]["train_articles"] >= 1
    all_ids = {ex.article_id for ex in read_export(tiny_models.data).examples}
    assert set(tm["data"]["validation_article_ids"]) < all_ids
    assert len(tm["data"]["validation_article_ids"]) == tm["data"]["validation_articles"]
    assert tm["alignment"]["spans"] > 0
    cm = json.loads((tiny_models.classifier / "metrics.json").read_text(encoding="utf-8"))
    thresholds = json.loads((tiny_models.classifier / "thresholds.json").read_text(encoding="utf-8"))
    assert set(thresholds) == set(schema.classes) and all(0 < t < 1 for t in thresholds.values())
    assert {c: r["threshold"] for c, r in cm["validation"]["per_class"].items()} == thresholds


def test_models_load_and_predict(tiny_models):
    tagger = Tagger.load(tiny_models.tagger)
    clf = Classifier.load(tiny_models.classifier, device="cpu")
    long = "济南市人社局引进3000人，发放补贴8500万元。" * 20  # several windows
    texts = ["", "北京19所高校来济考察", long, "引进人才4.3万人"]
    ents = tagger.predict(texts, batch_size=2)
    assert len(ents) == len(texts) and ents[0] == []
    for text, found in zip(texts, ents):
        for e in found:
            assert isinstance(e, Entity) and 0 <= e.start < e.end <= len(text) and 0 < e.score <= 1
            assert e.label in load_schema().span_labels
        assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    # Sorting by length inside predict does not change what each text gets.
    alone = [tagger.predict([t])[0] for t in texts]
    assert [[(e.start, e.end, e.label) for e in x] for x in alone] == [[(e.start, e.end, e.label) for e in x] for x in ents]
    probs = clf.predict(texts)
    assert [list(p) for p in probs] == [clf.classes] * len(texts)
    assert all(0 <= v <= 1 for p in probs for v in p.values())
    assert set(clf.thresholds) == set(clf.classes)


def test_evaluate_reproduces_the_validation_figures(tiny_models, tmp_path):
    tm = json.loads((tiny_models.tagger / "metrics.json").read_text(encoding="utf-8"))
    cm = json.loads((tiny_models.classifier / "metrics.json").read_text(encoding="utf-8"))
    held = set(tm["data"]["validation_article_ids"])
    tasks = json.loads(tiny_models.data.read_text(encoding="utf-8"))
    val = tmp_path / "validation.json"
    val.write_text(json.dumps([t for t in tasks if t["data"]["article_id"] in held], ensure_ascii=False), encoding="utf-8")
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["evaluate", "--data", str(val), "--models", str(tiny_models.root), "-o", str(report)])
    assert result.exit_code == 0, result.output
    assert "micro avg" in result.output and "ATTRACT" in result.output and "TALENT_NUM" in result.output
    got = json.loads(report.read_text(encoding="utf-8"))
    assert flat(got["tagger"]) == pytest.approx(flat(tm["validation"]))
    assert flat(got["classifier"]) == pytest.approx(flat(cm["validation"]), abs=1e-6)
    assert got["models"]["tagger"]["version"] == json.loads((tiny_models.tagger / "manifest.json").read_text())["version"]


def test_train_reports_skipped_tasks_and_bad_data(tiny_base, tmp_path):
    export = tmp_path / "one_article.json"
    export.write_text(json.dumps([{"id": 1, "data": {"text": "没有标注", "article_id": "a"}, "annotations": []}]), encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--data", str(export), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0 and "skipped 1 tasks (no annotation (or all cancelled): 1)" in result.output
    assert "no annotated tasks" in str(result.exception)
    assert not (tmp_path / "m").exists()


def test_torchrun_two_processes_train_and_write_once(tiny_base, tmp_path):
    """Data-parallel over two CPU processes (gloo): one set of outputs, one log, no scratch left."""
    import subprocess
    import sys
    from pathlib import Path

    from fixtures_models import TINY_TRAIN_YAML, slice_exports

    torchrun = Path(sys.executable).with_name("torchrun")
    tagger_cli = Path(sys.executable).with_name("talent-tagger")
    if not torchrun.exists() or not tagger_cli.exists():
        pytest.fail(f"torchrun or talent-tagger missing beside {sys.executable}")
    data = slice_exports(tmp_path / "slice.json", articles=4)
    config = tmp_path / "train.yaml"
    config.write_text(
        TINY_TRAIN_YAML.format(base=tiny_base).replace("epochs: 3", "epochs: 1") + "augment:\n  place_copies: 1\n", encoding="utf-8"
    )
    out = tmp_path / "models"
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", str(tagger_cli), "train", "--config", str(config), "--data", str(data), "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("wrote ") == 1 and proc.stderr.count("split by article") == 1
    assert sorted(p.name for p in out.iterdir()) == ["classifier", "current", "runs", "tagger"]
    assert len(list((out / "runs").iterdir())) == 1  # the published run; no staging dir of either rank
    assert Tagger.load(out / "tagger").predict(["引进人才3000人"])[0] is not None
    assert Classifier.load(out / "classifier").predict(["引进人才"])[0].keys() == set(load_schema().classes)
    data_info = json.loads((out / "tagger" / "metrics.json").read_text(encoding="utf-8"))["data"]
    assert data_info["place_swapped_copies"] > 0  # place swapping ran (once, before the ranks split the batches)


def test_a_base_whose_weights_do_not_fit_is_an_error(tiny_base, tmp_path):
    """Weights under another prefix would leave a random encoder: refuse, name the base."""
    import shutil

    from safetensors.torch import load_file, save_file

    from fixtures_models import TINY_TRAIN_YAML, slice_exports

    bad = tmp_path / "bad_base"
    shutil.copytree(tiny_base, bad)
    weights = load_file(bad / "model.safetensors")
    save_file({k.replace("bert.", "encoder_x.", 1): v for k, v in weights.items()}, bad / "model.safetensors", metadata={"format": "pt"})
    config = tmp_path / "train.yaml"
    config.write_text(TINY_TRAIN_YAML.format(base=bad), encoding="utf-8")
    data = slice_exports(tmp_path / "slice.json", articles=3)
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0
    assert str(result.exception).startswith(f"{bad}: base model lacks") and "bert.embeddings" in str(result.exception)
    assert not (tmp_path / "m" / "tagger").exists()


@pytest.mark.parametrize("kind", ["tagger", "classifier"])
def test_layers_keeps_the_bases_first_layers_and_saves_that_depth(tiny_base, tmp_path, kind):
    """layers: 1 of the 2-layer base: the first layer's weights as they were, the second gone, and
    the saved model reloads with one layer (no config flag needed to read it back)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    from train.classifier import sequence_classifier
    from train.errors import InputError
    from train.tagger import token_classifier

    make = token_classifier if kind == "tagger" else sequence_classifier
    names = list(load_schema().span_labels if kind == "tagger" else load_schema().classes)
    model = make(str(tiny_base), names, 1)
    base = load_file(tiny_base / "model.safetensors")
    assert len(model.bert.encoder.layer) == model.config.num_hidden_layers == 1
    for name, value in model.bert.encoder.layer[0].state_dict().items():
        assert torch.equal(value, base[f"bert.encoder.layer.0.{name}"].float()), name
    model.save_pretrained(tmp_path / "m")
    assert len(AutoModel.from_pretrained(tmp_path / "m").encoder.layer) == 1
    with pytest.raises(InputError, match=rf"^{tiny_base}: layers 3 asked for, the base has 2$"):
        make(str(tiny_base), names, 3)


def test_new_head_and_pooler_learn_at_head_learning_rate(tmp_path):
    """The encoder keeps the base rate; parameters the base lacks get head_learning_rate."""
    from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

    from train.runtime import OrderedEvalTrainer

    model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-4, report_to="none", use_cpu=True)
    trainer = OrderedEvalTrainer(model=model, args=args, head_learning_rate=3e-3)
    opt = trainer.create_optimizer()
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == 3e-3 and lr_of[id(named["bert.pooler.dense.weight"])] == 3e-3
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == 1e-4
    assert len(lr_of) == len(named)  # every parameter in exactly one group
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decay[id(named["classifier.bias"])] == 0.0  # the Trainer's no-decay rule survives the split


def test_quiet_keeps_stderr_to_warnings_and_train_log_whole(tiny_base, tmp_path):
    import subprocess
    import sys

    from fixtures_models import TINY_TRAIN_YAML, slice_exports

    data = slice_exports(tmp_path / "slice.json", articles=3)
    config = tmp_path / "train.yaml"
    config.write_text(TINY_TRAIN_YAML.format(base=tiny_base).replace("epochs: 3", "epochs: 1").replace("epochs: 2", "epochs: 1"), encoding="utf-8")
    cmd = [sys.executable, "-c", "from train.cli import main; main()", "train", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "m"), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1" not in proc.stderr and "wrote" not in proc.stderr
    log = (tmp_path / "m" / "current" / "train.log").read_text(encoding="utf-8")
    assert "tagger: epoch 1/1" in log and "classifier: epoch 1/1" in log and "split by article" in log


def test_negatives_join_the_classifiers_training_only_and_are_recorded(tiny_base, tmp_path):
    """classifier.negatives: paragraphs with no class on the classifier's training side only; a file
    that cannot be read stops `train` before any training, with one line and nothing written."""
    from fixtures_models import TINY_TRAIN_YAML, slice_exports

    data = slice_exports(tmp_path / "slice.json", articles=3)
    (tmp_path / "no_class.txt").write_text("市人大常委会任命张明为副市长。\n今年前三季度全市地区生产总值增长5.2%。\n", encoding="utf-8")
    tiny = TINY_TRAIN_YAML.format(base=tiny_base).replace("tagger:\n", "tagger:\n  max_steps: 1\n")
    config = tmp_path / "train.yaml"
    config.write_text(tiny.replace("classifier:\n", "classifier:\n  negatives: missing.txt\n  max_steps: 1\n"), encoding="utf-8")
    out = tmp_path / "m"
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(out)])
    assert result.exit_code != 0 and "missing.txt: cannot read" in str(result.exception)
    assert "split by article" in result.output and "tagger: " not in result.output and not out.exists()
    config.write_text(tiny.replace("classifier:\n", "classifier:\n  negatives: no_class.txt\n  max_steps: 1\n"), encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    tm, cm = (json.loads((out / kind / "metrics.json").read_text(encoding="utf-8")) for kind in ("tagger", "classifier"))
    assert cm["data"]["negative_examples"] == 2 and "negative_examples" not in tm["data"]
    assert cm["data"]["validation_examples"] == tm["data"]["validation_examples"]  # never in validation
    manifest = json.loads((out / "classifier" / "manifest.json").read_text(encoding="utf-8"))
    assert str(tmp_path / "no_class.txt") in manifest["data"]["files"]
    assert "Plus 2 training paragraphs of no class" in (out / "classifier" / "README.md").read_text(encoding="utf-8")


def _saved_head(tagger_dir):
    from safetensors import safe_open

    with safe_open(tagger_dir / "model.safetensors", "pt") as f:
        return f.get_tensor("classifier.weight").float()


def test_a_trained_tagger_as_base_keeps_its_head_for_the_same_labels(tiny_models):
    """Going on from an earlier run's tagger: its head is trained, so it carries over."""
    import torch

    from train.dataset import bio_labels
    from train.tagger import token_classifier

    started = token_classifier(str(tiny_models.tagger), bio_labels())
    assert torch.equal(started.classifier.weight.detach(), _saved_head(tiny_models.tagger))


def test_a_trained_tagger_as_base_for_other_labels_or_a_classifier_gets_a_fresh_head(tiny_models):
    import torch

    from train.classifier import sequence_classifier
    from train.dataset import bio_labels
    from train.tagger import token_classifier

    renamed = [l.replace("PER", "PERSON") for l in bio_labels()]  # same size, other labels
    other = token_classifier(str(tiny_models.tagger), renamed)
    assert not torch.equal(other.classifier.weight.detach(), _saved_head(tiny_models.tagger))
    clf = sequence_classifier(str(tiny_models.tagger), ["a", "b", "c"])
    assert clf.classifier.weight.shape == (3, clf.config.hidden_size)
