"""Metric values and units (train/quantities.py), table-driven."""

import pytest
from hypothesis import given, strategies as st

from train.quantities import parse_metric

CASES = [
    # (span text, label, value, unit) -- the examples of LABELS.md and the brief first
    ("4.3万人", "TALENT_NUM", 43000, "人"),
    ("3980余万元", "MONEY", 39800000, "元"),
    ("87%", "RATIO", 0.87, "%"),
    ("17.6%", "RATIO", 0.176, "%"),
    ("1300余人次", "TALENT_NUM", 1300, "人次"),
    ("52所", "QUANTITY", 52, "所"),
    ("1030平方公里", "QUANTITY", 1030, "平方公里"),
    ("57.91亿元人民币", "MONEY", 5791000000, "元"),
    ("新台币960万元", "MONEY", 9600000, "元"),
    ("2800万", "MONEY", 28000000, "元"),
    ("三千余人", "TALENT_NUM", 3000, "人"),
    ("两百名", "TALENT_NUM", 200, "名"),
    ("十二所", "QUANTITY", 12, "所"),
    ("一万五千人", "TALENT_NUM", 15000, "人"),
    # more numerals
    ("7万人", "TALENT_NUM", 70000, "人"),
    ("24000多个", "QUANTITY", 24000, "个"),
    ("24,000个", "QUANTITY", 24000, "个"),
    ("41场次", "QUANTITY", 41, "场次"),
    ("十余所", "QUANTITY", 10, "所"),
    ("十多万人", "TALENT_NUM", 100000, "人"),
    ("二十家", "QUANTITY", 20, "家"),
    ("一百零五人", "TALENT_NUM", 105, "人"),
    ("一千零五十名", "TALENT_NUM", 1050, "名"),
    ("一万五", "TALENT_NUM", 15000, "人"),
    ("两百五十万元", "MONEY", 2500000, "元"),
    ("一亿五千万元", "MONEY", 150000000, "元"),
    ("5百万元", "MONEY", 5000000, "元"),
    ("1.2亿元", "MONEY", 120000000, "元"),
    ("4万余人", "TALENT_NUM", 40000, "人"),
    ("三点五万人", "TALENT_NUM", 35000, "人"),
    ("百分之八十", "RATIO", 0.8, "%"),
    ("百分之十二点五", "RATIO", 0.125, "%"),
    ("8成", "RATIO", 0.8, "%"),
    ("3个百分点", "RATIO", 3, "个百分点"),
    ("26天", "QUANTITY", 26, "天"),
    ("35岁", "QUANTITY", 35, "岁"),
    ("5千米", "QUANTITY", 5, "千米"),
    ("10万千瓦", "QUANTITY", 100000, "千瓦"),
    ("12万元/人", "MONEY", 120000, "元/人"),
    ("3000人左右", "TALENT_NUM", 3000, "人"),
    ("30万美元", "MONEY", 300000, "美元"),
    # qualifiers the guideline keeps outside, in case the model includes them
    ("近7万人", "TALENT_NUM", 70000, "人"),
    ("超过3000人", "TALENT_NUM", 3000, "人"),
    ("最高30万元", "MONEY", 300000, "元"),
    # full-width digits (normalization turns them half-width, but be lenient)
    ("１２所", "QUANTITY", 12, "所"),
]


@pytest.mark.parametrize(("text", "label", "value", "unit"), CASES)
def test_parse_metric(text, label, value, unit):
    got_value, got_unit = parse_metric(text, label)
    assert got_unit == unit
    assert got_value == pytest.approx(value) and type(got_value) is type(value)


@pytest.mark.parametrize(
    ("text", "label", "unit"),
    [
        ("数十家", "QUANTITY", None),  # no number at all
        ("家", "QUANTITY", None),
        ("", "MONEY", None),
        ("3-5年", "QUANTITY", "年"),  # a range has no single value
        ("10至20万元", "MONEY", "元"),
        ("三四百人", "TALENT_NUM", "人"),  # an approximate range
        ("万人", "TALENT_NUM", "人"),
    ],
)
def test_unreadable_metrics_have_no_value(text, label, unit):
    assert parse_metric(text, label) == (None, unit)


@given(st.text(max_size=30), st.sampled_from(["TALENT_NUM", "MONEY", "RATIO", "QUANTITY", "PER"]))
def test_never_raises_on_model_output(text, label):
    value, unit = parse_metric(text, label)
    assert value is None or isinstance(value, (int, float))
    assert unit is None or isinstance(unit, str)
