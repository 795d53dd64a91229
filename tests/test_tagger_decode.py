"""Decoding token predictions into entities: Viterbi over valid IOB2, BIO repair, offsets, scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from train.dataset import Windows, bio_labels
from train.labelstudio import Example, Span
from train.tagger import Entity, LabelCodec, decode_entities, entity_report, merge_windows, viterbi

LABELS = bio_labels()


@pytest.mark.parametrize(
    "tags, entities",
    [
        (["O", "I-LOC", "I-LOC", "O"], [(1, 3, "LOC")]),  # I after O starts an entity
        (["B-ORG", "I-LOC", "I-LOC"], [(0, 1, "ORG"), (1, 3, "LOC")]),  # I of another type starts a new one
        (["I-PER"], [(0, 1, "PER")]),  # at the very start
        (["B-PER", "B-PER", "I-PER"], [(0, 1, "PER"), (1, 3, "PER")]),  # valid sequences stay as they are
        (["B-MONEY", "I-MONEY", "O", "I-MONEY"], [(0, 2, "MONEY"), (3, 4, "MONEY")]),
    ],
)
def test_argmax_decoding_repairs_broken_bio_as_the_pipeline_does(tags, entities):
    codec = LabelCodec(dict(enumerate(LABELS)))
    offsets = np.array([[i, i + 1] for i in range(len(tags))])
    got = decode_entities(_probs(tags, LABELS), offsets, codec, "argmax")
    assert [(e.start, e.end, e.label) for e in got] == entities


def _probs(tags: list[str], labels: list[str], p: float = 0.9) -> np.ndarray:
    """Probabilities with ``p`` on the given tag of each token and the rest spread evenly."""
    out = np.full((len(tags), len(labels)), (1 - p) / (len(labels) - 1), dtype=np.float32)
    out[np.arange(len(tags)), [labels.index(t) for t in tags]] = p
    return out


def test_decode_repairs_and_maps_offsets():
    labels = bio_labels()
    codec = LabelCodec(dict(enumerate(labels)))
    # Tokens of "引进3000人在济南": "3000" is one token of four characters.
    offsets = np.array([[0, 1], [1, 2], [2, 6], [6, 7], [7, 8], [8, 9], [9, 10]])
    tags = ["O", "O", "I-TALENT_NUM", "I-TALENT_NUM", "O", "I-LOC", "B-ORG"]
    probs = _probs(tags, labels)
    probs[3] = _probs(["I-TALENT_NUM"], labels, 0.5)[0]
    got = decode_entities(probs, offsets, codec, "argmax")
    assert [(e.start, e.end, e.label) for e in got] == [(2, 7, "TALENT_NUM"), (8, 9, "LOC"), (9, 10, "ORG")]
    assert got[0].score == pytest.approx(0.7, abs=1e-3)  # mean over the entity's tokens
    assert got[1].score == pytest.approx(0.9, abs=1e-3)
    assert decode_entities(np.zeros((0, len(labels)), dtype=np.float32), np.zeros((0, 2), dtype=np.int64), codec) == []


def test_entity_report_is_strict_and_per_type():
    text = "济南市人社局引进3000人"
    gold = [Example(text, (Span(0, 6, "ORG"), Span(8, 13, "TALENT_NUM")), (), "a", 0)]
    exact = [[Entity(0, 6, "ORG", 0.9), Entity(8, 13, "TALENT_NUM", 0.9)]]
    rep = entity_report(gold, exact)
    assert rep["micro"]["f1"] == 1.0 and rep["per_type"]["ORG"]["support"] == 1
    assert rep["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    near = [[Entity(0, 2, "LOC", 0.9), Entity(8, 13, "TALENT_NUM", 0.9)]]  # 济南 inside the ORG: wrong
    rep = entity_report(gold, near)
    assert rep["per_type"]["TALENT_NUM"]["f1"] == 1.0 and rep["per_type"]["ORG"]["recall"] == 0.0
    assert rep["micro"]["precision"] == 0.5 and rep["micro"]["recall"] == 0.5
    assert rep["macro"]["f1"] == pytest.approx(0.5)  # over the types present in the gold


def _window(first: int, last: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """ids, offsets and special mask of a window over characters first..last (one token each), with [CLS]/[SEP]."""
    offsets = np.array([[0, 0]] + [[c, c + 1] for c in range(first, last + 1)] + [[0, 0]], dtype=np.int64)
    special = np.zeros(len(offsets), dtype=bool)
    special[[0, -1]] = True
    return [101] + [100] * (last - first + 1) + [102], offsets, special


def test_merge_windows_takes_each_token_from_the_window_where_it_has_most_context():
    # Text of 20 one-character tokens, windows over 0..11 and 6..19 (6 shared tokens);
    # the first window says LOC everywhere, the second ORG.
    (ia, oa, sa), (ib, ob, sb) = _window(0, 11), _window(6, 19)
    windows = Windows([ia, ib], [oa, ob], np.array([0, 0]), [sa, sb])
    loc, org = LABELS.index("I-LOC"), LABELS.index("I-ORG")
    probs = [np.eye(len(LABELS), dtype=np.float32)[[0] + [loc] * 12 + [0]], np.eye(len(LABELS), dtype=np.float32)[[0] + [org] * 14 + [0]]]
    ((offsets, merged),) = merge_windows(windows, probs, 1)
    assert offsets[:, 0].tolist() == list(range(20))  # every token once, in order, no specials
    # Shared tokens 6, 7, 8 sit 5, 4, 3 tokens from the first window's end and 0, 1, 2 from the
    # second's start: the first window's; 9, 10, 11 sit 2, 1, 0 from the end and 3, 4, 5 from the start.
    assert merged.argmax(-1).tolist() == [loc] * 9 + [org] * 11
    got = decode_entities(merged, offsets, LabelCodec(dict(enumerate(LABELS))))
    assert [(e.start, e.end, e.label) for e in got] == [(0, 9, "LOC"), (9, 20, "ORG")]


def test_merge_windows_keeps_texts_apart_and_empty_texts_empty():
    (ia, oa, sa), (ib, ob, sb) = _window(0, 3), _window(0, 1)
    windows = Windows([ia, ib], [oa, ob], np.array([0, 2]), [sa, sb])
    probs = [np.full((len(ia), len(LABELS)), 0.5, dtype=np.float32), np.full((len(ib), len(LABELS)), 0.25, dtype=np.float32)]
    merged = merge_windows(windows, probs, 3)
    assert [len(o) for o, _ in merged] == [4, 0, 2]
    assert merged[1][1].shape == (0, len(LABELS)) and (merged[2][1] == 0.25).all()


@pytest.fixture(scope="module")
def simple_pipeline(tiny_base):
    """transformers' token-classification pipeline with our label set (its weights are never used)."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    model = AutoModelForTokenClassification.from_pretrained(
        tiny_base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)}
    )
    return pipeline("token-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(tiny_base), aggregation_strategy="simple", device="cpu")


@settings(max_examples=200, deadline=None)
@given(
    tags=st.lists(st.sampled_from(["O", "O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "I-MONEY"]), min_size=1, max_size=30),
    widths=st.lists(st.integers(1, 4), min_size=30, max_size=30),
    conf=st.lists(st.floats(0.5, 0.99), min_size=30, max_size=30),
)
def test_decode_of_one_window_is_the_pipelines_simple_aggregation(simple_pipeline, tags, widths, conf):
    """Within one window, predict's BIO repair and the pipeline's "simple" grouping give the same entities and scores."""
    from transformers.pipelines.token_classification import AggregationStrategy

    ends = np.cumsum(widths[: len(tags)])
    offsets = np.stack([ends - widths[: len(tags)], ends], axis=1)  # multi-character tokens, like digit runs
    probs = np.stack([_probs([t], LABELS, c)[0] for t, c in zip(tags, conf)])
    ours = decode_entities(probs, offsets, LabelCodec(dict(enumerate(LABELS))), "argmax")
    pre = [
        {"word": "x", "scores": probs[i], "start": int(s), "end": int(e), "index": i + 1, "is_subword": False}
        for i, (s, e) in enumerate(offsets)
    ]
    theirs = [g for g in simple_pipeline.aggregate(pre, AggregationStrategy.SIMPLE) if g["entity_group"] != "O"]
    assert [(e.start, e.end, e.label) for e in ours] == [(g["start"], g["end"], g["entity_group"]) for g in theirs]
    assert [e.score for e in ours] == pytest.approx([float(g["score"]) for g in theirs], abs=1e-4)


def test_viterbi_keeps_an_entity_whole_where_argmax_breaks_it():
    """苏州工业园区 with one weak middle token: argmax gives two places, Viterbi one."""
    codec = LabelCodec(dict(enumerate(LABELS)))
    offsets = np.array([[i, i + 1] for i in range(7)])
    probs = _probs(["B-LOC", "I-LOC", "O", "I-LOC", "I-LOC", "I-LOC", "O"], LABELS)
    probs[2] = _probs(["I-LOC"], LABELS, 0.3)[0]  # O is a bit more likely here than I-LOC...
    probs[2, LABELS.index("O")] = 0.4  # ...but not worth breaking the place in two
    spans = lambda ents: [(e.start, e.end, e.label) for e in ents]  # noqa: E731
    assert spans(decode_entities(probs, offsets, codec, "argmax")) == [(0, 2, "LOC"), (3, 6, "LOC")]
    assert spans(decode_entities(probs, offsets, codec)) == [(0, 6, "LOC")]
    # a confident O still ends the entity
    probs[2] = _probs(["O"], LABELS, 0.95)[0]
    assert spans(decode_entities(probs, offsets, codec)) == [(0, 2, "LOC"), (3, 6, "LOC")]


SMALL = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(st.floats(0.01, 1), min_size=5, max_size=5), min_size=n, max_size=n)))
def test_viterbi_is_the_most_probable_valid_sequence(rows):
    """Brute force over every label sequence of a small label set: Viterbi finds the best valid one."""
    from itertools import product

    probs = np.array(rows) / np.array(rows).sum(1, keepdims=True)
    codec = LabelCodec(dict(enumerate(SMALL)))
    allowed, first = codec.allowed, codec.allowed_first
    logp = np.log(probs)

    def valid(path) -> bool:
        return bool(first[path[0]]) and all(allowed[a, b] for a, b in zip(path, path[1:]))

    best = max((p for p in product(range(len(SMALL)), repeat=len(probs)) if valid(p)), key=lambda p: logp[np.arange(len(p)), p].sum())
    got = viterbi(probs, codec)
    assert valid(list(got))
    assert logp[np.arange(len(got)), got].sum() == pytest.approx(logp[np.arange(len(best)), best].sum())
