"""Label Studio: the label schema, import tasks, and reading annotation exports.

The label names come from ``labels/label_config.xml`` only; everything else asks
:func:`load_schema` for them.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping

from label_studio_sdk.label_interface import LabelInterface

from train.errors import InputError
from train.files import PROJECT_ROOT
from train.text import EMPTY_ARTICLE, Paragraph, read_article, split_article

log = logging.getLogger(__name__)

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

    @cached_property
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
            log.warning("%s: %s", path, EMPTY_ARTICLE)
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


def _latest_annotation(task: dict, where: str) -> dict | None:
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise InputError(f"{where}: 'annotations' is not a list of annotation objects")
    live = [a for a in annotations if not a.get("was_cancelled")]
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
    try:
        paragraph = int(data.get("paragraph", 0))
    except (TypeError, ValueError):
        raise InputError(f"{where}: task data 'paragraph' is {data['paragraph']!r}, not a paragraph number") from None
    annotation = _latest_annotation(task, where)
    if annotation is None:
        return None
    spans: list[Span] = []
    classes: list[str] = []
    results = annotation.get("result") or []
    if not isinstance(results, list):
        raise InputError(f"{where}: annotation 'result' is not a list")
    for r in results:
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
        paragraph=paragraph,
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
    if not tasks:
        raise InputError(f"{path}: no tasks (an empty export)")
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


# =========================================================================== server client
# Talking to a running Label Studio (the `push` and `pull` commands). Kept apart from the
# offline parts above: everything here goes through the SDK, and every failure of the
# server or the token becomes one InputError line (the token itself is never shown).

import time  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import httpx  # noqa: E402
from label_studio_sdk import LabelStudio  # noqa: E402
from label_studio_sdk.core.api_error import ApiError  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError  # noqa: E402

EXPORT_TIMEOUT_S = 600
_BATCH = 200  # tasks or predictions per request


def _base_url(client: LabelStudio) -> str:
    try:
        return redact_url(client._client_wrapper.get_base_url())  # the SDK keeps no public copy
    except AttributeError:
        return "Label Studio"


def _api_failure(exc: Exception) -> str:
    """What went wrong with a request, in words that never include the token or headers."""
    if isinstance(exc, ApiError):
        body = exc.body
        detail = body.get("detail") or body.get("validation_errors") if isinstance(body, dict) else body
        hint = " (wrong or expired token? set LABEL_STUDIO_API_KEY)" if exc.status_code in (401, 403) else ""
        text = " ".join(str(detail or "").split())[:200]
        if text.lower().startswith(("<!doctype", "<html")):
            text = "a web page, not the Label Studio API (is the URL http://host:port, without a path?)"
        return f"HTTP {exc.status_code}{': ' + text if text else ''}{hint}"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (is the server running at this address?)"
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    if isinstance(exc, httpx.LocalProtocolError):
        return "the token is not a valid header value"
    return f"request failed ({type(exc).__name__})"


@contextmanager
def _api(client: LabelStudio, what: str) -> Iterator[None]:
    """Turn SDK and network errors inside the block into one InputError line."""
    try:
        yield
    except (ApiError, httpx.HTTPError) as exc:
        raise InputError(f"{_base_url(client)}: {what}: {_api_failure(exc)}") from None


def redact_url(url: str) -> str:
    """``url`` safe to print: userinfo, query and fragment (where tokens hide) replaced by ``***``."""
    try:
        scheme, netloc, path, query, fragment = urlsplit(url)
    except ValueError:  # unsplittable (a broken IPv6 host): cut the same parts by hand
        return re.sub(r"^([^/]*//)?[^/]*@", r"\1***@", re.split(r"[?#]", url)[0])
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((scheme, netloc, path, "***" if query else "", "***" if fragment else ""))


def check_url(url: str) -> str:
    """The server address without a trailing slash; one line (token-free) for anything else.

    Credentials never ride in the URL (they would show in shell history, logs and errors):
    userinfo, a query or a fragment is refused with a pointer to LABEL_STUDIO_API_KEY.
    """
    url = url.strip().rstrip("/")
    shown = redact_url(url)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(f"{shown}: not a Label Studio URL (expected http://host:port)")
    if parsed.userinfo or parsed.query or parsed.fragment:
        raise InputError(
            f"{shown}: give the server address only (http://host:port), without user, query or fragment; "
            "pass the token in LABEL_STUDIO_API_KEY"
        )
    return url


def connect(url: str, token: str, timeout: float = 60) -> LabelStudio:
    """An SDK client for ``url``, checked now: a down server or a rejected token is an InputError."""
    url = check_url(url)
    if not token or not token.strip() or any(c.isspace() for c in token.strip()):
        raise InputError(f"{url}: empty or malformed API token (set LABEL_STUDIO_API_KEY)")
    client = LabelStudio(base_url=url, api_key=token.strip(), timeout=timeout)
    with _api(client, "checking the token"):
        client.users.whoami()
    return client


def get_or_create_project(
    client: LabelStudio,
    title: str | None = None,
    project_id: int | None = None,
    label_config: str | Path = LABEL_CONFIG,
) -> tuple[Any, bool]:
    """The project with ``project_id``, or the one titled ``title`` (created from the label
    config if there is none). Returns (project, created)."""
    if (title is None) == (project_id is None):
        raise InputError("give a project id or a project title (exactly one)")
    if project_id is not None:
        with _api(client, f"project {project_id}"):
            return client.projects.get(project_id), False
    with _api(client, f"looking up project {title!r}"):
        same = [p for p in client.projects.list(title=title, page_size=100) if p.title == title]
    if len(same) > 1:
        ids = ", ".join(str(p.id) for p in same)
        raise InputError(f"{_base_url(client)}: {len(same)} projects are titled {title!r} (ids {ids}); pick one with --project")
    if same:
        with _api(client, f"project {same[0].id}"):
            return client.projects.get(same[0].id), False
    xml = load_schema(label_config).xml
    with _api(client, f"creating project {title!r}"):
        created = client.projects.create(title=title, label_config=xml)
    with _api(client, f"project {created.id}"):
        return client.projects.get(created.id), True


def export(client: LabelStudio, project_id: int) -> list[dict[str, Any]]:
    """All tasks of a project as Label Studio's JSON export (annotations and full predictions)."""
    with _api(client, f"exporting project {project_id}"):
        snap = client.projects.exports.create(project_id, serialization_options={"predictions": {"only_id": False}})
        deadline = time.monotonic() + EXPORT_TIMEOUT_S
        while snap.status not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise InputError(f"{_base_url(client)}: export {snap.id} of project {project_id} not ready after {EXPORT_TIMEOUT_S} s")
            time.sleep(1)
            snap = client.projects.exports.get(project_id, export_pk=snap.id)
        if snap.status == "failed":
            raise InputError(f"{_base_url(client)}: export {snap.id} of project {project_id} failed on the server")
        raw = b"".join(client.projects.exports.download(project_id, export_pk=snap.id, export_type="JSON"))
    tasks = json.loads(raw)
    if not isinstance(tasks, list):
        raise InputError(f"{_base_url(client)}: export of project {project_id} is not a list of tasks")
    return tasks


# --------------------------------------------------------------------------- predictions -> review tasks


class PredictedParagraph(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: StrictInt = Field(ge=0)
    text: StrictStr
    start: StrictInt = Field(ge=0)
    orig_start: StrictInt | None = None
    original: StrictStr | None = None
    classes: dict[str, float] = {}
    labels: list[StrictStr] | None = None


class PredictedEntity(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: StrictStr
    start: StrictInt
    end: StrictInt
    text: StrictStr | None = None
    score: float | None = None
    paragraph: StrictInt | None = None
    value: int | float | None = None
    unit: StrictStr | None = None
    place: dict[str, StrictStr] | None = None  # record_version 2: the division a LOC (or an ORG/EDU's opening) names


RECORD_VERSION = 3  # 3: the classes' thresholds; 2: entities carry ``place``; 1: before places were linked


class PredictionRecord(BaseModel):
    """One line of `talent-tagger predict` JSONL output (README, "Prediction output")."""

    model_config = ConfigDict(extra="allow")
    id: StrictStr = Field(min_length=1)
    source: StrictStr = ""
    model_version: StrictStr = Field(min_length=1)
    record_version: Literal[1, 2, 3] = 1
    thresholds: dict[str, float] | None = None  # record_version 3: each class's tuned threshold
    text: StrictStr
    paragraphs: list[PredictedParagraph] = Field(min_length=1)
    entities: list[PredictedEntity] = []

    def paragraph_of(self, e: PredictedEntity) -> PredictedParagraph | None:
        """The paragraph an entity names, or (none named) the one its start falls in; None if there is none."""
        if e.paragraph is not None:
            return next((p for p in self.paragraphs if p.index == e.paragraph), None)
        return next((p for p in self.paragraphs if p.start <= e.start < p.start + len(p.text)), None)


def parse_prediction(line: str, where: str) -> PredictionRecord | None:
    """One line of predict's JSONL, checked; None (and a warning) for an article with no paragraphs.

    Every reader of predictions (``push``, ``report``) goes through here, so a file is
    accepted or refused the same way by each, with the same one-line messages.
    """
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict) or "paragraphs" not in raw:
        raise InputError(f"{where}: not a prediction record (a JSON object with paragraphs, as predict writes)")
    if raw.get("paragraphs") == []:  # an article that normalized to nothing: the rest still goes
        log.warning("%s: article %s: %s", where, raw.get("id"), EMPTY_ARTICLE)
        return None
    try:
        return PredictionRecord.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        raise InputError(f"{where}: {loc}: {err['msg']}") from None


@dataclass(frozen=True)
class ReviewTask:
    """One paragraph to push: its task data and the model's prediction for it."""

    data: dict[str, Any]
    result: list[dict[str, Any]]
    score: float
    model_version: str
    where: str  # file:line, for messages

    @property
    def key(self) -> tuple[str, int]:
        return (str(self.data["article_id"]), int(self.data["paragraph"]))


def class_confidence(p: float, threshold: float = 0.5) -> float:
    """How sure one class decision is: 0 at the class's threshold, 1 at probability 0 or 1.

    Relative to the tuned threshold, not to 0.5, because the threshold is where the
    decision flips: p = 0.35 with threshold 0.30 is a near call (0.07), not a fairly sure
    "no" (0.3, its distance from 0.5).
    """
    if p >= threshold:
        return (p - threshold) / (1 - threshold) if threshold < 1 else 1.0
    return (threshold - p) / threshold if threshold > 0 else 1.0


def review_score(
    entity_scores: Iterable[float],
    class_probs: Iterable[Mapping[str, float]],
    thresholds: Mapping[str, float] | None = None,
) -> float:
    """The task score, the one every way of sending predictions gives (README, "The task score").

    The model's lowest confidence in the task: an entity counts with its tagger score, a
    class decision with :func:`class_confidence` against its threshold (0.5 where the
    record carries none), for every paragraph's probabilities in ``class_probs``. A task
    with neither scores 1. Reviewers sort ascending: least sure first.
    """
    th = thresholds or {}
    confidences = [float(s) for s in entity_scores]
    confidences += [class_confidence(float(p), float(th.get(c, 0.5))) for probs in class_probs for c, p in probs.items()]
    return round(min(confidences, default=1.0), 4)


def task_prediction(
    text: str,
    spans: Iterable[tuple[Span, float | None]],
    classes: Iterable[str],
    class_probs: Iterable[Mapping[str, float]],
    thresholds: Mapping[str, float] | None,
    schema: Schema,
    where: str,
) -> tuple[list[dict[str, Any]], float]:
    """(result regions, task score) of one task's prediction, as Label Studio stores it.

    The one place every way of sending predictions (``push``, ``predict --format
    labelstudio``, ``select``, the ML backend of ``serve``) builds them: spans on ``text``
    (each with its score, or None) as regions with their own scores, the classes as one
    choice, the task score from :func:`review_score`, checked against the label config.
    """
    scored = sorted(spans, key=lambda ss: (ss[0].start, ss[0].end))
    ordered = [s for s, _ in scored]
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end:
            raise InputError(f"{where}: overlapping spans {a.label} [{a.start},{a.end}) and {b.label} [{b.start},{b.end})")
    chosen = set(classes)
    result = annotation_results(ordered, [c for c in schema.classes if c in chosen], text)
    for r, (_, sc) in zip(result, scored):  # the UI shows each region's own score
        if sc is not None:
            r["score"] = sc
    score = review_score([sc for _, sc in scored if sc is not None], class_probs, thresholds)
    errors = schema.interface.validate_prediction({"result": result, "score": score}, return_errors=True)
    if errors:
        raise InputError(f"{where}: rejected by the label config: {' '.join(str(errors[0]).split())}")
    return result, score


def _record_tasks(rec: PredictionRecord, schema: Schema, where: str) -> list[ReviewTask]:
    """Check one article's predictions against its text and the label config; one task per paragraph."""
    text = rec.text
    for c, t in (rec.thresholds or {}).items():
        if c not in schema.classes:
            raise InputError(f"{where}: thresholds: unknown class {c!r} (config has {', '.join(schema.classes)})")
        if not 0.0 <= t <= 1.0:
            raise InputError(f"{where}: thresholds: {c} is {t}, not in [0, 1]")
    th = rec.thresholds or {}
    pars: dict[int, PredictedParagraph] = {}
    for p in rec.paragraphs:
        if p.index in pars:
            raise InputError(f"{where}: paragraph index {p.index} appears twice")
        if text[p.start : p.start + len(p.text)] != p.text:
            raise InputError(f"{where}: paragraph {p.index} text is not the article text at offset {p.start}")
        for c, prob in p.classes.items():
            if c not in schema.classes:
                raise InputError(f"{where}: paragraph {p.index}: unknown class {c!r} (config has {', '.join(schema.classes)})")
            if not 0.0 <= prob <= 1.0:
                raise InputError(f"{where}: paragraph {p.index}: probability of {c} is {prob}, not in [0, 1]")
        for c in p.labels or []:
            if c not in schema.classes:
                raise InputError(f"{where}: paragraph {p.index}: unknown class {c!r} (config has {', '.join(schema.classes)})")
        pars[p.index] = p
    spans: dict[int, list[tuple[Span, float | None]]] = {i: [] for i in pars}
    for k, e in enumerate(rec.entities):
        at = f"{where}: entity {k} ({e.label} [{e.start},{e.end}))"
        if e.label not in schema.span_labels:
            raise InputError(f"{at}: unknown label {e.label!r} (config has {', '.join(schema.span_labels)})")
        if not 0 <= e.start < e.end <= len(text):
            raise InputError(f"{at}: span out of range for text of length {len(text)}")
        if e.text is not None and e.text != text[e.start : e.end]:
            raise InputError(f"{at}: says {e.text!r} but the text there is {text[e.start:e.end]!r}")
        if e.score is not None and not 0.0 <= e.score <= 1.0:
            raise InputError(f"{at}: score {e.score} not in [0, 1]")
        owner = rec.paragraph_of(e)
        if owner is None and e.paragraph is not None:
            raise InputError(f"{at}: no paragraph {e.paragraph}")
        if owner is None or not (owner.start <= e.start and e.end <= owner.start + len(owner.text)):
            raise InputError(f"{at}: span is not inside {'paragraph ' + str(e.paragraph) if e.paragraph is not None else 'one paragraph'}")
        spans[owner.index].append((Span(e.start - owner.start, e.end - owner.start, e.label), e.score))
    out = []
    for i, p in pars.items():
        chosen = p.labels if p.labels is not None else [c for c, prob in p.classes.items() if prob >= th.get(c, 0.5)]
        result, score = task_prediction(p.text, spans[i], chosen, [p.classes], rec.thresholds, schema, f"{where}: paragraph {i}")
        data = {
            "text": p.text,
            "article_id": rec.id,
            "paragraph": p.index,
            "source": rec.source,
            "original": p.original if p.original is not None else p.text,
            "orig_start": p.orig_start if p.orig_start is not None else p.start,
        }
        out.append(ReviewTask(data, result, score, rec.model_version, where))
    return out


def read_predictions(path: str | Path, schema: Schema | None = None) -> list[ReviewTask]:
    """Read and check a whole predictions JSONL file; any bad record stops it with file:line."""
    path = Path(path)
    schema = schema or load_schema()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    tasks: list[ReviewTask] = []
    seen: dict[tuple[str, int], str] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        rec = parse_prediction(line, where)
        if rec is None:
            continue
        for t in _record_tasks(rec, schema, f"{where}: article {rec.id}"):
            if t.key in seen:
                raise InputError(f"{where}: article {t.key[0]} paragraph {t.key[1]} already given at {seen[t.key]}")
            seen[t.key] = where
            tasks.append(t)
    if not tasks:
        raise InputError(f"{path}: no paragraphs with predictions")
    return tasks


@dataclass
class PushSummary:
    project_id: int
    tasks_created: int = 0
    tasks_existing: int = 0
    predictions_created: int = 0
    predictions_existing: int = 0
    model_versions: list[str] = field(default_factory=list)


def push_predictions(client: LabelStudio, project: Any, tasks: list[ReviewTask]) -> PushSummary:
    """Import paragraphs with their predictions into a project, idempotently.

    A paragraph already in the project (same article_id and paragraph) gets no second
    task; a task that already has a prediction of the same model_version gets no second
    prediction. Everything is checked before the first write: a clash (an existing task
    with other text, or a project config that rejects a result) sends nothing.
    """
    pid = project.id
    li = LabelInterface(project.label_config)
    for t in tasks:
        errors = li.validate_prediction({"result": t.result, "score": t.score}, return_errors=True)
        if errors:
            raise InputError(f"{t.where}: paragraph {t.key[1]}: project {pid}'s label config rejects it: {' '.join(str(errors[0]).split())}")
    existing: dict[tuple[str, int], tuple[int, str]] = {}
    with _api(client, f"listing tasks of project {pid}"):
        for task in client.tasks.list(project=pid, fields="task_only", page_size=500):
            data = task.data or {}
            if "article_id" in data and "paragraph" in data:
                existing[(str(data["article_id"]), int(data["paragraph"]))] = (task.id, data.get("text"))
        have = {(p.task, p.model_version) for p in client.predictions.list(project=pid)}
    for t in tasks:
        if t.key in existing and existing[t.key][1] != t.data["text"]:
            raise InputError(
                f"{t.where}: project {pid} already has task {existing[t.key][0]} for article {t.key[0]} "
                f"paragraph {t.key[1]} with different text (predictions from another normalization?)"
            )
    summary = PushSummary(pid, model_versions=sorted({t.model_version for t in tasks}))

    def prediction(t: ReviewTask) -> dict[str, Any]:
        return {"result": t.result, "score": t.score, "model_version": t.model_version}

    new = [t for t in tasks if t.key not in existing]
    old = [t for t in tasks if t.key in existing]
    summary.tasks_created, summary.tasks_existing = len(new), len(old)
    todo = [t for t in old if (existing[t.key][0], t.model_version) not in have]
    summary.predictions_existing = len(old) - len(todo)
    summary.predictions_created = len(new) + len(todo)
    with _api(client, f"importing tasks into project {pid}"):
        for i in range(0, len(new), _BATCH):
            batch = new[i : i + _BATCH]
            client.projects.import_tasks(pid, request=[{"data": t.data, "predictions": [prediction(t)]} for t in batch])
    with _api(client, f"adding predictions to project {pid}"):
        for i in range(0, len(todo), _BATCH):
            batch = todo[i : i + _BATCH]
            client.projects.import_predictions(pid, request=[{"task": existing[t.key][0], **prediction(t)} for t in batch])
        # Pre-annotations shown to reviewers follow the project's model_version: make it the pushed one.
        if summary.predictions_created and len(summary.model_versions) == 1:
            client.projects.update(pid, model_version=summary.model_versions[0])
    return summary
