"""Place linking: LOC entities, and the place opening an ORG or EDU name, to China's
administrative divisions (``labels/divisions.tsv``: code, name, level, parent).

A mention is looked up among every division's forms: the full name (济南市), its short
name (济南; 宁夏 of 宁夏回族自治区; none shorter than two characters, so not 忠 of
忠县), the one-character abbreviation of a province (LABELS.md: 来津 -> 津 -> 天津市), or
a chain of them read as nested divisions (济南市历下区, 山东济南). What no rule settles
stays unresolved (``None``): a name shared by divisions (朝阳区 is in Beijing and in
Changchun; 中山 is 中山市 and Dalian's 中山区) is decided only by the article it
stands in, when that article names one of them in full or names the province of only
one of them. Every link says which rule won (``rule``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from train.errors import InputError
from train.files import PROJECT_ROOT

DIVISIONS = PROJECT_ROOT / "labels" / "divisions.tsv"
LEVELS = ("province", "city", "county")

# One-character abbreviations of the provinces (the official ones, and the second ones in
# common use: 蜀 川, 黔 贵, 滇 云, 秦 陕, 陇 甘).
ABBREVIATIONS = {
    "京": "110000", "津": "120000", "冀": "130000", "晋": "140000", "蒙": "150000", "辽": "210000",
    "吉": "220000", "黑": "230000", "沪": "310000", "苏": "320000", "浙": "330000", "皖": "340000",
    "闽": "350000", "赣": "360000", "鲁": "370000", "豫": "410000", "鄂": "420000", "湘": "430000",
    "粤": "440000", "桂": "450000", "琼": "460000", "渝": "500000", "川": "510000", "蜀": "510000",
    "贵": "520000", "黔": "520000", "云": "530000", "滇": "530000", "藏": "540000", "陕": "610000",
    "秦": "610000", "甘": "620000", "陇": "620000", "青": "630000", "宁": "640000", "新": "650000",
    "台": "710000", "港": "810000", "澳": "820000",
}  # fmt: skip
_NATIONS = (
    "汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲 拉祜 水 东乡 纳西 "
    "景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌 普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 "
    "保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴 珞巴 基诺 高山"
).split()
_NATION = "|".join(sorted(_NATIONS, key=len, reverse=True))
# A full name = its own name (two characters at least), ethnic names, a type suffix.
_SHORT = re.compile(
    rf"(?P<stem>..+?)(?:(?:{_NATION})族?)*"
    r"(?:特别行政区|自治区|自治州|自治县|自治旗|地区|林区|新区|省|市|盟|县|区|旗)"
)


@dataclass(frozen=True)
class Division:
    code: str  # 6 digits, GB/T 2260 style
    name: str
    level: str  # province, city or county
    parent: str  # the code of the division it belongs to ("" for a province)


@dataclass(frozen=True)
class Link:
    """A mention resolved to a division, and the rule that resolved it."""

    division: Division
    province: Division
    rule: str

    def as_json(self) -> dict[str, str]:
        """predict's ``place`` field."""
        d = self.division
        return {"code": d.code, "name": d.name, "level": d.level, "province": self.province.name, "rule": self.rule}


def short_name(name: str) -> str | None:
    """济南市 -> 济南, 广西壮族自治区 -> 广西, 香港特别行政区 -> 香港; None where fewer than two characters would be left (忠县)."""
    m = _SHORT.fullmatch(name)
    return m["stem"] if m else None


def read_divisions(path: str | Path = DIVISIONS) -> list[Division]:
    """The divisions of a TSV file (code, name, level, parent; ``#`` comments); one InputError line for a bad one."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the division list ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the division list is not UTF-8 text") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 4 or not re.fullmatch(r"\d{6}", fields[0]) or fields[2] not in LEVELS:
            raise InputError(f"{path}: line {n}: expected CODE<TAB>NAME<TAB>LEVEL<TAB>PARENT (6-digit code, level one of {', '.join(LEVELS)})")
        out.append(Division(*fields))
    if not out:
        raise InputError(f"{path}: no divisions in the file")
    return out


class Gazetteer:
    """Every division by code and by each form of its name."""

    def __init__(self, divisions: Iterable[Division]):
        self.by_code = {d.code: d for d in divisions}
        self.forms: dict[str, dict[str, tuple[Division, str]]] = {}  # form -> code -> (division, kind)
        for d in self.by_code.values():
            self._add(d.name, d, "full name")
            short = short_name(d.name)
            if short:
                self._add(short, d, "short name")
        for ch, code in ABBREVIATIONS.items():
            if code in self.by_code:
                self._add(ch, self.by_code[code], "abbreviation")
        multi = sorted((f for f in self.forms if len(f) > 1), key=len, reverse=True)
        self._prefix = re.compile("|".join(map(re.escape, multi)))

    def _add(self, form: str, d: Division, kind: str) -> None:
        self.forms.setdefault(form, {}).setdefault(d.code, (d, kind))

    def province(self, d: Division) -> Division:
        while d.parent:
            d = self.by_code[d.parent]
        return d

    def _within(self, d: Division, outer: Division) -> bool:
        while d.parent:
            if d.parent == outer.code:
                return True
            d = self.by_code[d.parent]
        return False

    def candidates(self, mention: str) -> list[tuple[Division, str]]:
        """(division, how the mention names it) for every division the mention may be, in code order."""
        exact = self.forms.get(mention)
        if exact:
            return sorted(exact.values(), key=lambda c: c[0].code)
        chain = self._chain(mention)
        return [(chain, "nested names")] if chain else []

    def _chain(self, mention: str) -> Division | None:
        """济南市历下区 / 山东济南: consecutive names, each inside the one before; the last, if one reading fits."""
        outer: list[Division] = []
        pos = names = 0
        while pos < len(mention):
            m = self._prefix.match(mention, pos)
            if not m:
                return None
            options = [d for d, _ in self.forms[m.group()].values() if not outer or any(self._within(d, o) for o in outer)]
            if not options:
                return None
            outer, pos, names = options, m.end(), names + 1
        return outer[0] if names > 1 and len(outer) == 1 else None

    def link(self, mention: str, article: ArticlePlaces | None = None) -> Link | None:
        """The division a LOC mention names, or None (unknown, or ambiguous even in its article)."""
        found = self.candidates(mention)
        if len(found) == 1:
            d, kind = found[0]
            return Link(d, self.province(d), kind)
        return self._decide([d for d, _ in found], article)

    def link_opening(self, name: str, article: ArticlePlaces | None = None) -> Link | None:
        """The place an ORG/EDU name opens with (济南市人社局 -> 济南市; 山东大学 -> 山东省).

        A short name opens a name only at province or city level (南开大学 is no district's).
        """
        m = self._prefix.match(name)
        if not m or m.end() == len(name):
            return None
        found = [(d, k) for d, k in self.forms[m.group()].values() if k == "full name" or d.level != "county"]
        if len(found) == 1:
            return Link(found[0][0], self.province(found[0][0]), f"opening {found[0][1]}")
        return self._decide([d for d, _ in found], article, "opening ")

    def _decide(self, options: Sequence[Division], article: ArticlePlaces | None, prefix: str = "") -> Link | None:
        if len(options) < 2 or article is None:
            return None
        named = [d for d in options if d.name in article.text]
        if len(named) == 1:
            return Link(named[0], self.province(named[0]), prefix + "full name in article")
        inside = [d for d in options if self.province(d).code in article.provinces]
        if len(inside) == 1:
            return Link(inside[0], self.province(inside[0]), prefix + "province in article")
        return None

    def link_entities(self, entities: Sequence[dict[str, Any]], text: str) -> list[Link | None]:
        """Links for an article's entities (``label``, ``text``), LOC by its name, ORG/EDU by the place opening it.

        Two passes: what is unambiguous alone first, then the rest with the provinces that
        the first pass found in the article.
        """
        first = [self._link_one(e, None) for e in entities]
        article = ArticlePlaces(text, frozenset(link.province.code for link in first if link))
        return [link or self._link_one(e, article) for link, e in zip(first, entities)]

    def _link_one(self, entity: dict[str, Any], article: ArticlePlaces | None) -> Link | None:
        if entity["label"] == "LOC":
            return self.link(entity["text"], article)
        if entity["label"] in PLACE_OPENING:
            return self.link_opening(entity["text"], article)
        return None


PLACE_OPENING = ("ORG", "EDU")  # labels whose names may open with a place
LINKED = ("LOC", *PLACE_OPENING)  # the labels whose entities get a ``place`` (a division, or None)


@dataclass(frozen=True)
class ArticlePlaces:
    """What an article says about places, to settle a shared name: its text and the provinces it names."""

    text: str
    provinces: frozenset[str]


@lru_cache(maxsize=4)
def gazetteer(path: str = str(DIVISIONS)) -> Gazetteer:
    """The gazetteer of a division file, read once per process."""
    return Gazetteer(read_divisions(path))
