"""`talent-tagger pretrain`: corpus formats, a tiny real MLM run, resume, errors, and models/base."""

import json
import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
from safetensors import safe_open

from conftest import ROOT, SHARED
from train.errors import InputError
from train.config import load_pretrain_config
from train.pretrain import pack_blocks, pretrain, read_corpus, vocab_tokenizer

CORPORA = SHARED / "corpora"
VOCAB = SHARED / "vocab" / "bert-base-chinese-vocab.txt"
TINY = f"""
vocab: {VOCAB}
max_length: 64
model: {{num_hidden_layers: 1, hidden_size: 32, num_attention_heads: 2, intermediate_size: 64}}
train: {{max_steps: 20, batch_size: 8, eval_batch_size: 16, learning_rate: 1.0e-3, eval_steps: 10,
         save_steps: 10, logging_steps: 5, heldout_fraction: 0.1, heldout_max: 16}}
"""


def _head_sentences(src: Path, dst: Path, n: int) -> None:
    """The first ``n`` blank-line-separated sentences of a char-tagged file."""
    out, seen = [], 0
    for line in src.read_text(encoding="utf-8").splitlines():
        out.append(line)
        if not line.strip():
            seen += 1
            if seen == n:
                break
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """A few hundred sentences in every format of ../shared/corpora, plus a seed article."""
    d = tmp_path_factory.mktemp("corpus")
    with open(CORPORA / "cluener2020" / "train.jsonl", encoding="utf-8") as fh:
        (d / "cluener.jsonl").write_text("".join(islice(fh, 80)), encoding="utf-8")
    _head_sentences(CORPORA / "msra_ner" / "train.bio.tsv", d / "msra.bio.tsv", 80)
    _head_sentences(CORPORA / "peoples_daily_1998_partial" / "example.dev", d / "pd.dev", 40)
    _head_sentences(CORPORA / "resume_ner" / "train.char.bmes", d / "resume.char.bmes", 40)
    _head_sentences(CORPORA / "weibo_ner" / "weiboNER_2nd_conll.train", d / "weibo.train", 40)
    with open(CORPORA / "thucnews_subset" / "dev.txt", encoding="utf-8") as fh:
        (d / "headlines.txt").write_text("".join(islice(fh, 80)), encoding="utf-8")
    (d / "article.txt").write_bytes((ROOT / "seeds" / "articles" / "000_9dc7c4a870a639d6.txt").read_bytes())
    (d / "class.txt").write_text("finance\nrealty\nstocks\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_every_corpus_format_is_read_as_normalized_text(small_corpus):
    files, skipped = read_corpus([small_corpus])
    by_name = {f.path.name: f for f in files}
    assert {n: f.format for n, f in by_name.items()} == {
        "article.txt": "article",
        "cluener.jsonl": "jsonl",
        "headlines.txt": "headlines",
        "msra.bio.tsv": "char-tagged",
        "pd.dev": "char-tagged",
        "resume.char.bmes": "char-tagged",
        "weibo.train": "char-tagged",
    }
    assert skipped == [f"{small_corpus / 'class.txt'}: no Chinese text, skipped"]
    assert len(by_name["msra.bio.tsv"].units) == 80 and len(by_name["headlines.txt"].units) == 80
    assert by_name["headlines.txt"].units[0] == "体验2D巅峰 倚天屠龙记十大创新概览"  # no class id
    assert by_name["weibo.train"].units[0].startswith("科技全方位资讯智能")  # Weibo's position digits gone
    assert by_name["resume.char.bmes"].units[0] == "高勇：男，中国国籍，无境外居留权，"
    # the article goes through split_article: glosses gone, simplified script, one unit a paragraph
    article = by_name["article.txt"].units
    assert article[0] == "原标题:北京19所高校来济考察 济南将与高校建立就业合作机制"
    assert len(article) == 13 and not any("(" in u and "ā" in u for u in article)


def test_char_tagged_file_with_a_bad_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.bio"
    bad.write_text("中\tO\n国\tB-LOC\n" * 60 + "\n人 民 O\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.bio:122: expected 'CHARACTER TAG'"):
        read_corpus([bad])


def test_pack_blocks_fills_blocks_and_cuts_long_units():
    import random

    blocks = list(pack_blocks([[1] * 3, [2] * 3, [3] * 10, [4] * 2], 6, 0.0, random.Random(0)))
    assert blocks == [[1, 1, 1, 2, 2, 2], [3] * 6, [3] * 4 + [4] * 2]
    # Short blocks now and then, but a short target never sticks: blocks stay mostly full.
    units = [[i] * 40 for i in range(2000)]
    blocks = list(pack_blocks(units, 254, 0.1, random.Random(0)))
    assert sum(map(len, blocks)) == 80000 and max(map(len, blocks)) <= 254
    assert sum(len(b) >= 200 for b in blocks) > 0.75 * len(blocks)
    assert any(len(b) < 200 for b in blocks)


def test_mask_accuracy_counts_only_masked_inputs_and_has_a_unigram_baseline():
    import numpy as np
    from transformers import EvalPrediction

    from train.pretrain import _mlm_metrics

    mask = 103
    labels = np.array([[-100, 7, 7, 8, 9, -100]])
    inputs = np.array([[101, mask, mask, mask, 9, 102]])  # the 9 was kept: a free copy
    preds = np.array([[-100, 7, 5, 5, 9, -100]])
    m = _mlm_metrics(EvalPrediction(predictions=preds, label_ids=labels, inputs=inputs), mask_id=mask)
    assert m == {"mlm_accuracy": 0.5, "mask_accuracy": 1 / 3, "mask_unigram_baseline": 2 / 3}


def test_cooccurrence_vectors_put_characters_of_one_kind_together(small_corpus):
    """Characters used alike (city suffixes, surnames) start close; unseen tokens stay random."""
    import torch

    from train.pretrain import init_token_embeddings, new_model

    cfg = load_pretrain_config(None)
    tok = vocab_tokenizer(VOCAB, 64)
    files, _ = read_corpus([CORPORA / "msra_ner" / "train.bio.tsv"])
    units = files[0].units[:20000]
    blocks = [ids for ids in tok(units, add_special_tokens=False)["input_ids"] if ids]
    model = new_model(cfg.model_copy(update={"max_length": 64}), tok)
    before = model.get_input_embeddings().weight.detach().clone()
    set_rows = init_token_embeddings(model, blocks)
    emb = model.get_input_embeddings().weight.detach()
    seen = {i for b in blocks for i in b}
    assert set_rows == len(seen)
    never = next(i for i in range(1000, len(tok)) if i not in seen)
    assert torch.equal(emb[never], before[never])
    assert abs(emb[sorted(seen)].norm(dim=1).mean() - before.norm(dim=1).mean()) < 0.05

    def cos(a: str, b: str) -> float:
        x, y = emb[tok.convert_tokens_to_ids(a)], emb[tok.convert_tokens_to_ids(b)]
        return float(x @ y / (x.norm() * y.norm()))

    assert cos("市", "县") > cos("市", "张") + 0.2
    assert cos("张", "王") > cos("张", "县") + 0.2
    assert cos("5", "7") > cos("5", "省") + 0.2


def test_a_block_length_that_is_no_multiple_of_64_trains(small_corpus, tmp_path):
    """Batches are padded to multiples of 64 only where that still fits the position embeddings."""
    cfg = tmp_path / "len40.yaml"
    cfg.write_text(TINY.replace("max_length: 64", "max_length: 40").replace("max_steps: 20", "max_steps: 2"), encoding="utf-8")
    result = pretrain([small_corpus / "article.txt"], tmp_path / "m", config=cfg)
    assert result.metrics["steps"] == 2 and result.metrics["max_length"] == 40
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_tokenizer_from_the_shared_vocab_is_bert_base_chinese():
    tok = vocab_tokenizer(VOCAB, 256)
    assert tok("济南市2020年引进3000人")["input_ids"] == [101, 3845, 1298, 2356, 8439, 2399, 2471, 6822, 8283, 782, 102]


def test_unknown_config_key_is_named(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("train:\n  max_stepz: 3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"p\.yaml: unknown key 'train\.max_stepz'"):
        load_pretrain_config(cfg)


def test_the_shipped_configs_are_valid_and_the_gpu_recipe_has_the_committed_bases_shape():
    for path in sorted((ROOT / "configs").glob("pretrain*.yaml")):
        load_pretrain_config(path)  # valid: heads divide the hidden size, the vocab is found
        assert Path(load_pretrain_config(path).vocab).is_file(), path
    gpu = load_pretrain_config(ROOT / "configs" / "pretrain-gpu-8l.yaml")
    base = json.loads((ROOT / "models" / "base" / "config.json").read_text(encoding="utf-8"))
    assert (gpu.model.num_hidden_layers, gpu.model.hidden_size) == (base["num_hidden_layers"], base["hidden_size"])


@pytest.mark.slow
def test_tiny_pretrain_writes_a_loadable_fp16_model_and_resumes(small_corpus, tiny_config, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    out = tmp_path / "base"
    # A first run stopped by the clock after one step: a partial model and a checkpoint.
    first = pretrain([small_corpus], out, config=tiny_config, max_minutes=0, command=["talent-tagger", "pretrain"])
    assert first.metrics["steps"] < 20 and not first.metrics["complete"]
    assert "partial" in (out / "README.md").read_text(encoding="utf-8")
    with pytest.raises(InputError, match="--resume"):
        pretrain([small_corpus], out, config=tiny_config)
    # Resume goes on to max_steps from the checkpoint, not from scratch.
    done = pretrain([small_corpus], out, config=tiny_config, resume=True, command=["talent-tagger", "pretrain", "--resume"])
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["steps"] == 20 and m["complete"] and len(m["runs"]) == 2
    assert m["runs"][1]["command"].endswith("talent-tagger pretrain --resume")
    assert 0 <= m["heldout_mlm_accuracy"] <= 1 and m["heldout_masked_tokens"] > 0
    assert 0 <= m["heldout_mask_accuracy"] <= 1 and 0 < m["heldout_mask_unigram_baseline"] <= 1
    # the history carries the first run's evaluation: the trainer state came from the checkpoint
    assert [h["step"] for h in m["eval_history"]] == [first.metrics["steps"], 10, 20]
    assert done.metrics == m
    with pytest.raises(InputError, match="the run is complete"):
        pretrain([small_corpus], out, config=tiny_config, resume=True)

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    model = AutoModelForMaskedLM.from_pretrained(out)
    assert type(model).__name__ == "BertForMaskedLM" and str(model.dtype) == "torch.float32"
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.is_fast and tok.model_max_length == 64
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "held-out MLM accuracy" in card and "msra.bio.tsv" in card and "talent-tagger pretrain --resume" in card
    assert not list(tmp_path.glob(".base*")), "temp dirs left behind"

    # Continued pretraining from the model just written (domain-adaptive, --base).
    cont = pretrain([small_corpus / "article.txt"], tmp_path / "adapted", config=tiny_config, base=str(out))
    assert cont.metrics["base"] == str(out) and cont.metrics["steps"] == 20
    assert AutoModelForMaskedLM.from_pretrained(tmp_path / "adapted").config.hidden_size == 32
    # Its card keeps the lineage: the base's two runs, then this one.
    assert [r["end_step"] for r in cont.metrics["base_history"]["runs"]] == [m["runs"][0]["end_step"], 20]
    adapted_card = (tmp_path / "adapted" / "README.md").read_text(encoding="utf-8")
    assert adapted_card.count("talent-tagger pretrain --resume") == 1 and "3. `" in adapted_card


def _cli(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("talent-tagger")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, env={**os.environ})


def test_bad_corpus_path_is_a_one_line_error(tmp_path):
    r = _cli("pretrain", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "m"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or directory"
    assert not (tmp_path / "m").exists()


def test_unknown_config_key_is_a_one_line_error(tmp_path, small_corpus):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  hidden: 64\n", encoding="utf-8")
    r = _cli("pretrain", "--corpus", str(small_corpus), "--out", str(tmp_path / "m"), "--config", str(cfg))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {cfg}: unknown key 'model.hidden'"


BASE = ROOT / "models" / "base"


def test_committed_base_model_loads_and_tokenizes_like_bert_base_chinese():
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(BASE)
    assert model.config.model_type == "bert" and str(model.dtype) == "torch.float32"
    assert (BASE / "model.safetensors").stat().st_size <= 40e6
    tok = AutoTokenizer.from_pretrained(BASE)
    ref = vocab_tokenizer(VOCAB, 512)
    text = "济南市2020年引进3000人"
    assert tok.tokenize(text) == ref.tokenize(text) == ["济", "南", "市", "2020", "年", "引", "进", "3000", "人"]
    assert tok(text)["input_ids"] == ref(text)["input_ids"]
    metrics = json.loads((BASE / "metrics.json").read_text(encoding="utf-8"))
    # Learned something: always guessing the most frequent token (，) scores about 0.04, and
    # a base still on the early plateau about 0.14 (see configs/pretrain-gpu-8l.yaml). The card
    # reports the exact figure.
    assert metrics["complete"] and metrics["heldout_mlm_accuracy"] > 0.3
    assert f"{metrics['heldout_mlm_accuracy']:.4f}" in (BASE / "README.md").read_text(encoding="utf-8")
    assert (BASE / "README.md").read_text(encoding="utf-8").count("talent-tagger pretrain") >= 1
