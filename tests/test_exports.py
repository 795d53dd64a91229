"""Reading Label Studio exports, writing import tasks, and checking annotation quality."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from train.errors import InputError
from train.labelstudio import Span, annotation_results, load_schema, read_export, tasks_for_articles
from train.quality import corpus_stats, is_traditional

TALENT_TAGGER = [sys.executable, "-c", "from train.cli import main; main()"]


def task(tid, text, spans=(), classes=(), cancelled=False, updated="2026-01-01T00:00:00Z", article="a1"):
    results = annotation_results([Span(*s) for s in spans], classes, text)
    return {
        "id": tid,
        "data": {"text": text, "article_id": article, "paragraph": tid, "source": "x.txt", "original": text},
        "annotations": [{"id": tid, "result": results, "was_cancelled": cancelled, "updated_at": updated}],
    }


def write(tmp_path, tasks, name="export.json"):
    path = tmp_path / name
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


def test_label_names_come_from_the_label_studio_config():
    schema = load_schema()
    assert schema.span_labels == (
        "PER", "ORG", "EDU", "LOC", "POLICY", "PROGRAM", "TALENT_NUM", "MONEY", "RATIO", "QUANTITY",
    )
    assert schema.classes == ("ATTRACT", "CULTIVATE", "RETAIN")


def test_an_export_reads_into_spans_and_classes(tmp_path):
    path = write(tmp_path, [task(1, "济南引进3000人", [(0, 2, "LOC"), (4, 9, "TALENT_NUM")], ["ATTRACT"])])
    (ex,) = read_export(path).examples
    assert ex.text == "济南引进3000人"
    assert ex.spans == (Span(0, 2, "LOC"), Span(4, 9, "TALENT_NUM"))
    assert ex.classes == ("ATTRACT",)


def test_the_latest_non_cancelled_annotation_wins(tmp_path):
    t = task(1, "济南引进3000人", [(0, 2, "LOC")], updated="2026-01-01T00:00:00Z")
    newer = task(1, "济南引进3000人", [(0, 2, "ORG")], updated="2026-02-01T00:00:00Z")["annotations"][0]
    cancelled = task(1, "济南引进3000人", [(0, 2, "PER")], cancelled=True, updated="2026-03-01T00:00:00Z")
    t["annotations"] += [newer, cancelled["annotations"][0]]
    (ex,) = read_export(write(tmp_path, [t])).examples
    assert ex.spans == (Span(0, 2, "ORG"),)


def test_tasks_without_a_live_annotation_are_skipped_and_counted(tmp_path):
    empty = {"id": 2, "data": {"text": "无标注"}, "annotations": []}
    cancelled = task(3, "取消了", cancelled=True)
    data = read_export(write(tmp_path, [task(1, "济南"), empty, cancelled]))
    assert len(data.examples) == 1
    assert sum(data.skipped.values()) == 2


@pytest.mark.parametrize(
    "bad, message",
    [
        (task(7, "济南引进", [(0, 2, "CITY")]), "task 7: unknown label 'CITY'"),
        (task(7, "济南引进", [(2, 9, "LOC")]), r"task 7: span \[2,9\) out of range"),
        (task(7, "济南引进", [(0, 2, "LOC"), (1, 3, "ORG")]), "task 7: overlapping spans"),
        (task(7, "济南引进", [], ["HIRE"]), "task 7: unknown class 'HIRE'"),
        ({"id": 7, "annotations": []}, "task 7: not a Label Studio task"),
        ({**task(7, "济南引进"), "annotations": "none"}, "task 7: 'annotations' is not a list"),
        ({**task(7, "济南引进"), "annotations": ["a1"]}, "task 7: 'annotations' is not a list"),
        ({**task(7, "济南引进"), "annotations": [{"result": "none"}]}, "task 7: annotation 'result' is not a list"),
        ({"id": 7, "data": {"text": "济南", "paragraph": "二"}}, "task 7: task data 'paragraph' is '二'"),
    ],
)
def test_malformed_exports_name_the_file_and_task(tmp_path, bad, message):
    path = write(tmp_path, [task(1, "济南"), bad])
    with pytest.raises(InputError, match=message) as err:
        read_export(path)
    assert str(path) in str(err.value)


def test_an_export_without_tasks_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"empty\.json: no tasks \(an empty export\)"):
        read_export(write(tmp_path, [], name="empty.json"))


def test_a_span_whose_text_does_not_match_is_an_error(tmp_path):
    t = task(5, "济南引进", [(0, 2, "LOC")])
    t["annotations"][0]["result"][0]["value"]["text"] = "青岛"
    with pytest.raises(InputError, match="task 5: span .* says '青岛'"):
        read_export(write(tmp_path, [t]))


def test_invalid_tasks_can_be_skipped_and_counted_on_request(tmp_path):
    path = write(tmp_path, [task(1, "济南"), task(2, "济南", [(0, 2, "CITY")])])
    data = read_export(path, skip_invalid=True)
    assert [e.task_id for e in data.examples] == [1]
    assert list(data.skipped.values()) == [1]


@pytest.mark.parametrize("content", ["", "{not json", '{"id": 1}'])
def test_an_export_that_is_not_a_task_list_is_an_error(tmp_path, content):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(InputError, match="broken.json"):
        read_export(path)


def test_import_tasks_carry_the_fields_labels_md_asks_for(seed_articles):
    tasks = tasks_for_articles(seed_articles)
    assert len({t["data"]["article_id"] for t in tasks}) == 5
    for t in tasks:
        data = t["data"]
        assert {"text", "article_id", "paragraph", "source", "original"} <= set(data)
        assert data["source"].endswith(".txt")


def test_tasks_command_writes_an_import_file(tmp_path, seed_articles):
    out = tmp_path / "tasks.json"
    run = subprocess.run([*TALENT_TAGGER, "tasks", str(seed_articles[0].parent), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(json.loads(out.read_text())) == len(tasks_for_articles(seed_articles))


def test_tasks_command_fails_in_one_line_on_a_bad_file(tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_bytes(b"")
    out = tmp_path / "tasks.json"
    run = subprocess.run([*TALENT_TAGGER, "tasks", str(bad), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "empty.txt" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_stats_flag_a_mention_tagged_once_and_missed_elsewhere(tmp_path):
    path = write(
        tmp_path,
        [
            task(1, "济南市人社局引进人才", [(0, 6, "ORG")]),
            task(2, "济南市人社局发布公告", []),  # missed
            task(3, "济南大学", [(0, 4, "EDU")]),
        ],
    )
    s = corpus_stats(read_export(path).examples)
    assert s.spans["ORG"] == 1 and s.spans["EDU"] == 1
    assert [(m.task_id, m.text, m.label) for m in s.missed] == [(2, "济南市人社局", "ORG")]


def test_script_is_told_apart():
    assert is_traditional("大慶市人才總量達到48.9萬人")
    assert not is_traditional("大庆市人才总量达到48.9万人")


def test_the_tail_of_a_longer_number_is_not_a_missed_mention(tmp_path):
    path = write(tmp_path, [task(1, "工作满1年", [(3, 5, "QUANTITY")]), task(2, "2021年以来", [])])
    assert corpus_stats(read_export(path).examples).missed == []


def test_stats_of_a_dir_counts_every_export_in_it():
    """Like train and evaluate, stats takes seeds/annotations itself: real and written paragraphs together."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([*TALENT_TAGGER, "stats", "seeds/annotations"], capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr
    real = len(read_export(root / "seeds" / "annotations" / "seed_gold.json").examples)
    written = len(read_export(root / "seeds" / "annotations" / "written.json").examples)
    assert proc.stdout.startswith(f"{real + written} paragraphs") and f"real: {real}, written: {written}" in proc.stdout
