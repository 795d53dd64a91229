"""The models as a Label Studio ML backend (`talent-tagger serve`).

A project connected to this server asks it for predictions when a reviewer opens a task
or runs "Retrieve predictions"; the answer is what ``push`` would send for the same text
(regions, classes, task score and ``model_version`` come from the same
:func:`train.labelstudio.task_prediction`). The protocol, as the pinned server speaks it
(label_studio/ml/api_connector.py and models.py of label-studio 1.23.2):

* ``GET /health`` -> ``{"status": "UP", "model_class": ..., "model_version": ...}``
* ``POST /setup`` ``{"project", "schema", ...}`` -> ``{"model_version"}``; a project whose
  label config does not carry labels/label_config.xml's labels is refused (HTTP 422) with the reason.
* ``POST /predict`` ``{"tasks": [{"id", "data": {"text"}}, ...], ...}`` -> ``{"results": [...]}``,
  one entry per task in request order (the server matches them by position).
* ``POST /webhook``: annotation events; acknowledged (retraining on them is not built).

Built on the standard library's threading HTTP server, not a web framework: the Label
Studio server sends one synchronous request per action and waits up to 100 s, so a
thread per connection and one lock around the models (one batch on the CPU at a time)
are all this needs, and the runtime install stays free of web dependencies. Memory is
bounded by the request limits (:data:`MAX_BODY_BYTES`, :data:`MAX_TASKS`) and the lock.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from label_studio_sdk.label_interface import LabelInterface

from train.errors import InputError
from train.labelstudio import CLASS_CONTROL, SPAN_CONTROL, TEXT_OBJECT, Schema, Span, load_schema, task_prediction
from train.predict import Article, Models, predict_records
from train.text import EMPTY_ARTICLE, split_article

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024  # a request larger than this is refused (413), never read
MAX_TASKS = 1000  # tasks per /predict request; Label Studio sends all a project's unpredicted tasks at once


class RequestError(Exception):
    """A request this backend refuses: an HTTP status and one line saying why."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def check_label_config(xml: Any, schema: Schema) -> None:
    """Refuse a project whose label config lacks what the models predict (RequestError 422)."""
    if not isinstance(xml, str) or not xml.strip():
        raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, "no label config ('schema') in the request")
    try:
        li = LabelInterface(xml)
        spans = set(li.get_control(SPAN_CONTROL).labels)
        classes = set(li.get_control(CLASS_CONTROL).labels)
        li.get_object(TEXT_OBJECT)
    except Exception as exc:  # noqa: BLE001 (the SDK raises several types for a config it cannot use)
        raise RequestError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"the project's label config is not labels/label_config.xml's (needs <Labels name=\"{SPAN_CONTROL}\">, "
            f"<Choices name=\"{CLASS_CONTROL}\"> and <Text name=\"{TEXT_OBJECT}\">: {' '.join(str(exc).split())[:200]})",
        ) from None
    missing = [l for l in schema.span_labels if l not in spans] + [c for c in schema.classes if c not in classes]
    if missing:
        raise RequestError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            f"the project's label config lacks {', '.join(missing)} (create the project from labels/label_config.xml)",
        )


@dataclass
class Backend:
    """The models, loaded once, and what the protocol asks of them."""

    models: Models
    schema: Schema
    batch_size: int = 32

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def health(self) -> dict[str, Any]:
        return {"status": "UP", "model_class": "talent-tagger", "model_version": self.models.version}

    def setup(self, body: dict[str, Any]) -> dict[str, Any]:
        check_label_config(body.get("schema"), self.schema)
        return {"model_version": self.models.version}

    def predict(self, body: dict[str, Any], still_wanted: Any = lambda: True) -> dict[str, Any]:
        """``{"results": [...]}``, one per task; ``still_wanted()`` False (the client left) skips the work."""
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise RequestError(HTTPStatus.BAD_REQUEST, "'tasks' must be a non-empty list")
        if len(tasks) > MAX_TASKS:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{len(tasks)} tasks; at most {MAX_TASKS} per request")
        texts = []
        for k, task in enumerate(tasks):
            text = task.get("data", {}).get("text") if isinstance(task, dict) and isinstance(task.get("data"), dict) else None
            if not isinstance(text, str):
                raise RequestError(HTTPStatus.BAD_REQUEST, f"task {k} (id {_task_id(task)}) has no data.text string")
            texts.append(text)
        with self._lock:
            if not still_wanted():
                return {"results": []}
            return {"results": self._results(tasks, texts)}

    def _results(self, tasks: list[dict[str, Any]], texts: list[str]) -> list[dict[str, Any]]:
        articles = [Article(str(_task_id(t)), "", text, split_article(text), f"task {_task_id(t)}") for t, text in zip(tasks, texts)]
        records = {id(a): rec for a, rec in predict_records((a for a in articles if a.paragraphs), self.models, self.batch_size)}
        results = []
        for article in articles:
            if not article.paragraphs:
                log.warning("task %s: %s", article.id, EMPTY_ARTICLE)
                results.append({"model_version": self.models.version})  # no "result": the server stores nothing
                continue
            results.append(self._prediction(article, records[id(article)]))
        return results

    def _prediction(self, article: Article, record: dict[str, Any]) -> dict[str, Any]:
        """The task's prediction on its own text (raw or normalized): entities by their original offsets."""
        spans = [(Span(e["orig_start"], e["orig_end"], e["label"]), e["score"]) for e in record["entities"]]
        classes = {c for p in record["paragraphs"] for c in p["labels"]}
        probs = [p["classes"] for p in record["paragraphs"]]
        result, score = task_prediction(article.original, spans, classes, probs, record["thresholds"], self.schema, f"task {article.id}")
        return {"result": result, "score": score, "model_version": self.models.version}


def _task_id(task: Any) -> Any:
    return task.get("id") if isinstance(task, dict) else None


def _client_gone(sock: socket.socket) -> bool:
    """True when the client closed its end (a readable socket with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    backend: Backend  # set by make_server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        if self.path.rstrip("/") in ("/health", ""):
            self._send(HTTPStatus.OK, self.backend.health())
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: GET {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        route = {"/setup": self.backend.setup, "/webhook": lambda body: {"status": "ok"}}
        path = self.path.split("?")[0].rstrip("/")
        try:
            body = self._body()
            if path == "/predict":
                reply = self.backend.predict(body, still_wanted=lambda: not _client_gone(self.connection))
            elif path in route:
                reply = route[path](body)
            else:
                raise RequestError(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {path}")
        except RequestError as exc:
            log.warning("POST %s: %s", path, exc)
            self._send(exc.status, {"error": str(exc)})
            return
        except InputError as exc:
            log.warning("POST %s: %s", path, exc)
            self._send(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(exc)})
            return
        self._send(HTTPStatus.OK, reply)

    def _body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a JSON body with a Content-Length is required") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is never read
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length:,} bytes; at most {MAX_BODY_BYTES:,}")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not JSON ({exc})") from None
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def _send(self, status: HTTPStatus, obj: dict[str, Any]) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("client left before the answer")  # nothing was half-done: the answer is just dropped


def make_server(backend: Backend, host: str = "127.0.0.1", port: int = 9090) -> ThreadingHTTPServer:
    """The HTTP server (not started: call ``serve_forever``); one line if the address is taken."""
    handler = type("Handler", (_Handler,), {"backend": backend})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise InputError(f"{host}:{port}: cannot listen ({exc.strerror})") from None
    server.daemon_threads = True
    return server


def load_backend(models_dir: Any, device: str | None = None, batch_size: int = 32) -> Backend:
    return Backend(Models.load(models_dir, device=device), load_schema(), batch_size)
