"""Prediction inputs, sharding, offsets and bad input (no models needed: input is checked first)."""

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.errors import InputError
from train.predict import (
    Article,
    _raw_articles,
    article_record,
    count_articles,
    expand_inputs,
    iter_articles,
    parse_shard,
)
from train.text import normalize, read_article, split_article

TALENT_TAGGER = [sys.executable, "-c", "from train.cli import main; main()"]
THRESHOLDS = {"ATTRACT": 0.5, "CULTIVATE": 0.5, "RETAIN": 0.5}


@pytest.fixture
def mixed_inputs(tmp_path, seed_articles):
    """Two .txt files in a directory, one loose .txt and a .jsonl with three articles."""
    d = tmp_path / "dir"
    d.mkdir()
    texts = [read_article(p) for p in seed_articles]
    (d / "b.txt").write_text(texts[0], encoding="utf-8")
    (d / "a.txt").write_text(texts[1], encoding="utf-8")
    loose = tmp_path / "z.txt"
    loose.write_text(texts[2], encoding="utf-8")
    jl = tmp_path / "m.jsonl"
    lines = [{"id": "j1", "text": texts[3]}, {"id": 7, "text": texts[4]}, {"text": "引进人才3000人。"}]
    jl.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n", encoding="utf-8")
    return [d, loose, jl]


def test_inputs_are_expanded_sorted_and_jsonl_lines_are_articles(mixed_inputs, tmp_path):
    files = expand_inputs(mixed_inputs)
    assert files == sorted(files) and len(files) == 4
    ids = [(a.id, a.source) for a in iter_articles(files)]
    assert ids == [("a", "a.txt"), ("b", "b.txt"), ("j1", "m.jsonl"), ("7", "m.jsonl"), ("m-3", "m.jsonl"), ("z", "z.txt")]
    assert count_articles(files) == 6


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_shards_cover_every_article_exactly_once(mixed_inputs, n):
    files = expand_inputs(mixed_inputs)
    everything = [a[0] for a in _raw_articles(files, (1, 1))]
    shards = [[a[0] for a in _raw_articles(files, (k, n))] for k in range(1, n + 1)]
    assert sorted(i for s in shards for i in s) == sorted(everything)
    assert [len(s) for s in shards] == [len(everything[k::n]) for k in range(n)]


@pytest.mark.parametrize("spec", ["0/2", "3/2", "1-2", "a/b", "2", "1/0"])
def test_bad_shard_specs_are_refused(spec):
    with pytest.raises(InputError, match="--shard"):
        parse_shard(spec)


@dataclass(frozen=True)
class _Ent:
    start: int
    end: int
    label: str
    score: float


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_entity_offsets_map_back_to_the_original(seed_articles, data):
    """For any span in any paragraph: normalize(original[orig_start:orig_end]) == text[start:end]."""
    path = data.draw(st.sampled_from(seed_articles))
    original = read_article(path)
    paragraphs = split_article(original)
    p = data.draw(st.integers(0, len(paragraphs) - 1))
    text = paragraphs[p].text
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, min(len(text), start + 30)))
    ents = [[] for _ in paragraphs]
    ents[p] = [_Ent(start, end, "MONEY", 0.9)]
    probs = [{c: 0.1 for c in THRESHOLDS} for _ in paragraphs]
    rec = article_record(Article(path.stem, path.name, original, paragraphs), ents, probs, THRESHOLDS, "v")
    if not text[start:end].strip():
        assert rec["entities"] == []  # an all-space span is dropped
        return
    (e,) = rec["entities"]
    assert rec["text"][e["start"] : e["end"]] == e["text"] == text[start:end].strip()
    assert normalize(original[e["orig_start"] : e["orig_end"]]).text == e["text"]
    assert "value" in e and "unit" in e


def test_record_fields_classes_and_measures(seed_articles):
    path = seed_articles[4]
    original = read_article(path)
    paragraphs = split_article(original)
    probs = [{"ATTRACT": 0.9 if i == 1 else 0.2, "CULTIVATE": 0.5, "RETAIN": 0.49} for i in range(len(paragraphs))]
    ents = [[_Ent(0, 2, "ORG", 0.8)] if i == 1 else [] for i in range(len(paragraphs))]
    rec = article_record(Article("x", "x.txt", original, paragraphs), ents, probs, THRESHOLDS, "t+c")
    assert rec["text"] == "\n".join(p.text for p in paragraphs)
    for par, rp in zip(paragraphs, rec["paragraphs"]):
        assert rec["text"][rp["start"] : rp["start"] + len(rp["text"])] == par.text
        assert original[rp["orig_start"] : rp["orig_end"]] == rp["original"] == par.original
    assert rec["paragraphs"][1]["labels"] == ["ATTRACT", "CULTIVATE"]  # >= threshold counts
    assert rec["measures"] == {"ATTRACT": [1], "CULTIVATE": list(range(len(paragraphs)))}
    (e,) = rec["entities"]
    assert e["paragraph"] == 1 and e["start"] == rec["paragraphs"][1]["start"] and "value" not in e


# --------------------------------------------------------------------------- bad input via the CLI


def _bad_inputs(tmp_path, seed_articles):
    good = seed_articles[0]
    binary = tmp_path / "binary.txt"
    binary.write_bytes(bytes(range(256)) * 64)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    not_json = tmp_path / "notjson.jsonl"
    not_json.write_text('{"id": "a", "text": "引才"}\n{"id": "b", "text": \n', encoding="utf-8")
    no_text = tmp_path / "notext.jsonl"
    no_text.write_text('{"id": "a", "text": "引才"}\n\n{"id": "b", "body": "引才"}\n', encoding="utf-8")
    empty_jsonl = tmp_path / "nothing.jsonl"
    empty_jsonl.write_text("\n\n", encoding="utf-8")
    return {
        "binary file": ([good, binary], "binary.txt", "binary"),
        "empty file": ([empty], "empty.txt", "empty"),
        "jsonl line not JSON": ([not_json], "notjson.jsonl: line 2", "not JSON"),
        "jsonl line without text": ([no_text], "notext.jsonl: line 3", "text"),
        "empty jsonl": ([empty_jsonl], "nothing.jsonl", "empty"),
        "missing input": ([tmp_path / "nope.txt"], "nope.txt", "no such file"),
    }


@pytest.mark.parametrize(
    "case",
    ["binary file", "empty file", "jsonl line not JSON", "jsonl line without text", "empty jsonl", "missing input"],
)
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, seed_articles, case):
    inputs, names, message = _bad_inputs(tmp_path, seed_articles)[case]
    out = tmp_path / "out" / "pred.jsonl"
    run = subprocess.run(
        [*TALENT_TAGGER, "predict", *map(str, inputs), "-o", str(out), "--models", str(tmp_path / "no-models")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert names in run.stderr and message in run.stderr
    assert not out.exists() and not list(tmp_path.glob("out/.pred*"))


def test_missing_models_dir_is_one_line_exit_2_and_no_output(tmp_path, seed_articles):
    out = tmp_path / "pred.jsonl"
    models = tmp_path / "models"
    run = subprocess.run(
        [*TALENT_TAGGER, "predict", str(seed_articles[0]), "-o", str(out), "--models", str(models)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and str(models) in run.stderr, run.stderr
    assert not out.exists()
