"""The shared public corpora read into spans, mapped labels and Label Studio exports."""

import json
from itertools import islice

import pytest

from conftest import SHARED
from train.corpora import LABEL_MAPS, mapped_examples, read_corpus_file, text_units, to_labelstudio_export
from train.errors import InputError
from train.labelstudio import load_schema, read_export
from train.text import normalize

CORPORA = SHARED / "corpora"


def test_cluener_end_offsets_are_inclusive_in_the_file_and_exclusive_here():
    text, spans = next(read_corpus_file(CORPORA / "cluener2020" / "train.jsonl"))
    assert {text[s:e]: label for s, e, label in spans} == {"浙商银行": "company", "叶老桂": "name"}


@pytest.mark.parametrize(
    "path",
    ["msra_ner/train.bio.tsv", "peoples_daily_1998_partial/example.dev", "resume_ner/dev.char.bmes", "weibo_ner/weiboNER_2nd_conll.dev"],
)
def test_char_tagged_corpora_give_whole_entities(path):
    records = list(islice(read_corpus_file(CORPORA / path), 300))
    spans = [(text[s:e], label) for text, sp in records for s, e, label in sp]
    assert spans, path
    assert all(len(mention) >= 1 and "-" not in label[:2] for mention, label in spans)
    # no stray digits from Weibo's segment markers
    assert not any(ch.isdigit() for text, _ in records[:50] for ch in text if "weibo" in path and ch in "0123")


def test_mapped_examples_keep_only_project_labels():
    records = islice(read_corpus_file(CORPORA / "cluener2020" / "dev.jsonl"), 200)
    examples = mapped_examples(records, LABEL_MAPS["cluener"], "cluener")
    labels = {s.label for e in examples for s in e.spans}
    assert labels <= set(load_schema().span_labels) and labels >= {"PER", "ORG", "LOC"}


def test_a_corpus_export_reads_back_through_the_real_export_path(tmp_path):
    records = islice(read_corpus_file(CORPORA / "msra_ner" / "test.bio.tsv"), 50)
    examples = mapped_examples(records, LABEL_MAPS["msra"], "msra")
    path = tmp_path / "msra.json"
    path.write_text(json.dumps(to_labelstudio_export(examples), ensure_ascii=False))
    back = read_export(path).examples
    assert [(e.text, e.spans) for e in back] == [(e.text, e.spans) for e in examples]


def test_an_unknown_corpus_format_is_a_one_line_error(tmp_path):
    path = tmp_path / "corpus.xml"
    path.write_text("<x/>")
    with pytest.raises(InputError, match="corpus.xml: unknown corpus format"):
        read_corpus_file(path)


def test_nested_corpus_spans_keep_the_longest_only():
    records = [("《招商银行：投资浮亏》", [(0, 11, "book"), (1, 5, "company")])]
    (example,) = mapped_examples(records, LABEL_MAPS["cluener_full"], "x")
    assert [(s.start, s.end, s.label) for s in example.spans] == [(0, 11, "book")]


def test_pretraining_units_and_labelled_records_come_from_one_parser():
    path = CORPORA / "resume_ner" / "dev.char.bmes"
    fmt, units = text_units(path)
    assert fmt == "char-tagged"
    assert units == [normalize(text).text for text, _ in read_corpus_file(path)]


def test_json_lines_any_label_for_pretraining_but_cluener_labels_for_spans(tmp_path):
    path = tmp_path / "news.jsonl"
    first, second, third = "本市全年引进高层次人才3000人。", "第二段说明人才公寓的补贴政策。", "青年人才留才计划启动。"
    lines = [{"text": f"{first}\u2028{second}", "label": "sports"}, {"text": third}]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    assert text_units(path) == ("jsonl", [first, second, third])  # U+2028 splits paragraphs, not JSON lines
    with pytest.raises(InputError, match=r"news\.jsonl:1: 'label' is not"):
        list(read_corpus_file(path))


def test_a_malformed_char_tagged_line_names_file_and_line(tmp_path):
    path = tmp_path / "x.bio.tsv"
    path.write_text("中\tB-LOC\n国\tI-LOC\n\n人 民 O\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.bio\.tsv:4: expected 'CHARACTER TAG'"):
        list(read_corpus_file(path))


def test_an_org_named_like_a_school_or_institute_becomes_edu():
    """The corpora call universities ORG; LABELS.md calls them EDU. Hospitals and presses of a university stay ORG."""
    text = "北京大学、中国科学院化学研究所、清华大学附属医院和北京大学出版社的代表在上海。"
    names = ["北京大学", "中国科学院化学研究所", "清华大学附属医院", "北京大学出版社"]
    spans = [(text.index(n), text.index(n) + len(n), "ORG") for n in names] + [(text.index("上海"), text.index("上海") + 2, "LOC")]
    (example,) = mapped_examples([(text, spans)], LABEL_MAPS["msra"], "msra")
    assert [(example.text[s.start:s.end], s.label) for s in example.spans] == [
        ("北京大学", "EDU"), ("中国科学院化学研究所", "EDU"), ("清华大学附属医院", "ORG"), ("北京大学出版社", "ORG"), ("上海", "LOC"),
    ]
    edu = [s for e in mapped_examples(islice(read_corpus_file(CORPORA / "msra_ner" / "test.bio.tsv"), 2000), LABEL_MAPS["msra"], "m") for s in e.spans if s.label == "EDU"]
    assert edu  # the real corpus has them
