"""Spans -> token labels through the real bert-base-chinese tokenizer, windows, split by article."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures_models import VOCAB
from train.dataset import (
    IGNORE,
    AlignReport,
    bio_labels,
    char_tags,
    classifier_dataset,
    negative_examples,
    split_by_article,
    tagger_dataset,
    tagger_features,
    training_data,
    with_negatives,
)
from train.errors import InputError
from train.labelstudio import Example, Span, load_schema
from train.tagger import LabelCodec, decode_entities, merge_windows

LABELS = bio_labels()
L2I = {l: i for i, l in enumerate(LABELS)}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab=str(VOCAB))


def ex(text: str, *spans: tuple[str, str], article: str = "a", classes: tuple[str, ...] = ()) -> Example:
    """An example whose spans are given by mention (first occurrence after the previous one)."""
    out, pos = [], 0
    for mention, label in spans:
        start = text.index(mention, pos)
        out.append(Span(start, start + len(mention), label))
        pos = start + len(mention)
    return Example(text, tuple(out), classes, article, 0)


def token_view(example: Example, tokenizer, max_length: int = 128, stride: int = 16):
    report = AlignReport()
    windows, labels = tagger_features([example], tokenizer, L2I, max_length, stride, report)
    offs, labs = windows.offsets[0], labels[0]
    pairs = [(example.text[s:e], LABELS[l]) for (s, e), l in zip(offs.tolist(), labs) if l != IGNORE]
    return pairs, report


def test_labels_come_from_the_label_config():
    schema = load_schema()
    assert LABELS[0] == "O" and len(LABELS) == 1 + 2 * len(schema.span_labels)
    assert {l[2:] for l in LABELS[1:]} == set(schema.span_labels)


def test_digit_runs_are_one_token_labelled_by_their_first_character(tokenizer):
    e = ex("2020年引进3000人，其中4.3万人来自外省", ("3000人", "TALENT_NUM"), ("4.3万人", "TALENT_NUM"), ("外省", "LOC"))
    pairs, report = token_view(e, tokenizer)
    assert pairs[:7] == [
        ("2020", "O"),  # a year: not tagged, and one token
        ("年", "O"),
        ("引", "O"),
        ("进", "O"),
        ("3000", "B-TALENT_NUM"),
        ("人", "I-TALENT_NUM"),
        ("，", "O"),
    ]
    assert pairs[9:14] == [("4", "B-TALENT_NUM"), (".", "I-TALENT_NUM"), ("3", "I-TALENT_NUM"), ("万", "I-TALENT_NUM"), ("人", "I-TALENT_NUM")]
    assert ("外", "B-LOC") in pairs and ("省", "I-LOC") in pairs
    assert report.spans == 3 and report.total_misaligned == 0


def test_latin_words_and_their_word_pieces(tokenizer):
    e = ex("与Stanford University合作，引进AI人才87%", ("Stanford University", "EDU"), ("87%", "RATIO"))
    pairs, report = token_view(e, tokenizer)
    tagged = [(t, l) for t, l in pairs if l != "O"]
    edu = tagged[: tagged.index(("87", "B-RATIO"))]
    assert len(edu) > 2  # the words split into word pieces ("St", "##an", ...)
    assert "Stanford".startswith(edu[0][0]) and edu[0][1] == "B-EDU"
    assert all(l == "I-EDU" for _, l in edu[1:])
    assert "".join(t for t, l in tagged if l.endswith("EDU")) == "StanfordUniversity"  # the space has no token
    assert ("AI", "O") in pairs and tagged[-1] == ("%", "I-RATIO")
    assert report.total_misaligned == 0


def test_a_boundary_inside_a_token_is_counted_not_lost(tokenizer):
    # "000人" starts inside the digit run "3000"; "Pyth" ends inside the word "Python".
    e = ex("共计3000人学习Python课程", ("000人", "TALENT_NUM"), ("Pyth", "PROGRAM"))
    pairs, report = token_view(e, tokenizer)
    assert report.spans == 2 and report.total_misaligned == 2
    assert report.misaligned == {"TALENT_NUM": 1, "PROGRAM": 1}
    assert "'000人'" in report.summary() and "2 of 2 spans" in report.summary()
    # The token holding the start is labelled by its first character (O), the rest stays inside.
    assert ("3000", "O") in pairs and ("人", "I-TALENT_NUM") in pairs


def test_long_paragraph_windows_overlap_and_merge_back(tokenizer):
    unit = "济南市人社局引进3000人，发放补贴8500万元。"
    text = unit * 12  # ~300 characters, far over a 64-token window
    spans = []
    for k in range(12):
        base = k * len(unit)
        spans += [Span(base, base + 6, "ORG"), Span(base + 8, base + 13, "TALENT_NUM"), Span(base + 16, base + 22, "MONEY")]
    e = Example(text, tuple(spans), (), "a", 0)
    max_length, stride = 64, 16
    windows, labels = tagger_features([e], tokenizer, L2I, max_length, stride, AlignReport())
    assert len(windows.input_ids) > 4 and set(windows.sample.tolist()) == {0}
    assert all(len(ids) <= max_length for ids in windows.input_ids)
    for a, b in zip(windows.offsets, windows.offsets[1:]):  # consecutive windows share `stride` tokens
        ra, rb = a[1:-1], b[1:-1]
        assert (ra[-stride:] == rb[:stride]).all()
    # A token's label is the same in every window that holds it.
    seen: dict[int, int] = {}
    for w, labs in enumerate(labels):
        for (s, _), l in zip(windows.offsets[w].tolist(), labs):
            if l != IGNORE:
                assert seen.setdefault(s, l) == l
    # Gold labels as one-hot "probabilities", merged and decoded, give the spans back exactly.
    probs = [np.eye(len(LABELS), dtype=np.float32)[np.where(np.array(l) == IGNORE, 0, l)] for l in labels]
    (offsets, merged), = merge_windows(windows, probs, 1)
    assert (np.diff(offsets[:, 0]) > 0).all()  # every token once, in order
    got = decode_entities(merged, offsets, LabelCodec(dict(enumerate(LABELS))))
    assert [(g.start, g.end, g.label) for g in got] == [(s.start, s.end, s.label) for s in spans]
    assert all(g.score == 1.0 for g in got)
    ds = tagger_dataset(windows, labels, tokenizer)
    assert len(ds) == len(windows.input_ids) and set(ds.column_names) >= {"input_ids", "attention_mask", "labels"}


def test_char_tags_mark_begin_and_inside():
    tags = char_tags("在济南工作", [Span(1, 3, "LOC")], L2I)
    assert [LABELS[t] for t in tags] == ["O", "B-LOC", "I-LOC", "O", "O"]


def test_split_is_by_article_and_seeded():
    examples = [Example(f"段落{a}-{p}", (), (), f"art{a}", p) for a in range(20) for p in range(a % 4 + 1)]
    train, val = split_by_article(examples, 0.2, seed=7)
    assert len(train) + len(val) == len(examples)
    train_ids, val_ids = {e.article_id for e in train}, {e.article_id for e in val}
    assert not train_ids & val_ids and len(val_ids) == 4
    assert split_by_article(list(reversed(examples)), 0.2, seed=7)[1] != [] and {
        e.article_id for e in split_by_article(list(reversed(examples)), 0.2, seed=7)[1]
    } == val_ids  # input order does not matter
    assert {e.article_id for e in split_by_article(examples, 0.2, seed=8)[1]} != val_ids


def test_split_keeps_one_article_each_side_when_few():
    examples = [Example("a", (), (), "x", 0), Example("b", (), (), "x", 1), Example("c", (), (), "y", 0)]
    train, val = split_by_article(examples, 0.9, seed=1)
    assert {e.article_id for e in train} and {e.article_id for e in val}
    assert split_by_article(examples[:2], 0.2, seed=1) == (examples[:2], [])


def test_classifier_dataset_is_multi_hot(tokenizer):
    classes = load_schema().classes
    examples = [
        Example("引进人才并发放补贴", (), ("ATTRACT", "RETAIN"), "a", 0),
        Example("经济平稳增长", (), (), "a", 1),
    ]
    ds = classifier_dataset(examples, tokenizer, classes, max_length=8)
    assert ds["labels"] == [[1.0 if c in ("ATTRACT", "RETAIN") else 0.0 for c in classes], [0.0] * len(classes)]
    assert max(len(ids) for ids in ds["input_ids"]) == 8  # truncated to max_length


def test_negatives_are_read_as_predict_reads_an_article(tmp_path):
    """Encoding detected, traditional script simplified, page furniture skipped: no class, no span."""
    path = tmp_path / "no_class.txt"
    text = "市人大常委會任命張明為副市長。\n责任编辑：王芳\n\n今年前三季度全市地区生产总值增长5.2%。\n"
    path.write_bytes(text.encode("gb18030"))
    got = negative_examples(path)
    assert [e.text for e in got] == ["市人大常委会任命张明为副市长。", "今年前三季度全市地区生产总值增长5.2%。"]
    assert all(e.classes == () and e.spans == () for e in got)
    assert len({e.article_id for e in got}) == 2  # never one article: no split may treat them as one


def test_a_negatives_file_without_paragraphs_names_the_file(tmp_path):
    path = tmp_path / "no_class.txt"
    path.write_text("责任编辑：王芳\n", encoding="utf-8")
    with pytest.raises(InputError, match="no_class.txt: no paragraphs"):
        negative_examples(path)
    path.write_bytes(b"")
    with pytest.raises(InputError, match="no_class.txt: file is empty"):
        negative_examples(path)


def test_negatives_join_the_training_side_only_and_leave_the_split_as_it_was(tmp_path):
    path = tmp_path / "no_class.txt"
    path.write_text("市人大常委会任命张明为副市长。\n今年前三季度全市地区生产总值增长5.2%。\n", encoding="utf-8")
    annotated = [ex(f"第{i}段引进人才", article=f"a{i // 2}", classes=("ATTRACT",)) for i in range(8)]
    split = training_data(annotated, [tmp_path / "export.json"], 0.25, seed=13)
    before = list(split.train)
    got = with_negatives(split, path)
    assert got.val == split.val and got.train[: len(before)] == before and len(got.train) == len(before) + 2
    assert split.train == before and split.paths == [tmp_path / "export.json"]  # the tagger's data is untouched
    assert got.paths == [tmp_path / "export.json", path] and got.info["negative_examples"] == 2
    assert {e.classes for e in got.train[len(before):]} == {()}
