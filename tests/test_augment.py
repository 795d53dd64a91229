"""Place swapping (train/augment.py): more places in the same contexts, spans kept on their text."""

from __future__ import annotations

import random

import pytest

from conftest import ROOT
from train.augment import augment_places, load_places, swap_places
from train.config import parse_config
from train.errors import InputError
from train.labelstudio import Example, Span, read_export

PLACES = load_places()


def example(marked: list[tuple[str, str | None]]) -> Example:
    """An example from (piece, label) pairs; label None is untagged text."""
    text, spans = "", []
    for piece, label in marked:
        if label:
            spans.append(Span(len(text), len(text) + len(piece), label))
        text += piece
    return Example(text, tuple(spans), ("ATTRACT",), "a1", 0, 7, "written")


def pieces(ex: Example) -> list[tuple[str, str]]:
    return [(ex.text[s.start:s.end], s.label) for s in ex.spans]


def test_the_list_holds_the_administrative_divisions_with_their_short_forms():
    forms = {pl.full: pl.short for pl in PLACES.places}
    assert len(PLACES.places) > 3000
    assert forms["大庆市"] == "大庆" and forms["山东省"] == "山东" and forms["海淀区"] == "海淀"
    assert forms["忠县"] is None and forms["宁夏回族自治区"] is None  # no one-character or half-ethnic short forms


def test_a_place_and_its_short_form_get_the_same_stand_in_and_spans_follow_the_text():
    ex = example([
        ("海淀区", "LOC"), ("发布新政，", None), ("海淀区委组织部", "ORG"), ("负责人", None), ("王强", "PER"),
        ("说，", None), ("海淀", "LOC"), ("将与", None), ("北京大学", "EDU"), ("共建", None), ("3个", "QUANTITY"), ("平台。", None),
    ])
    new = swap_places(ex, PLACES, 1.0, random.Random(3))
    got = pieces(new)
    assert [label for _, label in got] == [label for _, label in pieces(ex)]
    full, org, person, short, edu, qty = (text for text, _ in got)
    assert full != "海淀区" and full.endswith(("区", "市", "省")) and org == full + "委组织部"
    assert full.startswith(short) and len(short) >= 2 and short != "海淀"
    assert edu.endswith("大学") and edu != "北京大学"
    assert (person, qty) == ("王强", "3个")
    assert new.classes == ex.classes and new.article_id == ex.article_id and new.source == "written+places"


def test_only_plain_place_names_are_swapped():
    ex = example([("长三角地区", "LOC"), ("和", None), ("海淀区中关村", "LOC"), ("的", None), ("江山", "PER"), ("来访", None)])
    assert swap_places(ex, PLACES, 1.0, random.Random(1)) is None  # a region, a place with more, a person


def test_copies_are_seeded_and_only_of_paragraphs_that_name_a_known_place():
    written = read_export(ROOT / "seeds" / "annotations" / "written.json").examples[:80]
    a = augment_places(written, PLACES, 2, 0.8, seed=5)
    b = augment_places(written, PLACES, 2, 0.8, seed=5)
    assert [e.text for e in a] == [e.text for e in b] != [e.text for e in augment_places(written, PLACES, 2, 0.8, seed=6)]
    assert 0 < len(a) <= 160
    for ex in a:
        assert all(0 <= s.start < s.end <= len(ex.text) for s in ex.spans)
        assert all(a.end <= b.start for a, b in zip(ex.spans, ex.spans[1:]))


def test_a_bad_place_list_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="nope.tsv: cannot read the division list"):
        load_places(tmp_path / "nope.tsv")
    one = tmp_path / "one.tsv"
    one.write_text("# comment\n230600\t大庆市\tcity\t230000\n", encoding="utf-8")
    with pytest.raises(InputError, match="at least two names"):
        load_places(one)


def test_the_config_section_is_off_by_default_and_checked():
    assert parse_config({}).augment.place_copies == 0
    with pytest.raises(InputError, match="augment.place_rate"):
        parse_config({"augment": {"place_rate": 0}}, "t.yaml")
