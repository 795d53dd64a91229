"""Decoding token predictions into entities: BIO repair, offsets, scores."""

from __future__ import annotations

import numpy as np
import pytest

from train.dataset import bio_labels
from train.labelstudio import Example, Span
from train.tagger import Entity, LabelCodec, decode, entity_report, repair_bio


@pytest.mark.parametrize(
    "tags, repaired",
    [
        (["O", "I-LOC", "I-LOC", "O"], ["O", "B-LOC", "I-LOC", "O"]),  # I after O starts an entity
        (["B-ORG", "I-LOC", "I-LOC"], ["B-ORG", "B-LOC", "I-LOC"]),  # I of another type starts a new one
        (["I-PER"], ["B-PER"]),  # at the very start
        (["B-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),  # valid sequences stay as they are
        (["B-MONEY", "I-MONEY", "O", "I-MONEY"], ["B-MONEY", "I-MONEY", "O", "B-MONEY"]),
    ],
)
def test_repair_bio(tags, repaired):
    assert repair_bio(tags) == repaired


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
    got = decode(probs, offsets, codec)
    assert [(e.start, e.end, e.label) for e in got] == [(2, 7, "TALENT_NUM"), (8, 9, "LOC"), (9, 10, "ORG")]
    assert got[0].score == pytest.approx(0.7, abs=1e-3)  # mean over the entity's tokens
    assert got[1].score == pytest.approx(0.9, abs=1e-3)
    assert decode(np.zeros((0, len(labels)), dtype=np.float32), np.zeros((0, 2), dtype=np.int64), codec) == []


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
