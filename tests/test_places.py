"""Place linking: every LOC of the seed gold, and the rules that settle a shared name."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.errors import InputError
from train.gold import parse_line
from train.labelstudio import load_schema
from train.places import Gazetteer, gazetteer, read_divisions, short_name

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "seeds" / "gold"

# Every distinct LOC mention of seeds/gold, with the division it names (hand-checked
# against the articles; None: no division, i.e. a region, zone, country, town or village).
TRUTH = {
    "北京": "110000", "京": "110000", "山东": "370000", "山东省": "370000", "济南": "370100", "济南市": "370100",
    "济": "370100",  # 来济: 济南's own one-character name, not a province abbreviation
    "聊城": "371500", "大庆": "230600", "大庆市": "230600", "黑龙江": "230000", "永济": "140881",
    "永济市": "140881", "运城": "140800", "中山": "442000", "中山市": "442000",
    "京津冀": None, "粤港澳大湾区": None, "大湾区": None, "深中": None, "深中走廊": None, "珠三角西海岸": None,
    "齐鲁科创大走廊": None, "新旧动能转换核心区": None, "翠亨新区": None, "国际金融城": None,
    "国际医学科学中心": None, "国家量子谷": None, "创新谷": None, "荷兰": None, "华": None,
    "开张镇": None, "东开张村": None,
}  # fmt: skip
# Known and accepted: one-character city names are not linked (济 could be any of several).
UNRESOLVED_BY_DESIGN = {"济"}


def gold_articles() -> list[tuple[str, list[dict]]]:
    """(article text, its LOC/ORG/EDU entities) of each seed gold file, paragraphs joined as predict joins them."""
    schema = load_schema()
    out = []
    for path in sorted(GOLD.glob("*.txt")):
        texts, entities = [], []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            marked = parse_line(line, schema, f"{path}:{n}")
            entities += [{"label": s.label, "text": marked.text[s.start : s.end]} for s in marked.spans]
            texts.append(marked.text)
        out.append(("\n".join(texts), entities))
    return out


def test_every_gold_loc_is_linked_to_its_division_or_left_unresolved():
    gaz = gazetteer()
    seen, wrong, unresolved = 0, [], []
    for text, entities in gold_articles():
        links = gaz.link_entities(entities, text)
        for e, link in zip(entities, links):
            if e["label"] != "LOC":
                continue
            seen += 1
            assert e["text"] in TRUTH, f"a new gold LOC: {e['text']}; add it to TRUTH, hand-checked"
            got = link.division.code if link else None
            if got != TRUTH[e["text"]]:
                (unresolved if got is None else wrong).append(e["text"])
    assert seen >= 150
    assert wrong == []
    assert set(unresolved) == UNRESOLVED_BY_DESIGN


def test_a_place_opening_an_organization_or_university_name_is_linked():
    gaz = gazetteer()
    cases = {
        "济南市人民政府驻京办事处": "370100", "山东省人民政府驻北京办事处": "370000", "北京大学": "110000",
        "大庆市委组织部": "230600", "中国人民大学": None, "清华大学": None, "南开大学": None,
    }  # fmt: skip
    for name, code in cases.items():
        link = gaz.link_opening(name)
        assert (link.division.code if link else None) == code, name


@pytest.mark.parametrize(
    "mention, code, rule",
    [
        ("济南市", "370100", "full name"),
        ("济南", "370100", "short name"),
        ("山东", "370000", "short name"),
        ("宁夏", "640000", "short name"),  # 宁夏回族自治区
        ("永济", "140881", "short name"),  # a county-level city
        ("历下区", "370102", "full name"),  # a district, inside its city
        ("济南市历下区", "370102", "nested names"),
        ("山东济南", "370100", "nested names"),
        ("津", "120000", "abbreviation"),  # 来津
        ("沪", "310000", "abbreviation"),  # 在沪
        ("香港", "810000", "short name"),
        ("澳门", "820000", "short name"),
        ("台湾", "710000", "short name"),
    ],
)
def test_names_short_names_abbreviations_and_nested_names(mention, code, rule):
    link = gazetteer().link(mention)
    assert link is not None and (link.division.code, link.rule) == (code, rule)
    assert link.as_json()["province"] == gazetteer().province(link.division).name


def test_a_shared_name_stays_unresolved_unless_its_article_settles_it():
    gaz = gazetteer()
    assert gaz.link("朝阳区") is None  # Beijing's and Changchun's
    assert gaz.link("中山") is None  # 中山市 (Guangdong) and Dalian's 中山区
    beijing = [{"label": "LOC", "text": "北京"}, {"label": "LOC", "text": "朝阳区"}]
    links = gaz.link_entities(beijing, "北京朝阳区的人才公寓")
    assert (links[1].division.code, links[1].rule) == ("110105", "province in article")
    zhongshan = [{"label": "LOC", "text": "中山"}]
    links = gaz.link_entities(zhongshan, "中山市出台新政。中山将引进人才")
    assert (links[0].division.code, links[0].rule) == ("442000", "full name in article")
    both = [{"label": "LOC", "text": "吉林"}]  # the province and its city of the same name
    assert gaz.link_entities(both, "吉林出台新政")[0] is None


def test_short_names_keep_two_characters_at_least():
    assert short_name("广西壮族自治区") == "广西"
    assert short_name("内蒙古自治区") == "内蒙古"
    assert short_name("延边朝鲜族自治州") == "延边"
    assert short_name("香港特别行政区") == "香港"
    assert short_name("忠县") is None  # not 忠


def test_the_division_file_has_every_level_and_valid_parents():
    divisions = read_divisions()
    by_code = {d.code: d for d in divisions}
    assert len(by_code) == len(divisions) > 3000
    assert {d.level for d in divisions} == {"province", "city", "county"}
    assert all((d.parent == "") == (d.level == "province") for d in divisions)
    assert all(d.parent in by_code for d in divisions if d.parent)


def test_a_bad_division_file_is_one_line_naming_the_line(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("# comment\n370100\t济南市\tcity\t370000\n3701\t历下区\tcounty\t370100\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"d\.tsv: line 3: expected CODE<TAB>NAME"):
        read_divisions(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no divisions"):
        read_divisions(path)
    assert Gazetteer(read_divisions()).link("济南").division.code == "370100"
