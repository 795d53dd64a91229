"""Label Studio: the label schema, import tasks, and reading annotation exports.

The label names come from ``labels/label_config.xml`` only; everything else asks
:func:`load_schema` for them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from label_studio_sdk.label_interface import LabelInterface

from train.errors import InputError
from train.text import Paragraph, read_article, split_article

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LABEL_CONFIG = PROJECT_ROOT / "labels" / "label_config.xml"
SPAN_CONTROL = "label"
CLASS_CONTROL = "measure"
TEXT_OBJECT = "text"


@dataclass(frozen=True)
class Schema:
    """Label names and the parsed Label Studio config they come from."""

    xml: str
    span_labels: tuple[str, ...]
    classes: tuple[str, ...]

    @property
    def interface(self) -> LabelInterface:
        return LabelInterface(self.xml)


@lru_cache(maxsize=4)
def load_schema(path: str | Path = LABEL_CONFIG) -> Schema:
    """Parse the Label Studio config and read the span labels and classes from it."""
    path = Path(path)
    try:
        xml = path.read_text(encoding="utf-8")
        li = LabelInterface(xml)
        spans = tuple(li.get_control(SPAN_CONTROL).labels)
        classes = tuple(li.get_control(CLASS_CONTROL).labels)
    except (OSError, Exception) as exc:  # the SDK raises several types for a bad config
        raise InputError(f"{path}: not a usable Label Studio config ({exc})") from None
    return Schema(xml, spans, classes)


# --------------------------------------------------------------------------- tasks


def task_data(article_id: str, source: str, par: Paragraph) -> dict[str, Any]:
    """The data of one import task (LABELS.md "Unit of annotation")."""
    return {
        "text": par.text,
        "article_id": article_id,
        "paragraph": par.index,
        "source": source,
        "original": par.original,
        "orig_start": par.orig_start,
    }


def tasks_for_articles(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Label Studio import tasks, one per paragraph, for article files."""
    tasks = []
    for path in paths:
        path = Path(path)
        paragraphs = split_article(read_article(path))
        if not paragraphs:
            raise InputError(f"{path}: no article text left after normalization")
        tasks += [{"data": task_data(path.stem, path.name, p)} for p in paragraphs]
    return tasks


# --------------------------------------------------------------------------- exports


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Example:
    """One annotated paragraph, ready for training or evaluation."""

    text: str
    spans: tuple[Span, ...]
    classes: tuple[str, ...]
    article_id: str
    paragraph: int
    task_id: int | None = None
    source: str = ""
    original: str = ""  # the paragraph before normalization, when the task carries it


@dataclass
class ExportData:
    examples: list[Example] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> number of tasks


def _latest_annotation(task: dict) -> dict | None:
    live = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not live:
        return None
    return max(live, key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a.get("id") or 0))


def _parse_task(task: Any, schema: Schema, where: str) -> Example | None:
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise InputError(f"{where}: not a Label Studio task (no 'data' object)")
    data = task["data"]
    text = data.get(TEXT_OBJECT)
    if not isinstance(text, str):
        raise InputError(f"{where}: task data has no 'text' string")
    annotation = _latest_annotation(task)
    if annotation is None:
        return None
    spans: list[Span] = []
    classes: list[str] = []
    for r in annotation.get("result") or []:
        value = r.get("value") if isinstance(r, dict) else None
        if not isinstance(value, dict):
            raise InputError(f"{where}: result without a 'value' object")
        if r.get("type") == "labels" or "labels" in value:
            spans.append(_parse_span(value, text, schema, where))
        elif r.get("type") == "choices" or "choices" in value:
            for c in value.get("choices") or []:
                if c not in schema.classes:
                    raise InputError(f"{where}: unknown class {c!r} (config has {', '.join(schema.classes)})")
                classes.append(c)
        else:
            raise InputError(f"{where}: unsupported result type {r.get('type')!r}")
    spans.sort(key=lambda s: (s.start, s.end))
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end:
            raise InputError(
                f"{where}: overlapping spans {a.label} [{a.start},{a.end}) {text[a.start:a.end]!r} "
                f"and {b.label} [{b.start},{b.end}) {text[b.start:b.end]!r}"
            )
    return Example(
        text=text,
        spans=tuple(spans),
        classes=tuple(c for c in schema.classes if c in classes),
        article_id=str(data.get("article_id", task.get("id", ""))),
        paragraph=int(data.get("paragraph", 0)),
        task_id=task.get("id"),
        source=str(data.get("source", "")),
        original=str(data.get("original", "")),
    )


def _parse_span(value: dict, text: str, schema: Schema, where: str) -> Span:
    start, end, labels = value.get("start"), value.get("end"), value.get("labels")
    if not isinstance(start, int) or not isinstance(end, int):
        raise InputError(f"{where}: span without integer start/end: {value}")
    if not 0 <= start < end <= len(text):
        raise InputError(f"{where}: span [{start},{end}) out of range for text of length {len(text)}")
    if not isinstance(labels, list) or len(labels) != 1:
        raise InputError(f"{where}: span [{start},{end}) must carry exactly one label, got {labels}")
    label = labels[0]
    if label not in schema.span_labels:
        raise InputError(
            f"{where}: unknown label {label!r} (config has {', '.join(schema.span_labels)})"
        )
    if "text" in value and value["text"] != text[start:end]:
        raise InputError(
            f"{where}: span [{start},{end}) says {value['text']!r} but the text there is {text[start:end]!r}"
        )
    return Span(start, end, label)


def read_export(path: str | Path, schema: Schema | None = None, skip_invalid: bool = False) -> ExportData:
    """Read a Label Studio JSON export into examples (latest non-cancelled annotation).

    Tasks without a live annotation are skipped and counted. With ``skip_invalid``
    a malformed task is counted under its error instead of stopping the read.
    """
    path = Path(path)
    schema = schema or load_schema()
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON export ({exc})") from None
    if not isinstance(tasks, list):
        raise InputError(f"{path}: a Label Studio JSON export is a list of tasks")
    out = ExportData()
    for i, task in enumerate(tasks):
        tid = task.get("id") if isinstance(task, dict) else None
        where = f"{path}: task {tid if tid is not None else f'#{i}'}"
        try:
            example = _parse_task(task, schema, where)
        except InputError as exc:
            if not skip_invalid:
                raise
            out.skipped[f"invalid: {str(exc)[len(where) + 2:]}"] += 1
            continue
        if example is None:
            out.skipped["no annotation (or all cancelled)"] += 1
        else:
            out.examples.append(example)
    return out


def read_exports(paths: Iterable[str | Path], schema: Schema | None = None, skip_invalid: bool = False) -> ExportData:
    """Read several exports into one list of examples."""
    out = ExportData()
    for p in paths:
        part = read_export(p, schema, skip_invalid)
        out.examples += part.examples
        out.skipped.update(part.skipped)
    return out


def annotation_results(spans: Iterable[Span], classes: Iterable[str], text: str) -> list[dict[str, Any]]:
    """Label Studio result objects for spans and classes (annotations and predictions)."""
    results = []
    for i, s in enumerate(spans):
        results.append(
            {
                "id": f"s{i}",
                "from_name": SPAN_CONTROL,
                "to_name": TEXT_OBJECT,
                "type": "labels",
                "value": {"start": s.start, "end": s.end, "text": text[s.start : s.end], "labels": [s.label]},
            }
        )
    classes = list(classes)
    if classes:
        results.append(
            {
                "id": "c0",
                "from_name": CLASS_CONTROL,
                "to_name": TEXT_OBJECT,
                "type": "choices",
                "value": {"choices": classes},
            }
        )
    return results



_EXPORT_TIME = "2026-01-01T00:00:00.000000Z"


def export_task(task_id: int, data: dict[str, Any], spans: list[Span], classes: tuple[str, ...]) -> dict[str, Any]:
    """One annotated task in the shape of Label Studio's JSON export (for gold built outside the server)."""
    return {
        "id": task_id,
        "data": data,
        "annotations": [
            {
                "id": task_id,
                "completed_by": 1,
                "result": annotation_results(spans, classes, data["text"]),
                "was_cancelled": False,
                "ground_truth": True,
                "created_at": _EXPORT_TIME,
                "updated_at": _EXPORT_TIME,
                "lead_time": 0,
                "task": task_id,
                "project": 1,
            }
        ],
        "predictions": [],
        "meta": {},
        "created_at": _EXPORT_TIME,
        "updated_at": _EXPORT_TIME,
        "inner_id": task_id,
        "total_annotations": 1,
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "project": 1,
    }
