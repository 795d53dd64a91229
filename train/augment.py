"""Place swapping: training paragraphs again, with other Chinese places in them.

A few hundred paragraphs name a few dozen cities, and a small tagger learns those names
instead of the contexts places stand in (来X发展, X市委组织部, X籍人才). Real articles name
any of some three thousand cities, counties and districts. Each augmented copy of a
paragraph swaps every place it mentions, with the given ``rate`` per place, for a place
from ``labels/divisions.tsv`` (the administrative divisions of China), in the same form:
大庆市 -> 永济市 and then 大庆 -> 永济 in the same paragraph, and the place at the start of
a longer name too (大庆市委组织部 -> 永济市委组织部, 北京大学 -> 中山大学). Spans move with the
text; labels stay. Only the tagger's training split is augmented, never validation.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from train.errors import InputError
from train.labelstudio import Example, Span
from train.places import DIVISIONS, read_divisions

# Longest first: 自治县 before 县. A short form (大庆 of 大庆市) exists only where what is left
# is the place's own name of two or more characters (not 忠 of 忠县, not 宁夏回族 of 宁夏回族自治区).
_SUFFIXES = ("特别行政区", "自治区", "自治州", "自治县", "自治旗", "林区", "地区", "新区", "市", "县", "区", "省", "州", "盟", "旗")
_SHORTENED = ("市", "区", "省")
# Labels whose names may be or open with a place (a person's name that looks like one is not).
NAMES_WITH_PLACES = ("LOC", "ORG", "EDU", "POLICY", "PROGRAM")


@dataclass(frozen=True)
class Place:
    full: str  # 大庆市
    short: str | None  # 大庆 (None where the name has no short form)


@dataclass(frozen=True)
class Places:
    places: tuple[Place, ...]
    by_form: dict[str, tuple[int, bool]]  # name or short form -> (index, is full form)
    pattern: re.Pattern[str]  # any known form, longest first

    def find(self, text: str, start: int = 0) -> tuple[int, bool, int] | None:
        """(place index, full form?, length) of a known place starting at ``start``."""
        m = self.pattern.match(text, start)
        if not m:
            return None
        idx, full = self.by_form[m.group(0)]
        return idx, full, len(m.group(0))


def _place(name: str) -> Place:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return Place(name, stem if suffix in _SHORTENED and len(stem) >= 2 else None)
    return Place(name, None)


def load_places(path: str | Path = DIVISIONS) -> Places:
    """The names to swap in: every division of a division file (``labels/divisions.tsv``), each name once, in file order."""
    places = tuple(_place(name) for name in dict.fromkeys(d.name for d in read_divisions(path)))
    if len(places) < 2:
        raise InputError(f"{path}: the place list needs at least two names")
    by_form: dict[str, tuple[int, bool]] = {}
    for i, pl in enumerate(places):
        by_form.setdefault(pl.full, (i, True))
        if pl.short:
            by_form.setdefault(pl.short, (i, False))
    pattern = re.compile("|".join(map(re.escape, sorted(by_form, key=len, reverse=True))))
    return Places(places, by_form, pattern)


def _swaps(ex: Example, places: Places, rate: float, rng: random.Random) -> list[tuple[int, int, str]]:
    """(start, end, new text) for each place mention to swap: whole LOC spans, and a place opening another span."""
    chosen: dict[int, Place | None] = {}  # original place -> its stand-in (None: keep)
    with_short = [pl for pl in places.places if pl.short]
    out = []
    for s in ex.spans:
        if s.label not in NAMES_WITH_PLACES:
            continue
        found = places.find(ex.text, s.start)
        if not found:
            continue
        idx, full, length = found
        whole = s.start + length == s.end
        if s.label == "LOC" and not whole:
            continue  # 长三角地区, 海淀区中关村: not a plain place name
        if idx not in chosen:
            original = places.places[idx]
            pool = with_short if original.short else places.places
            chosen[idx] = rng.choice(pool) if rng.random() < rate else None
        new = chosen[idx]
        if new is None or (not full and new.short is None):
            continue
        out.append((s.start, s.start + length, new.full if full else new.short))
    return out


def swap_places(ex: Example, places: Places, rate: float, rng: random.Random) -> Example | None:
    """A copy of ``ex`` with places swapped (None if it names none that the list knows)."""
    swaps = _swaps(ex, places, rate, rng)
    if not swaps:
        return None
    pieces, shift, last = [], [], 0
    for start, end, new in swaps:
        pieces += [ex.text[last:start], new]
        shift.append((start, end, len(new) - (end - start)))
        last = end
    pieces.append(ex.text[last:])

    def moved(i: int, is_end: bool) -> int:
        delta = 0
        for start, end, d in shift:
            if end <= i if is_end else start < i:
                delta += d
        return i + delta

    spans = tuple(Span(moved(s.start, False), moved(s.end, True), s.label) for s in ex.spans)
    return replace(ex, text="".join(pieces), spans=spans, source=f"{ex.source}+places", original="")


def augment_places(examples: Sequence[Example], places: Places, copies: int, rate: float, seed: int) -> list[Example]:
    """``copies`` place-swapped copies of every example that names a known place."""
    rng = random.Random(seed)
    out = []
    for _ in range(copies):
        for ex in examples:
            new = swap_places(ex, places, rate, rng)
            if new is not None:
                out.append(new)
    return out
