"""Metric values: the number and unit of a TALENT_NUM, MONEY, RATIO or QUANTITY span.

The tagger finds spans such as 4.3万人, 3980余万元 or 三千余人; downstream users want
numbers they can add up. :func:`parse_metric` reads Arabic and Chinese numerals, the
multipliers 十/百/千/万/亿, ignores the approximation markers 余/多 (3980余万元 is
39800000 元), turns percentages into fractions (87% -> 0.87) and strips currency words
(新台币960万元 -> 9600000 元). It runs on model output, so it never raises: what it
cannot read gets value ``None``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

METRIC_LABELS: frozenset[str] = frozenset({"TALENT_NUM", "MONEY", "RATIO", "QUANTITY"})

# Default unit when the span has none: 2800万 tagged MONEY is 元.
_DEFAULT_UNIT = {"MONEY": "元", "TALENT_NUM": "人"}

_DIGITS = {
    "零": 0, "〇": 0, "○": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2,
    "三": 3, "叁": 3, "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6,
    "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
_SMALL = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_APPROX = "余多"
# Units that begin with a multiplier character: 千米 is a unit, not "thousand 米".
_UNIT_WORDS = ("千米", "千克", "千瓦", "千帕", "千伏", "千卡", "千兆", "百分点")
# Qualifiers the guideline keeps outside the span; stripped in case the model includes them.
_LEADING = re.compile(
    r"^(?:将近|接近|大约|超过|不少于|不低于|不超过|至少|最高|最多|高达|多达|累计|合计|总计|共计|"
    r"近|约|超|逾|达|共|计|仅|只|上)(?=[\d零〇○一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟])"
)
_CURRENCY_PREFIX = re.compile(r"^(?:新台币|人民币|港币|澳门币)")
_CURRENCY_WORDS = re.compile(r"(?<=元)(?:人民币|新台币|港币)$|^(?:人民币|新台币|港币)(?=元)")
_TRAILING = re.compile(r"(?:左右|以上|以下|上下|之多)$")
_ARABIC = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+")
_RANGE = re.compile(r"^\s*[-–—~～至到]\s*")
_PERCENT_WORD = "百分之"


def _number_value(value: Decimal) -> int | float:
    """An int when the value is whole (43000), else a float (0.87)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _scan(text: str, pos: int) -> tuple[list[tuple[str, Decimal]], int]:
    """Tokenize the numeral at ``text[pos:]``: ("num", v), ("small"/"big", unit), ("zero"/"bad", 0).

    Stops at the first character that is not part of a number; returns the tokens
    and the position after them.
    """
    tokens: list[tuple[str, Decimal]] = []
    n = len(text)
    while pos < n:
        ch = text[pos]
        m = _ARABIC.match(text, pos)
        if m:
            tokens.append(("num", Decimal(m.group().replace(",", ""))))
            pos = m.end()
            continue
        if ch in _DIGITS:
            run = pos
            while run < n and text[run] in _DIGITS:
                run += 1
            digits = text[pos:run]
            if text.startswith("点", run) and run + 1 < n and text[run + 1] in _DIGITS:
                frac_end = run + 1
                while frac_end < n and text[frac_end] in _DIGITS:
                    frac_end += 1
                frac = "".join(str(_DIGITS[c]) for c in text[run + 1 : frac_end])
                whole = "".join(str(_DIGITS[c]) for c in digits)
                tokens.append(("num", Decimal(f"{whole}.{frac}")))
                pos = frac_end
                continue
            if digits[0] in "零〇○" and tokens:
                # 一万零五: the zero says "no colloquial scaling" for what follows.
                tokens.append(("zero", Decimal(0)))
                digits = digits.lstrip("零〇○")
                if not digits:
                    pos = run
                    continue
            if len(digits) > 1 and run < n and (text[run] in _SMALL or text[run] in _BIG):
                # 三四百人, 五六十家: an approximate range, not one number.
                tokens.append(("bad", Decimal(0)))
                pos = run
                continue
            # One digit is its value; a run without units is positional (二〇二〇).
            tokens.append(("num", Decimal("".join(str(_DIGITS[c]) for c in digits))))
            pos = run
            continue
        if ch in _SMALL or ch in _BIG:
            if tokens and any(text.startswith(w, pos) for w in _UNIT_WORDS):
                break
            tokens.append(("small" if ch in _SMALL else "big", Decimal(_SMALL.get(ch) or _BIG[ch])))
            pos += 1
            continue
        if ch in _APPROX and tokens:
            pos += 1
            continue
        break
    return tokens, pos


def _evaluate(tokens: list[tuple[str, Decimal]]) -> Decimal | None:
    """Value of numeral tokens: 一万五千 -> 15000, 4.3万 -> 43000, 两百五 -> 250."""
    if any(kind == "bad" for kind, _ in tokens):
        return None
    if not any(kind == "num" or kind == "small" for kind, _ in tokens):
        return None
    total = Decimal(0)
    section = Decimal(0)
    number: Decimal | None = None
    last_unit: Decimal | None = None
    after_zero = False
    for kind, value in tokens:
        if kind == "zero":
            after_zero = True
        elif kind == "num":
            if number is not None:
                return None  # two numbers in a row (e.g. 3 5): not a numeral we can read
            number = value
        elif kind == "small":
            section += (number if number is not None else Decimal(1)) * value
            number = None
            last_unit = value
            after_zero = False
        else:  # big: 万 multiplies what came since the last 亿; 亿 multiplies everything
            if value >= 10**8:
                total = (total + section + (number or 0)) * value
            else:
                total += (section + (number or 0)) * value
            if number is None and section == 0 and total == 0:
                return None  # a bare 万 with nothing before it
            section = Decimal(0)
            number = None
            last_unit = value
            after_zero = False
    if number is not None:
        colloquial = (
            last_unit is not None
            and last_unit >= 100
            and not after_zero
            and number < 10
            and number == number.to_integral_value()
        )
        # 一万五 is 15000 and 两百五 is 250: a trailing digit counts in the next lower place.
        section += number * (last_unit / 10) if colloquial else number
    return total + section


def _clean_unit(unit: str, label: str) -> str:
    unit = unit.strip().strip("，,。.;；、:：)）\"'“”")
    unit = _TRAILING.sub("", unit).strip()
    unit = _CURRENCY_WORDS.sub("", unit)
    return unit or _DEFAULT_UNIT.get(label, "")


def parse_metric(text: str, label: str = "QUANTITY") -> tuple[int | float | None, str | None]:
    """The numeric value and unit of a metric span; ``(None, unit)`` when unreadable.

    4.3万人 -> (43000, "人"); 3980余万元 -> (39800000, "元"); 87% -> (0.87, "%");
    新台币960万元 -> (9600000, "元"); 2800万 as MONEY -> (28000000, "元").
    Ranges (3-5年) have no single value: (None, "年"). Never raises.
    """
    try:
        return _parse(text, label)
    except (InvalidOperation, ArithmeticError, ValueError, KeyError, IndexError):
        return None, None


def _parse(text: str, label: str) -> tuple[int | float | None, str | None]:
    s = (text or "").strip()
    s = _LEADING.sub("", s)
    s = _CURRENCY_PREFIX.sub("", s).strip()
    percent_word = s.startswith(_PERCENT_WORD)
    if percent_word:
        s = s[len(_PERCENT_WORD) :]
    tokens, end = _scan(s, 0)
    value = _evaluate(tokens)
    rest = s[end:]
    if value is None:
        unit = _clean_unit(rest, label) if rest != s else None
        return None, unit
    if _RANGE.match(rest):
        # 3-5年, 10至20万元: a range is not one value; keep the unit of its upper end.
        after = rest[_RANGE.match(rest).end() :]
        _, end2 = _scan(after, 0)
        return None, _clean_unit(after[end2:], label) if end2 else _clean_unit(rest, label)
    if percent_word:
        return _number_value(value / 100), "%"
    unit = _clean_unit(rest, label)
    if unit in ("%", "％"):
        return _number_value(value / 100), "%"
    if unit == "‰":
        return _number_value(value / 1000), "‰"
    if unit == "成" and label == "RATIO":
        return _number_value(value / 10), "%"
    return _number_value(value), unit
