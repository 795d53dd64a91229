"""`talent-tagger serve`: the models as a Label Studio ML backend, against the real server."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from train.labelstudio import connect, get_or_create_project, load_schema, tasks_for_articles

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def backend(tiny_models, tmp_path_factory):
    """A real `serve` process on a free port, with the tiny models; yields (port, process, log path)."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    fh = open(log, "w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from train.cli import main; main()", "serve", "--models", str(tiny_models.root), "--port", str(port)],
        stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "serving" not in log.read_text(encoding="utf-8"):
        assert proc.poll() is None, log.read_text(encoding="utf-8")
        time.sleep(0.2)
    yield port, proc, log
    proc.terminate()
    proc.wait(timeout=30)
    fh.close()


def call(port: int, method: str, path: str, body: bytes | dict | None = None, timeout: float = 120) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = json.dumps(body, ensure_ascii=False).encode() if isinstance(body, dict) else body
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read() or b"{}")
    conn.close()
    return out


def tasks(n: int, seed_articles) -> list[dict]:
    """``n`` tasks with the seed articles' paragraphs (normalized, as `tasks` writes them)."""
    pars = [t["data"] for t in tasks_for_articles(seed_articles)]
    return [{"id": i, "data": pars[i % len(pars)]} for i in range(n)]


def test_health_setup_and_predict_speak_the_protocol(backend, tiny_models, seed_articles):
    port, _, _ = backend
    status, health = call(port, "GET", "/health")
    assert status == 200 and health["status"] == "UP"
    status, setup = call(port, "POST", "/setup", {"project": "1.1700000000", "schema": load_schema().xml})
    assert status == 200 and setup["model_version"] == health["model_version"]
    batch = tasks(3, seed_articles) + [{"id": 99, "data": {"text": "濟南市2020年引進3000人，佔17.6%。"}}]
    status, reply = call(port, "POST", "/predict", {"tasks": batch, "project": "1.1700000000", "label_config": load_schema().xml})
    assert status == 200 and len(reply["results"]) == len(batch)  # the server matches them by position
    for task, result in zip(batch, reply["results"]):
        assert result["model_version"] == setup["model_version"] and 0.0 <= result["score"] <= 1.0
        for region in result["result"]:
            if region["type"] == "labels":  # regions lie on the task's own text, raw or normalized
                v = region["value"]
                assert task["data"]["text"][v["start"] : v["end"]] == v["text"]


def test_a_project_with_another_label_config_is_refused_at_setup(backend):
    port, _, _ = backend
    other = '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text"><Choice value="Pos"/></Choices></View>'
    status, reply = call(port, "POST", "/setup", {"project": "2.1", "schema": other})
    assert status == 422 and "label config" in reply["error"]
    ours_but_less = load_schema().xml.replace('<Choice value="RETAIN"', '<Choice value="KEEP"')
    status, reply = call(port, "POST", "/setup", {"project": "2.1", "schema": ours_but_less})
    assert status == 422 and "lacks RETAIN" in reply["error"]


@pytest.mark.parametrize(
    "body, status, needle",
    [
        (b"{oops", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"tasks": []}', 400, "non-empty list"),
        (b'{"tasks": [{"id": 1, "data": {"text": 5}}]}', 400, "task 0 (id 1) has no data.text"),
        (json.dumps({"tasks": [{"id": i, "data": {"text": "x"}} for i in range(1001)]}).encode(), 413, "at most 1000"),
    ],
)
def test_a_malformed_request_gets_a_4xx_with_one_line(backend, body, status, needle):
    port, proc, log = backend
    got, reply = call(port, "POST", "/predict", body)
    assert got == status and needle in reply["error"] and "\n" not in reply["error"]
    assert proc.poll() is None and "Traceback" not in log.read_text(encoding="utf-8")


def test_eight_clients_at_once_are_all_answered_and_memory_stays_bounded(backend, seed_articles):
    port, proc, _ = backend
    batch = {"tasks": tasks(50, seed_articles)}
    call(port, "POST", "/predict", batch)  # warm: the first batch sizes the allocator
    before = _peak_rss_mb(proc.pid)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: call(port, "POST", "/predict", batch), range(8)))
    assert all(status == 200 and len(r["results"]) == 50 for status, r in replies)
    assert _peak_rss_mb(proc.pid) < before + 150  # one batch on the models at a time, not eight


def test_a_client_that_leaves_mid_request_costs_nothing(backend, seed_articles):
    port, proc, log = backend
    body = json.dumps({"tasks": tasks(50, seed_articles)}, ensure_ascii=False).encode()
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        # closed before the answer
    status, health = call(port, "GET", "/health")
    assert status == 200 and proc.poll() is None and "Traceback" not in log.read_text(encoding="utf-8")


@pytest.mark.labelstudio
def test_label_studio_retrieves_predictions_from_the_backend(backend, labelstudio, seed_articles):
    """Connected through the API, asked through the server's own "Retrieve predictions" action."""
    port, _, _ = backend
    client = connect(labelstudio.url, labelstudio.token)
    project, _ = get_or_create_project(client, title=f"serve {uuid.uuid4().hex[:8]}")
    client.projects.import_tasks(project.id, request=tasks_for_articles(seed_articles[:1]))
    ml = client.ml.create(project=project.id, url=f"http://127.0.0.1:{port}", title="talent-tagger")
    assert ml.id
    _, health = call(port, "GET", "/health")
    client.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
    stored = list(client.tasks.list(project=project.id, fields="all"))
    assert stored
    regions = {}
    for task in stored:
        (prediction,) = client.predictions.list(task=task.id)
        assert prediction.model_version == health["model_version"] and 0.0 <= prediction.score <= 1.0
        regions[task.id] = [r["value"]["text"] for r in prediction.result if r["type"] == "labels"]
        for region in prediction.result:
            if region["type"] == "labels":
                v = region["value"]
                assert task.data["text"][v["start"] : v["end"]] == v["text"]
    # a reviewer opening the task with the most regions sees them highlighted in the UI
    task_id = max(regions, key=lambda t: len(regions[t]))
    assert regions[task_id], "the tiny models predicted no entity at all"
    assert sorted(_highlighted(labelstudio, project.id, task_id)) == sorted(regions[task_id])


def _highlighted(labelstudio, project_id: int, task_id: int) -> list[str]:
    """The highlighted regions of a task as headless Chromium shows them to a logged-in reviewer."""
    from test_labelstudio_browser import reviewer_page

    with reviewer_page(labelstudio) as page:
        page.goto(f"{labelstudio.url}/projects/{project_id}/data?task={task_id}")
        page.wait_for_selector(".htx-highlight")
        page.wait_for_timeout(500)
        return [e.inner_text() for e in page.query_selector_all(".htx-highlight")]


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024
