"""Quality control of annotations: counts, and mentions tagged in one place but missed in another."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from train.labelstudio import Example
from train.text import normalize

_CJK = re.compile(r"[\u3400-\u9fff]")


def is_traditional(original: str) -> bool:
    """True when simplification changed at least one CJK character of the original."""
    norm = normalize(original)
    return any(
        _CJK.match(ch) and ch != original[off] for ch, off in zip(norm.text, norm.offsets)
    )


@dataclass
class Missed:
    """A string tagged with ``label`` somewhere but left untagged in ``task_id``."""

    text: str
    label: str
    task_id: int | None
    article_id: str
    start: int


@dataclass
class CorpusStats:
    paragraphs: int = 0
    articles: int = 0
    spans: Counter = field(default_factory=Counter)
    classes: Counter = field(default_factory=Counter)
    class_sets: Counter = field(default_factory=Counter)
    scripts: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    conflicts: dict[str, Counter] = field(default_factory=dict)  # same string, several labels
    missed: list[Missed] = field(default_factory=list)


def corpus_stats(examples: list[Example]) -> CorpusStats:
    """Counts per label, class and script, plus the inconsistencies an annotator should look at."""
    stats = CorpusStats(paragraphs=len(examples), articles=len({e.article_id for e in examples}))
    labels_of: dict[str, Counter] = defaultdict(Counter)
    for e in examples:
        stats.sources["written" if e.source == "written" else "real"] += 1
        for s in e.spans:
            stats.spans[s.label] += 1
            labels_of[e.text[s.start : s.end]][s.label] += 1
        stats.classes.update(e.classes)
        stats.class_sets[" + ".join(e.classes) or "(none)"] += 1
        if e.original:
            stats.scripts["traditional" if is_traditional(e.original) else "simplified"] += 1
    stats.conflicts = {t: c for t, c in labels_of.items() if len(c) > 1}
    # A mention is "missed" where its string occurs outside every span of another paragraph.
    # Single characters (津, 沪) and strings with several labels are too ambiguous to flag.
    mentions = {t: c.most_common(1)[0][0] for t, c in labels_of.items() if len(t) > 1 and len(c) == 1}
    if mentions:
        finder = re.compile("|".join(re.escape(t) for t in sorted(mentions, key=len, reverse=True)))
        for e in examples:
            covered = [False] * len(e.text)
            for s in e.spans:
                covered[s.start : s.end] = [True] * (s.end - s.start)
            for m in finder.finditer(e.text):
                if m.start() and m.group()[0].isdigit() and (e.text[m.start() - 1].isdigit() or e.text[m.start() - 1] == "."):
                    continue  # the tail of a longer number: 1年 inside 2021年
                if not any(covered[m.start() : m.end()]):
                    stats.missed.append(Missed(m.group(), mentions[m.group()], e.task_id, e.article_id, m.start()))
    return stats
