"""The gold exports in seeds/annotations/: valid against the label config, built from the
markup in seeds/gold and seeds/written and never edited by hand, and in agreement with
the examples LABELS.md gives.

These tests read the committed files only; they train nothing and start no server.
"""

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from train.gold import build_all
from train.labelstudio import load_schema
from train.text import read_article, split_article

ROOT = Path(__file__).resolve().parent.parent
ANNOTATIONS = ROOT / "seeds" / "annotations"
SEED_GOLD = ANNOTATIONS / "seed_gold.json"
EXPORTS = sorted(ANNOTATIONS.glob("*.json"))


@lru_cache(maxsize=None)
def tasks_of(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def results(task: dict, kind: str) -> list[dict]:
    (annotation,) = task["annotations"]
    return [r for r in annotation["result"] if r["type"] == kind]


def spans(task: dict) -> list[tuple[int, int, str]]:
    """(start, end, label) of every span of a task, in text order."""
    return sorted((r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in results(task, "labels"))


def classes(task: dict) -> list[str]:
    return [c for r in results(task, "choices") for c in r["value"]["choices"]]


def where(task: dict) -> str:
    return f"task {task['id']} ({task['data']['article_id']} paragraph {task['data']['paragraph']})"


def seed_spans() -> list[tuple[str, str, dict]]:
    """(mention, label, task) for every span of the seed gold."""
    return [(t["data"]["text"][a:b], label, t) for t in tasks_of(SEED_GOLD) for a, b, label in spans(t)]


def seed_task(article_id: str, starts_with: str) -> dict:
    (task,) = [t for t in tasks_of(SEED_GOLD) if t["data"]["article_id"] == article_id and t["data"]["text"].startswith(starts_with)]
    return task


LIAOCHENG = "004_e21140da06641328"  # the 聊城 seed article


# --------------------------------------------------------------------------- every export is valid


def test_the_seed_gold_is_committed():
    assert SEED_GOLD in EXPORTS


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.name)
def test_every_span_points_at_its_own_text(export):
    """value.text is what the annotator saw; start/end must select exactly that text."""
    for task in tasks_of(export):
        text = task["data"]["text"]
        for r in results(task, "labels"):
            v = r["value"]
            assert 0 <= v["start"] < v["end"] <= len(text), where(task)
            assert text[v["start"] : v["end"]] == v["text"], where(task)
            assert v["text"] == v["text"].strip(), f"{where(task)}: span {v['text']!r} has outer spaces"


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.name)
def test_every_label_and_class_is_in_the_label_config(export):
    schema = load_schema()
    for task in tasks_of(export):
        for r in task["annotations"][0]["result"]:
            assert r["to_name"] == "text", where(task)
            if r["type"] == "labels":
                assert r["from_name"] == "label", where(task)
                assert len(r["value"]["labels"]) == 1, where(task)
                assert r["value"]["labels"][0] in schema.span_labels, where(task)
            else:
                assert (r["type"], r["from_name"]) == ("choices", "measure"), where(task)
                assert set(r["value"]["choices"]) <= set(schema.classes), where(task)
                assert len(set(r["value"]["choices"])) == len(r["value"]["choices"]), where(task)


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.name)
def test_no_two_spans_overlap(export):
    for task in tasks_of(export):
        ordered = spans(task)
        for (a1, b1, l1), (a2, b2, l2) in zip(ordered, ordered[1:]):
            text = task["data"]["text"]
            assert b1 <= a2, f"{where(task)}: {l1} {text[a1:b1]!r} overlaps {l2} {text[a2:b2]!r}"


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.name)
def test_task_ids_are_unique_and_each_task_has_one_gold_annotation(export):
    tasks = tasks_of(export)
    assert len({t["id"] for t in tasks}) == len(tasks)
    for task in tasks:
        (annotation,) = task["annotations"]
        assert annotation["was_cancelled"] is False and annotation["ground_truth"] is True, where(task)


def test_every_seed_article_paragraph_has_exactly_one_task():
    """The seed gold covers every paragraph (task) of every seed article, in order, with its text."""
    gold = tasks_of(SEED_GOLD)
    by_article = Counter(t["data"]["article_id"] for t in gold)
    articles = sorted((ROOT / "seeds" / "articles").glob("*.txt"))
    assert set(by_article) == {a.stem for a in articles}
    for article in articles:
        paragraphs = split_article(read_article(article))
        tasks = sorted((t for t in gold if t["data"]["article_id"] == article.stem), key=lambda t: t["data"]["paragraph"])
        assert [t["data"]["paragraph"] for t in tasks] == [p.index for p in paragraphs], article.name
        assert [t["data"]["text"] for t in tasks] == [p.text for p in paragraphs], article.name


# --------------------------------------------------------------------------- exports are built, never hand-edited


@lru_cache(maxsize=1)
def fresh_build() -> dict[str, list[dict]]:
    return build_all(ROOT)


def test_every_export_file_is_one_the_markup_builds():
    """No stray JSON in seeds/annotations: each file there comes from markup."""
    assert {p.name for p in EXPORTS} <= set(fresh_build())


@pytest.mark.parametrize("name", ["seed_gold.json", "written.json"])
def test_the_committed_export_equals_a_fresh_build_from_the_markup(name):
    """Edit seeds/gold/*.txt or seeds/written/*.txt, then run `python -m train.gold`:
    the JSON must never drift from its markup (and must be committed with it)."""
    built = fresh_build()
    if name not in built:
        pytest.skip(f"no markup builds {name}")
    path = ANNOTATIONS / name
    assert path.exists(), f"{path} missing: run `python -m train.gold` and commit it"
    committed = tasks_of(path)
    assert len(committed) == len(built[name]), (
        f"{name}: {len(committed)} tasks committed, the markup builds {len(built[name])}: run `python -m train.gold`"
    )
    for ours, fresh in zip(committed, built[name]):
        assert ours == fresh, f"{name} {where(fresh)} differs from its markup: run `python -m train.gold`"


# --------------------------------------------------------------------------- agreement with LABELS.md

# The examples of LABELS.md's label tables ("examples from the seed articles, normalized").
LABELS_MD_EXAMPLES = {
    "PER": ["刘彬礼", "窦进科", "王国臣", "谢国华"],
    "ORG": ["山东省人民政府驻北京办事处", "济南市人社局", "大庆沃尔沃汽车制造有限公司", "中车永济电机有限公司", "聊城市人民医院"],
    "EDU": ["清华大学", "北京大学医学院", "西北农林科技大学", "中国科学院", "山东产业技术研究院"],
    "LOC": ["济南", "山东省", "京津冀", "粤港澳大湾区", "翠亨新区", "荷兰"],
    "POLICY": ["大庆市打捆联系省内外高校常态化引进人才工作实施方案"],
    "PROGRAM": ["打捆引才", "院士专家聊城行", "青年兴聊", "慈善英才·智聚中山", "山东惠才卡"],
    "TALENT_NUM": ["7万人", "3000人", "4.3万人", "131名", "116人", "1300余人次"],
    "MONEY": ["3000万元", "8500万元", "30万元", "3980余万元"],
    "RATIO": ["87%", "17.6%", "80%"],
    "QUANTITY": ["52所", "876家", "49家", "41场次", "24000多个", "1030平方公里"],
}


@pytest.mark.parametrize("label", list(LABELS_MD_EXAMPLES))
def test_the_seed_gold_tags_each_labels_md_example_with_its_label(label):
    """Each example is a span with its label somewhere, and never a span with another label."""
    found: dict[str, set[str]] = {}
    for mention, got, _ in seed_spans():
        found.setdefault(mention, set()).add(got)
    for example in LABELS_MD_EXAMPLES[label]:
        assert found.get(example) == {label}, f"{example!r}: LABELS.md says {label}, seed gold has {found.get(example)}"


def test_leading_qualifiers_stay_outside_a_metric_and_inner_ones_inside():
    """近7万人 → 7万人; 最高30万元 → 30万元; 余/多 stay in (1300余人次, 24000多个)."""
    task = seed_task("000_9dc7c4a870a639d6", "据济南市人社局")
    text = task["data"]["text"]
    start = text.index("近7万人")
    assert (start + 1, start + 4, "TALENT_NUM") in spans(task)
    assert not any(a <= start < b for a, b, _ in spans(task)), "近 must not be inside a span"
    metrics = {m for m, label, _ in seed_spans() if label in ("TALENT_NUM", "MONEY", "RATIO", "QUANTITY")}
    assert not {m for m in metrics if m[0] in "近约超最"}, "a leading qualifier was tagged"
    assert {"1300余人次", "3980余万元", "24000多个"} <= metrics


def test_the_three_liaocheng_paragraphs_have_the_classes_labels_md_gives():
    assert classes(seed_task(LIAOCHENG, "坚持靶向引才")) == ["ATTRACT"]
    assert classes(seed_task(LIAOCHENG, "坚持精准育才")) == ["CULTIVATE"]
    assert classes(seed_task(LIAOCHENG, "坚持倾心留才")) == ["RETAIN"]


def test_what_labels_md_says_is_not_tagged_is_not_inside_any_seed_span():
    """Dates, years, ordinals, document numbers, job titles, 本市/我市 and garbled text."""
    never = ["8月27日", "2020年", "第39位", "济人社发〔2020〕12号", "副主任", "我市", "??蒲袆?"]
    for task in tasks_of(SEED_GOLD):
        text = task["data"]["text"]
        for s in never:
            at = text.find(s)
            while at >= 0:
                inside = [text[a:b] for a, b, _ in spans(task) if a < at + len(s) and at < b]
                # a year may sit inside a name: the event "2020年首都高校济南考察暨毕业生就业座谈会"
                inside = [m for m in inside if not (s == "2020年" and m.startswith("2020年") and len(m) > 5)]
                assert not inside, f"{where(task)}: {s!r} is inside span {inside}"
                at = text.find(s, at + 1)


def test_hard_cases_of_labels_md_in_the_seed_gold():
    tagged = {(m, label) for m, label, _ in seed_spans()}
    # a one-character place abbreviation in a verb phrase is LOC: 来济 -> 济, 在京 -> 京
    assert ("济", "LOC") in tagged and ("京", "LOC") in tagged
    title = seed_task("000_9dc7c4a870a639d6", "原标题")
    at = title["data"]["text"].index("来济") + 1
    assert (at, at + 1, "LOC") in spans(title)
    # a named organization inside a job title is ORG; bare 市委 before a title is not tagged
    assert ("运城市委", "ORG") in tagged and ("济南市政府", "ORG") in tagged
    assert not any(m == "市委" for m, _, _ in seed_spans())
    # durations are QUANTITY
    assert {("两年", "QUANTITY"), ("6周", "QUANTITY"), ("183天", "QUANTITY")} <= tagged
    # reporters' names are PER
    assert {("林晨", "PER"), ("刘楠", "PER"), ("赵吉会", "PER")} <= tagged


def test_nested_names_keep_only_the_longest():
    """北京大学医学院 is one EDU; 济南市人社局 is one ORG with no LOC inside."""
    for task in tasks_of(SEED_GOLD):
        text = task["data"]["text"]
        for a, b, label in spans(task):
            if text[a:b] in ("北京大学医学院", "济南市人社局", "山东省人民政府驻北京办事处"):
                assert [(x, y) for x, y, _ in spans(task) if a <= x and y <= b] == [(a, b)], where(task)
    mentions = [m for m, _, _ in seed_spans()]
    assert "北京大学医学院" in mentions and "济南市人社局" in mentions
