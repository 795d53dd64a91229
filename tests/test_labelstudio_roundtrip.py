"""The committed seed gold survives a real Label Studio: import, annotate by API, export, read."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from train.labelstudio import connect, export, get_or_create_project, load_schema, read_export, tasks_for_articles

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "seeds" / "annotations" / "seed_gold.json"


def _by_paragraph(examples) -> dict[tuple[str, int], tuple]:
    return {(e.article_id, e.paragraph): (e.text, e.spans, e.classes) for e in examples}


def test_seed_gold_round_trips_through_the_server(labelstudio, seed_articles, tmp_path):
    client = connect(labelstudio.url, labelstudio.token)
    project, created = get_or_create_project(client, title=f"seed gold {uuid.uuid4().hex[:8]}")
    assert created and project.label_config.strip() == load_schema().xml.strip()

    client.projects.import_tasks(project.id, request=tasks_for_articles(seed_articles))
    ids = {(t.data["article_id"], t.data["paragraph"]): (t.id, t.data["text"]) for t in client.tasks.list(project=project.id)}

    gold_tasks = json.loads(GOLD.read_text(encoding="utf-8"))
    assert len(gold_tasks) == len(ids)
    for g in gold_tasks:
        task_id, text = ids[(g["data"]["article_id"], g["data"]["paragraph"])]
        assert text == g["data"]["text"]
        (annotation,) = g["annotations"]
        client.annotations.create(task_id, result=annotation["result"], ground_truth=True)

    path = tmp_path / "export.json"
    path.write_text(json.dumps(export(client, project.id), ensure_ascii=False), encoding="utf-8")
    got, want = read_export(path), read_export(GOLD)
    assert not got.skipped and not want.skipped
    assert len(got.examples) == len(want.examples) == len(gold_tasks)
    assert sum(len(e.spans) for e in got.examples) > 100  # the gold is really annotated
    assert _by_paragraph(got.examples) == _by_paragraph(want.examples)
    # the export is the server's, not an echo of the gold file: its own task ids
    assert {e.task_id for e in got.examples} == {i for i, _ in ids.values()}
