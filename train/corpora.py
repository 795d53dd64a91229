"""Corpus files: readers, label maps, Label Studio exports. The one place that parses them.

Auxiliary NER training and the CLUENER benchmark read the public corpora of
../shared/corpora by file name (``read_corpus_file``): every reader yields ``(text, spans)``
with spans as ``(start, end_exclusive, raw_label)``. Pretraining reads any text file,
those corpora included, as normalized text units (``text_units``: format from the content).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Iterator

from train.errors import InputError
from train.labelstudio import Example, Span, export_task
from train.text import normalize, read_article, split_article

Record = tuple[str, list[tuple[int, int, str]]]

# Raw corpus labels -> this project's labels; unmapped labels are dropped.
LABEL_MAPS: dict[str, dict[str, str]] = {
    "cluener": {"name": "PER", "government": "ORG", "organization": "ORG", "company": "ORG", "address": "LOC"},
    "msra": {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "NR": "PER", "NT": "ORG", "NS": "LOC"},
    "peoples_daily": {"PER": "PER", "ORG": "ORG", "LOC": "LOC"},
    "weibo": {"PER.NAM": "PER", "ORG.NAM": "ORG", "LOC.NAM": "LOC", "GPE.NAM": "LOC"},
    "resume": {"NAME": "PER", "ORG": "ORG", "LOC": "LOC"},  # its EDU is a degree, not a school
    # the benchmark keeps CLUENER's own ten types (no ORG, so EDU_NAME leaves it alone)
    "cluener_full": {
        t: t
        for t in ("address", "book", "company", "game", "government", "movie", "name", "organization", "position", "scene")
    },
}


# The corpora file universities, schools and institutes under ORG; LABELS.md makes them EDU.
# A mapped ORG whose name ends like one becomes EDU (北京大学, 中国科学院, 中央党校, 化学研究所),
# while 北京大学出版社 or 清华大学附属医院 stay ORG.
EDU_NAME = re.compile(r"(大学|学院|学校|中学|小学|党校|研究院|研究所)$")


# Format names, as the pretraining card lists them.
JSONL, CHAR_TAGGED, HEADLINES, ARTICLE = "jsonl", "char-tagged", "headlines", "article"
_HEADLINE = re.compile(r"^(.+)\t(\d+)\s*$")
_TAGGED = re.compile(r"^\S+[\t ]+(O|[BIMES]-\S+)\s*$")


def _lines(text: str) -> list[str]:
    """Lines as open() splits them (not str.splitlines: a JSON line's text may hold U+2028)."""
    return re.split(r"\r\n?|\n", text)


def _json_texts(path: Path, lines: list[str]) -> Iterator[tuple[int, dict, str]]:
    """(line number, object, text) of each JSON line with a 'text' string; blank lines skipped."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            text = obj["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{n}: expected a JSON object with a 'text' field") from None
        if not isinstance(text, str):
            raise InputError(f"{path}:{n}: 'text' is not a string")
        yield n, obj, text


def _tagged_sentences(path: Path, lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(characters, tags) of each sentence: one 'CHARACTER TAG' line a character, blank line between.

    Weibo NER appends the character's position in its word ('科0'); the character is the first one.
    """
    chars: list[str] = []
    tags: list[str] = []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            if chars:
                yield "".join(chars), tags
            chars, tags = [], []
            continue
        if len(parts) != 2:
            raise InputError(f"{path}:{n}: expected 'CHARACTER TAG', got {line.strip()[:40]!r}")
        chars.append(parts[0][0])
        tags.append(parts[1])
    if chars:
        yield "".join(chars), tags


def _headlines(lines: list[str]) -> Iterator[str]:
    """The headline of each 'headline TAB class id' line; other lines are left out."""
    for line in lines:
        if m := _HEADLINE.match(line):
            yield m.group(1)


def read_cluener(path: Path) -> Iterator[Record]:
    """CLUENER2020 JSONL: {text, label: {type: {mention: [[start, end_inclusive]]}}}."""
    for n, obj, text in _json_texts(path, _lines(read_article(path))):
        try:
            spans = sorted(
                (s, e + 1, label)
                for label, mentions in (obj.get("label") or {}).items()
                for positions in mentions.values()
                for s, e in positions
            )
        except (AttributeError, TypeError, ValueError):
            raise InputError(f"{path}:{n}: 'label' is not {{type: {{mention: [[start, end], ...]}}}}") from None
        yield text, spans


def read_char_tagged(path: Path) -> Iterator[Record]:
    """One character and its tag per line (BIO or BMES), blank line between sentences."""
    for text, tags in _tagged_sentences(path, _lines(read_article(path))):
        yield text, _spans_from_tags(tags)


def _spans_from_tags(tags: list[str]) -> list[tuple[int, int, str]]:
    spans = []
    start, label = None, None
    for i, tag in enumerate(tags + ["O"]):
        prefix, _, typ = tag.partition("-")
        continues = prefix in ("I", "M", "E") and typ == label and start is not None
        if not continues and start is not None:
            spans.append((start, i, label))
            start, label = None, None
        if prefix in ("B", "S") or (prefix in ("I", "M", "E") and start is None):
            start, label = i, typ
        if prefix in ("E", "S") and start is not None:
            spans.append((start, i + 1, label))
            start, label = None, None
    return spans


def read_thucnews(path: Path) -> Iterator[Record]:
    """THUCNews headlines: 'headline TAB class id' (no spans)."""
    for headline in _headlines(_lines(read_article(path))):
        yield headline, []


def read_corpus_file(path: Path) -> Iterator[Record]:
    """Pick the reader by file name (the formats of ../shared/corpora)."""
    name = path.name.lower()
    if name.endswith(".jsonl"):
        return read_cluener(path)
    if "thucnews" in str(path).lower() and name.endswith(".txt") and name != "class.txt":
        return read_thucnews(path)
    if name.endswith((".bio.tsv", ".bmes", ".dev", ".test", ".train")):
        return read_char_tagged(path)
    raise InputError(f"{path}: unknown corpus format (expected CLUENER .jsonl, char-tagged BIO/BMES, or THUCNews .txt)")


def sniff_format(lines: list[str]) -> str:
    """A text file's format from its first non-blank lines: char-tagged, headlines, else article."""
    sample = [ln for ln in lines[:400] if ln.strip()][:100]
    if sample and all(_TAGGED.match(ln) for ln in sample):
        return CHAR_TAGGED
    if sample and all(_HEADLINE.match(ln) for ln in sample):
        return HEADLINES
    return ARTICLE


def text_units(path: Path) -> tuple[str, list[str]]:
    """A file's format and its normalized text units, for pretraining on unlabeled text of any kind.

    .jsonl/.json: JSON lines with a 'text' field; anything else by its content (``sniff_format``),
    whatever its name. A sentence or headline is one unit; an article or a JSON text gives one
    unit a paragraph (``split_article``).
    """
    raw = read_article(path)  # encoding detected; an empty, binary or undecodable file is an InputError
    lines = _lines(raw)
    if path.suffix.lower() in (".jsonl", ".json"):
        return JSONL, [p.text for _, _, text in _json_texts(path, lines) for p in split_article(text)]
    fmt = sniff_format(lines)
    if fmt == CHAR_TAGGED:
        units = [normalize(text).text for text, _ in _tagged_sentences(path, lines)]
    elif fmt == HEADLINES:
        units = [normalize(headline).text for headline in _headlines(lines)]
    else:
        units = [p.text for p in split_article(raw)]
    return fmt, [u for u in units if u]


def mapped_examples(records: Iterable[Record], label_map: dict[str, str], prefix: str, edu: bool = True) -> list[Example]:
    """Corpus records as training examples: labels mapped, text normalized with spans carried over.

    Each sentence is its own "article" so a split by article stays a split by sentence.
    An ORG named like a school or institute becomes EDU (``EDU_NAME``) unless ``edu`` is False.
    """
    examples = []
    for i, (raw, spans) in enumerate(records):
        norm = normalize(raw)
        if not norm.text:
            continue
        mapped = []
        for s, e, label in spans:
            if label not in label_map:
                continue
            idx = [j for j, o in enumerate(norm.offsets) if s <= o < e]
            if idx:
                target = label_map[label]
                if edu and target == "ORG" and EDU_NAME.search(raw[s:e]):
                    target = "EDU"
                mapped.append(Span(idx[0], idx[-1] + 1, target))
        examples.append(Example(norm.text, tuple(_longest_first(mapped)), (), f"{prefix}-{i}", 0, None, prefix))
    return examples


def _longest_first(spans: list[Span]) -> list[Span]:
    """Drop spans nested in or overlapping a longer one (LABELS.md: tag the longest name only)."""
    kept: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start - s.end, s.start)):
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def to_labelstudio_export(examples: Iterable[Example]) -> list[dict]:
    """Examples as a Label Studio JSON export, so corpora go through the real import path."""
    out = []
    for i, ex in enumerate(examples, 1):
        data = {"text": ex.text, "article_id": ex.article_id, "paragraph": ex.paragraph, "source": ex.source, "original": ex.text}
        out.append(export_task(i, data, list(ex.spans), ex.classes))
    return out
