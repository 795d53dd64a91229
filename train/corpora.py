"""Public Chinese corpora (../shared/corpora): readers, label maps, Label Studio exports.

Used for pretraining text, auxiliary NER training and the CLUENER benchmark. Every
reader yields ``(text, spans)`` with spans as ``(start, end_exclusive, raw_label)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

from train.errors import InputError
from train.labelstudio import Example, Span, export_task
from train.text import normalize

Record = tuple[str, list[tuple[int, int, str]]]

# Raw corpus labels -> this project's labels; unmapped labels are dropped.
LABEL_MAPS: dict[str, dict[str, str]] = {
    "cluener": {"name": "PER", "government": "ORG", "organization": "ORG", "company": "ORG", "address": "LOC"},
    "msra": {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "NR": "PER", "NT": "ORG", "NS": "LOC"},
    "peoples_daily": {"PER": "PER", "ORG": "ORG", "LOC": "LOC"},
    "weibo": {"PER.NAM": "PER", "ORG.NAM": "ORG", "LOC.NAM": "LOC", "GPE.NAM": "LOC"},
    "resume": {"NAME": "PER", "ORG": "ORG", "LOC": "LOC"},  # its EDU is a degree, not a school
    # the benchmark keeps CLUENER's own ten types
    "cluener_full": {
        t: t
        for t in ("address", "book", "company", "game", "government", "movie", "name", "organization", "position", "scene")
    },
}


def read_cluener(path: Path) -> Iterator[Record]:
    """CLUENER2020 JSONL: {text, label: {type: {mention: [[start, end_inclusive]]}}}."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise InputError(f"{path}:{n}: not a CLUENER record") from None
            spans = [
                (s, e + 1, label)
                for label, mentions in (obj.get("label") or {}).items()
                for positions in mentions.values()
                for s, e in positions
            ]
            yield text, sorted(spans)


def read_char_tagged(path: Path) -> Iterator[Record]:
    """One character and its tag per line (BIO or BMES), blank line between sentences.

    Handles TAB or space separators and Weibo's segment digit after the character.
    """
    chars: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").replace("\t", " ").split(" ")
            parts = [p for p in parts if p]
            if len(parts) < 2:
                if chars:
                    yield "".join(chars), _spans_from_tags(tags)
                chars, tags = [], []
                continue
            ch, tag = parts[0], parts[-1]
            if len(ch) == 2 and ch[1].isdigit() and "weibo" in path.name.lower():
                ch = ch[0]
            chars.append(ch[0] if ch else " ")
            tags.append(tag)
    if chars:
        yield "".join(chars), _spans_from_tags(tags)


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
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            text = line.rsplit("\t", 1)[0].strip()
            if text:
                yield text, []


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


def mapped_examples(records: Iterable[Record], label_map: dict[str, str], prefix: str) -> list[Example]:
    """Corpus records as training examples: labels mapped, text normalized with spans carried over.

    Each sentence is its own "article" so a split by article stays a split by sentence.
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
                mapped.append(Span(idx[0], idx[-1] + 1, label_map[label]))
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
