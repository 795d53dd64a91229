"""Predictions JSONL -> review tasks, offline: the checks `push` runs before it sends anything."""

from __future__ import annotations

import json
import re

import pytest

from test_labelstudio_push import ARTICLE, PICKS, prediction_record, write_jsonl
from train.errors import InputError
from train.labelstudio import read_predictions, review_score, task_data
from train.text import read_article, split_article


def test_review_score_is_the_lowest_confidence():
    assert review_score([0.93, 0.41], [{"ATTRACT": 0.62, "CULTIVATE": 0.1, "RETAIN": 0.05}]) == pytest.approx(0.24)
    assert review_score([0.2], [{"ATTRACT": 0.99}]) == pytest.approx(0.2)
    assert review_score([], [{"ATTRACT": 0.5}]) == 0.0  # a coin toss on a class
    assert review_score([], []) == 1.0


def test_tasks_carry_the_import_data_and_paragraph_offsets(tmp_path):
    tasks = read_predictions(write_jsonl(tmp_path / "p.jsonl", [prediction_record(ARTICLE, "v1")]))
    paragraphs = split_article(read_article(ARTICLE))
    assert [t.data for t in tasks] == [task_data(ARTICLE.stem, ARTICLE.name, p) for p in paragraphs]
    spans = [(t.key[1], r["value"]["text"], r["value"]["labels"][0]) for t in tasks for r in t.result if r["type"] == "labels"]
    assert spans == [(i, m, label) for i, m, label, _ in PICKS]
    for t in tasks:
        for r in t.result:
            if r["type"] == "labels":
                assert t.data["text"][r["value"]["start"] : r["value"]["end"]] == r["value"]["text"]
    assert {t.model_version for t in tasks} == {"v1"}


def test_line_numbers_count_blank_lines_and_bad_json(tmp_path):
    good = json.dumps(prediction_record(ARTICLE, "v1"), ensure_ascii=False)
    path = tmp_path / "p.jsonl"
    path.write_text(f"\n{good}\n\n{{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:4: not JSON"):
        read_predictions(path)
    path.write_text(f"{good}\n{good}\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{re.escape(str(path))}:2: .*paragraph 0 already given at {re.escape(str(path))}:1"):
        read_predictions(path)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no paragraphs with predictions"):
        read_predictions(path)


def test_overlapping_predicted_spans_are_refused(tmp_path):
    record = prediction_record(ARTICLE, "v1", picks=[(1, "山东省人民政府驻北京办事处", "ORG", 0.9), (1, "山东省", "LOC", 0.8)])
    with pytest.raises(InputError, match=r":1: article .* paragraph 1: overlapping spans"):
        read_predictions(write_jsonl(tmp_path / "p.jsonl", [record]))
