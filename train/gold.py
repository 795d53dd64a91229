"""Gold annotations written as inline markup, built into Label Studio exports.

Offsets are never typed by hand: annotators write ``{{LABEL|mention}}`` inside the
text and end a paragraph line with ``## CLASS CLASS`` (or nothing for no class);
this module computes every offset with the same normalization the models use.

Two sources:

* ``seeds/gold/<article stem>.txt``: one line per task of a real seed article, in
  the normalized text (exactly what ``talent-tagger tasks`` produces).
* ``seeds/written/*.txt``: articles written by the team, in their original form
  (traditional script, pinyin glosses, page furniture and all), each starting with
  a ``=== <article id>`` line. They go through the same ``split_article`` as real
  articles, so spans are mapped through the offset map.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from train.errors import InputError
from train.labelstudio import Schema, Span, export_task, load_schema, task_data
from train.text import read_article, split_article

_SPAN = re.compile(r"\{\{([A-Z_]+)\|([^{}|]+)\}\}")
_CLASSES = re.compile(r"\s*##\s*([A-Z ]*)$")


@dataclass(frozen=True)
class MarkedLine:
    text: str  # the line without markup
    spans: tuple[Span, ...]
    classes: tuple[str, ...]


def parse_line(line: str, schema: Schema, where: str) -> MarkedLine:
    """Strip markup from one line, returning the plain text, its spans and classes."""
    classes: tuple[str, ...] = ()
    m = _CLASSES.search(line)
    if m:
        classes = tuple(m.group(1).split())
        line = line[: m.start()]
        for c in classes:
            if c not in schema.classes:
                raise InputError(f"{where}: unknown class {c!r}")
    plain: list[str] = []
    spans: list[Span] = []
    pos = 0
    length = 0
    for s in _SPAN.finditer(line):
        before = line[pos : s.start()]
        plain.append(before)
        length += len(before)
        label, mention = s.group(1), s.group(2)
        if label not in schema.span_labels:
            raise InputError(f"{where}: unknown label {label!r} in {s.group()}")
        if mention != mention.strip():
            raise InputError(f"{where}: span {s.group()} starts or ends with a space")
        spans.append(Span(length, length + len(mention), label))
        plain.append(mention)
        length += len(mention)
        pos = s.end()
    plain.append(line[pos:])
    text = "".join(plain)
    if "{{" in text or "}}" in text:
        raise InputError(f"{where}: broken markup near {text[text.find('{{') if '{{' in text else text.find('}}'):][:30]!r}")
    return MarkedLine(text, tuple(spans), classes)


def build_seed_gold(article: Path, markup: Path, first_id: int, schema: Schema) -> list[dict[str, Any]]:
    """Tasks for one real article from its normalized-markup gold file."""
    paragraphs = split_article(read_article(article))
    lines = [l for l in markup.read_text(encoding="utf-8").splitlines() if l.strip()]
    if len(lines) != len(paragraphs):
        raise InputError(f"{markup}: {len(lines)} lines but {article.name} has {len(paragraphs)} paragraphs")
    tasks = []
    for i, (line, par) in enumerate(zip(lines, paragraphs)):
        where = f"{markup}:{i + 1}"
        marked = parse_line(line, schema, where)
        if marked.text != par.text:
            at = next((k for k, (a, b) in enumerate(zip(marked.text, par.text)) if a != b), min(len(marked.text), len(par.text)))
            raise InputError(f"{where}: text differs from paragraph {par.index} at char {at}: {marked.text[at:at + 15]!r} vs {par.text[at:at + 15]!r}")
        data = task_data(article.stem, article.name, par)
        tasks.append(export_task(first_id + i, data, list(marked.spans), marked.classes))
    return tasks


def build_written(markup: Path, first_id: int, schema: Schema) -> list[dict[str, Any]]:
    """Tasks for the written articles of one markup file (``=== id`` separated)."""
    tasks: list[dict[str, Any]] = []
    articles: list[tuple[str, list[tuple[int, str]]]] = []
    for n, raw in enumerate(markup.read_text(encoding="utf-8").splitlines(), 1):
        if raw.startswith("==="):
            articles.append((raw[3:].strip(), []))
        elif articles:
            articles[-1][1].append((n, raw))
        elif raw.strip():
            raise InputError(f"{markup}:{n}: text before the first '=== <article id>' line")
    for article_id, lines in articles:
        original_parts: list[str] = []
        spans: list[Span] = []
        line_classes: list[tuple[int, int, tuple[str, ...]]] = []
        offset = 0
        for n, raw in lines:
            marked = parse_line(raw, schema, f"{markup}:{n}")
            spans += [Span(s.start + offset, s.end + offset, s.label) for s in marked.spans]
            line_classes.append((offset, offset + len(marked.text), marked.classes))
            original_parts.append(marked.text)
            offset += len(marked.text) + 1
        original = "\n".join(original_parts)
        paragraphs = split_article(original)
        placed = 0
        for par in paragraphs:
            where = f"{markup}: article {article_id} paragraph {par.index}"
            first, last = par.orig_start, par.orig_end
            par_spans = []
            for s in spans:
                if s.start >= first and s.end <= last:
                    idx = [j for j, o in enumerate(par.offsets) if s.start <= o < s.end]
                    if not idx or idx != list(range(idx[0], idx[-1] + 1)):
                        raise InputError(f"{where}: span {original[s.start:s.end]!r} does not map to normalized text")
                    par_spans.append(Span(idx[0], idx[-1] + 1, s.label))
            placed += len(par_spans)
            classes = next(c for a, b, c in line_classes if a <= first < b + 1)
            if len(par.text) > 420:
                raise InputError(f"{where}: paragraph longer than a task; split it")
            tasks.append(export_task(first_id + len(tasks), task_data(article_id, "written", par), par_spans, classes))
        if placed != len(spans):
            lost = [original[s.start:s.end] for s in spans if not any(p.orig_start <= s.start and s.end <= p.orig_end for p in paragraphs)]
            raise InputError(f"{markup}: article {article_id}: spans in dropped or split text: {lost[:3]}")
    return tasks


def build_all(root: Path, schema: Schema | None = None) -> dict[str, list[dict[str, Any]]]:
    """Build every gold export under ``root/seeds`` (file name -> tasks)."""
    schema = schema or load_schema()
    seeds = root / "seeds"
    out: dict[str, list[dict[str, Any]]] = {}
    seed_tasks: list[dict[str, Any]] = []
    for markup in sorted((seeds / "gold").glob("*.txt")):
        article = seeds / "articles" / markup.name
        seed_tasks += build_seed_gold(article, markup, len(seed_tasks) + 1, schema)
    if seed_tasks:
        out["seed_gold.json"] = seed_tasks
    written: list[dict[str, Any]] = []
    for markup in sorted((seeds / "written").glob("*.txt")):
        written += build_written(markup, 100001 + len(written), schema)
    if written:
        out["written.json"] = written
    return out


def main() -> None:
    """Rebuild seeds/annotations/*.json from the markup sources."""
    root = Path(__file__).resolve().parent.parent
    for name, tasks in build_all(root).items():
        path = root / "seeds" / "annotations" / name
        path.write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{path}: {len(tasks)} tasks")


if __name__ == "__main__":
    main()
