"""`talent-tagger push` / `pull` against a real Label Studio server, through the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fixtures_labelstudio import free_port
from train.labelstudio import Span, annotation_results, read_export, review_score, task_data
from train.text import read_article, split_article

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "talent-tagger"
ARTICLE = ROOT / "seeds" / "articles" / "000_9dc7c4a870a639d6.txt"

# (paragraph, mention, label, score): offsets are computed from the real article below.
PICKS = [
    (1, "山东省人民政府驻北京办事处", "ORG", 0.93),
    (1, "首都高校", "EDU", 0.41),
    (2, "刘彬礼", "PER", 0.99),
    (3, "136个", "QUANTITY", 0.88),
    (6, "7万人", "TALENT_NUM", 0.97),
    (9, "52所", "QUANTITY", 0.95),
]
CLASSES = {
    1: {"ATTRACT": 0.62, "CULTIVATE": 0.1, "RETAIN": 0.05},
    6: {"ATTRACT": 0.91, "CULTIVATE": 0.12, "RETAIN": 0.05},
    10: {"ATTRACT": 0.8, "CULTIVATE": 0.3, "RETAIN": 0.7},
}


def prediction_record(article: Path, model_version: str, picks=PICKS, classes=CLASSES) -> dict:
    """A `predict` output record (notes/predictions.md) for a real seed article."""
    paragraphs = split_article(read_article(article))
    starts, pos = [], 0
    for p in paragraphs:
        starts.append(pos)
        pos += len(p.text) + 1
    text = "\n".join(p.text for p in paragraphs)
    pars = []
    for p, start in zip(paragraphs, starts):
        probs = classes.get(p.index, {"ATTRACT": 0.02, "CULTIVATE": 0.03, "RETAIN": 0.01})
        pars.append(
            {
                "index": p.index, "text": p.text, "start": start, "orig_start": p.orig_start,
                "orig_end": p.orig_end, "original": p.original, "classes": probs,
                "labels": [c for c, v in probs.items() if v >= 0.5],
            }
        )
    entities = []
    for index, mention, label, score in picks:
        par = paragraphs[index]
        local = par.text.index(mention)
        start = starts[index] + local
        entities.append(
            {
                "label": label, "text": mention, "start": start, "end": start + len(mention), "score": score,
                "paragraph": index, "orig_start": par.offsets[local], "orig_end": par.offsets[local + len(mention) - 1] + 1,
            }
        )
    return {
        "id": article.stem, "source": article.name, "model_version": model_version, "text": text,
        "paragraphs": pars, "entities": entities, "measures": {},
    }


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def cli(*args: str, token: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LABEL_STUDIO_API_KEY"}
    if token is not None:
        env["LABEL_STUDIO_API_KEY"] = token
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def project_by_title(client, title: str):
    found = [p for p in client.projects.list(title=title) if p.title == title]
    assert len(found) <= 1
    return found[0] if found else None


def tasks_of(client, project_id: int) -> list:
    return list(client.tasks.list(project=project_id, fields="all"))


@pytest.fixture(scope="module")
def pushed(labelstudio, tmp_path_factory):
    """One push of a real article's predictions; the tests below look at what it made."""
    path = write_jsonl(tmp_path_factory.mktemp("push") / "pred.jsonl", [prediction_record(ARTICLE, "tagger-v1+classifier-v1")])
    title = f"review {uuid.uuid4().hex[:8]}"
    proc = cli("push", str(path), "--url", labelstudio.url, "--title", title, token=labelstudio.token)
    assert proc.returncode == 0, proc.stderr
    project = project_by_title(labelstudio.client, title)
    assert project is not None
    return path, project.id, proc.stderr


def test_push_creates_one_task_per_paragraph_with_a_scored_prediction(labelstudio, pushed):
    path, pid, stderr = pushed
    paragraphs = split_article(read_article(ARTICLE))
    assert "13 tasks created" in stderr and labelstudio.token not in stderr
    tasks = {t.data["paragraph"]: t for t in tasks_of(labelstudio.client, pid)}
    assert sorted(tasks) == [p.index for p in paragraphs]
    for p in paragraphs:
        task = tasks[p.index]
        assert task.data == task_data(ARTICLE.stem, ARTICLE.name, p)
        (pred,) = task.predictions
        assert pred.model_version == "tagger-v1+classifier-v1"
        picks = [(Span(p.text.index(m), p.text.index(m) + len(m), lab), sc) for i, m, lab, sc in PICKS if i == p.index]
        probs = CLASSES.get(p.index, {"ATTRACT": 0.02, "CULTIVATE": 0.03, "RETAIN": 0.01})
        classes = [c for c, v in probs.items() if v >= 0.5]
        want = annotation_results([s for s, _ in picks], classes, p.text)
        for r, (_, sc) in zip(want, picks):
            r["score"] = sc  # each region keeps its own score
        assert pred.result == want
        assert pred.score == pytest.approx(review_score([s for i, _, _, s in PICKS if i == p.index], [probs]))
    # the lowest confidence wins: EDU at 0.41 in paragraph 1, the 0.7 RETAIN margin (0.4) in 10
    assert tasks[1].predictions[0].score == pytest.approx(0.24)  # ATTRACT 0.62 -> margin 0.24
    assert tasks[10].predictions[0].score == pytest.approx(0.4)
    assert tasks[0].predictions[0].score == pytest.approx(0.94)
    # reviewers see the pushed version as pre-annotation
    assert labelstudio.client.projects.get(pid).model_version == "tagger-v1+classifier-v1"


def test_push_again_adds_nothing_and_a_new_version_adds_predictions_only(labelstudio, pushed, tmp_path):
    path, pid, _ = pushed
    before = {t.id for t in tasks_of(labelstudio.client, pid)}
    again = cli("push", str(path), "--url", labelstudio.url, "--project", str(pid), token=labelstudio.token)
    assert again.returncode == 0, again.stderr
    assert "0 tasks created, 13 already there; 0 predictions added, 13 already there" in again.stderr
    tasks = tasks_of(labelstudio.client, pid)
    assert {t.id for t in tasks} == before
    assert all(len(t.predictions) == 1 for t in tasks)

    v2 = write_jsonl(tmp_path / "v2.jsonl", [prediction_record(ARTICLE, "tagger-v2+classifier-v2", picks=PICKS[:2])])
    for _ in range(2):
        proc = cli("push", str(v2), "--url", labelstudio.url, "--project", str(pid), token=labelstudio.token)
        assert proc.returncode == 0, proc.stderr
    tasks = tasks_of(labelstudio.client, pid)
    assert {t.id for t in tasks} == before
    assert all(sorted(p.model_version for p in t.predictions) == ["tagger-v1+classifier-v1", "tagger-v2+classifier-v2"] for t in tasks)
    assert labelstudio.client.projects.get(pid).model_version == "tagger-v2+classifier-v2"


def test_pull_writes_an_export_that_read_export_reads(labelstudio, pushed, tmp_path):
    _, pid, _ = pushed
    task = next(t for t in tasks_of(labelstudio.client, pid) if t.data["paragraph"] == 6)
    text = task.data["text"]
    gold = [Span(text.index("济南市"), text.index("济南市") + 3, "LOC"), Span(text.index("7万人"), text.index("7万人") + 3, "TALENT_NUM")]
    labelstudio.client.annotations.create(task.id, result=annotation_results(gold, ["ATTRACT"], text))
    out = tmp_path / "sub" / "export.json"
    out.parent.mkdir()  # an output's directory must exist (a missing one is a one-line error)
    proc = cli("pull", "--url", labelstudio.url, "--project", str(pid), "-o", str(out), token=labelstudio.token)
    assert proc.returncode == 0, proc.stderr
    assert "13 tasks" in proc.stderr and "1 annotated" in proc.stderr
    data = read_export(out)
    assert data.skipped["no annotation (or all cancelled)"] == 12
    (ex,) = data.examples
    assert (ex.article_id, ex.paragraph, ex.spans, ex.classes) == (ARTICLE.stem, 6, tuple(gold), ("ATTRACT",))
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert all(isinstance(p, dict) and p["result"] is not None for t in raw for p in t["predictions"])  # full, not ids
    assert [f.name for f in out.parent.iterdir()] == ["export.json"]  # no temp file left


def test_pull_of_a_missing_project_writes_nothing(labelstudio, tmp_path):
    out = tmp_path / "export.json"
    proc = cli("pull", "--url", labelstudio.url, "--project", "99999", "-o", str(out), token=labelstudio.token)
    assert_one_line_error(proc, "project 99999", "404")
    assert not out.exists()


def test_server_down_is_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    path = write_jsonl(tmp_path / "p.jsonl", [prediction_record(ARTICLE, "v1")])
    assert_one_line_error(cli("push", str(path), "--url", url, "--title", "x", token="0" * 40), url, "cannot connect")
    assert_one_line_error(cli("pull", "--url", url, "--project", "1", "-o", str(tmp_path / "e.json"), token="0" * 40), url)
    assert not (tmp_path / "e.json").exists()


def test_wrong_or_missing_token_is_one_line_and_never_printed(labelstudio, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [prediction_record(ARTICLE, "v1")])
    wrong = "f" * 40
    title = f"never {uuid.uuid4().hex[:8]}"
    proc = cli("push", str(path), "--url", labelstudio.url, "--title", title, token=wrong)
    assert_one_line_error(proc, "401", "LABEL_STUDIO_API_KEY")
    assert wrong not in proc.stderr + proc.stdout
    proc = cli("pull", "--url", labelstudio.url, "--project", "1", "-o", str(tmp_path / "e.json"), token=wrong)
    assert_one_line_error(proc, "401")
    assert_one_line_error(cli("push", str(path), "--url", labelstudio.url, "--title", title, token=None), "LABEL_STUDIO_API_KEY")
    assert project_by_title(labelstudio.client, title) is None


def _broken(record: dict, how: str) -> dict:
    record = json.loads(json.dumps(record))
    if how == "unknown label":
        record["entities"][1]["label"] = "PERSON"
    elif how == "out-of-range span":
        record["entities"][-1]["end"] = len(record["text"]) + 5
    elif how == "span across paragraphs":
        p = record["paragraphs"][2]
        record["entities"].append({"label": "ORG", "start": p["start"] - 3, "end": p["start"] + 2, "score": 0.5})
    elif how == "text mismatch":
        record["entities"][0]["text"] = "山东省政府"
    elif how == "unknown class":
        record["paragraphs"][3]["classes"]["RECRUIT"] = 0.7
    elif how == "missing field":
        del record["model_version"]
    return record


@pytest.mark.parametrize(
    "how, needle",
    [
        ("unknown label", "unknown label 'PERSON'"),
        ("out-of-range span", "out of range"),
        ("span across paragraphs", "not inside"),
        ("text mismatch", "but the text there is"),
        ("unknown class", "unknown class 'RECRUIT'"),
        ("missing field", "model_version"),
    ],
)
def test_bad_record_names_file_and_line_and_sends_nothing(labelstudio, tmp_path, how, needle):
    other = ROOT / "seeds" / "articles" / "001_abec8d62ecffe52f.txt"
    good = prediction_record(other, "v-bad", picks=[], classes={})
    path = write_jsonl(tmp_path / "bad.jsonl", [good, _broken(prediction_record(ARTICLE, "v-bad"), how)])
    title = f"bad {uuid.uuid4().hex[:8]}"
    proc = cli("push", str(path), "--url", labelstudio.url, "--title", title, token=labelstudio.token)
    assert_one_line_error(proc, f"{path}:2:", needle)
    assert project_by_title(labelstudio.client, title) is None  # not even the project


def test_bad_record_into_an_existing_project_adds_nothing(labelstudio, pushed, tmp_path):
    _, pid, _ = pushed
    before = sorted((t.id, len(t.predictions)) for t in tasks_of(labelstudio.client, pid))
    other = ROOT / "seeds" / "articles" / "001_abec8d62ecffe52f.txt"
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [prediction_record(other, "v3", picks=[], classes={}), _broken(prediction_record(ARTICLE, "v3"), "unknown label")],
    )
    proc = cli("push", str(path), "--url", labelstudio.url, "--project", str(pid), token=labelstudio.token)
    assert_one_line_error(proc, f"{path}:2:")
    assert sorted((t.id, len(t.predictions)) for t in tasks_of(labelstudio.client, pid)) == before
