"""`talent-tagger report`: what the predictions say, for analysts (a page and tidy CSVs)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from train.errors import InputError
from train.gold import parse_line
from train.labelstudio import RECORD_VERSION, load_schema
from train.quantities import METRIC_LABELS, parse_metric
from train.report import write_report

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "seeds" / "gold"


def gold_records() -> list[dict]:
    """The seed articles as a model that agrees with the gold would predict them (predict's record
    without places: the report links them itself, as for records written before places were)."""
    schema = load_schema()
    records = []
    for path in sorted(GOLD.glob("*.txt")):
        paragraphs, entities, offset = [], [], 0
        for line in (l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()):
            m = parse_line(line, schema, str(path))
            index = len(paragraphs)
            paragraphs.append({"index": index, "text": m.text, "start": offset, "labels": list(m.classes),
                               "classes": {c: float(c in m.classes) for c in schema.classes}})  # fmt: skip
            for s in m.spans:
                e = {"label": s.label, "text": m.text[s.start : s.end], "start": offset + s.start, "end": offset + s.end,
                     "score": 1.0, "paragraph": index}  # fmt: skip
                if s.label in METRIC_LABELS:
                    e["value"], e["unit"] = parse_metric(e["text"], s.label)
                entities.append(e)
            offset += len(m.text) + 1
        text = "\n".join(p["text"] for p in paragraphs)
        records.append({"id": path.stem, "source": path.name, "model_version": "gold", "text": text, "paragraphs": paragraphs, "entities": entities})
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_places_and_measure_types_of_the_seed_articles_are_counted(tmp_path):
    out = tmp_path / "report"
    summary = write_report([write_jsonl(tmp_path / "gold.jsonl", gold_records())], out)
    assert sorted(p.name for p in out.iterdir()) == ["entities.csv", "index.html", "paragraphs.csv", "places.csv"]
    assert summary.articles == 5
    places = {r["code"]: r for r in rows(out / "places.csv")}
    # the five seed articles: Jinan (Shandong), Daqing (Heilongjiang), Yongji (Shanxi), Zhongshan (Guangdong), Liaocheng
    for code in ("370100", "230600", "140881", "442000", "371500"):
        assert code in places, code
    assert places["140881"]["level"] == "county" and places["140881"]["province"] == "山西省"
    assert int(places["230600"]["articles"]) == 1 and int(places["230600"]["paragraphs_ATTRACT"]) > 0
    entities = rows(out / "entities.csv")
    money = [e for e in entities if e["label"] == "MONEY" and e["unit"] == "元"]
    assert money and all(float(e["value"]) > 0 for e in money)
    assert {e["place_code"] for e in entities if e["text"] == "大庆"} == {"230600"}
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
    for shown in ("山东省", "黑龙江省", "大庆市", "引才", "育才", "留才", "<svg"):
        assert shown in page, shown


def test_every_figure_links_to_evidence_with_the_entity_marked(tmp_path):
    out = tmp_path / "report"
    write_report([write_jsonl(tmp_path / "gold.jsonl", gold_records())], out)
    page = (out / "index.html").read_text(encoding="utf-8")
    targets = set(re.findall(r'href="#(p\d+-\d+)"', page))
    anchors = set(re.findall(r'id="(p\d+-\d+)"', page))
    assert targets and targets <= anchors  # no link to nowhere
    assert re.search(r'id="p\d+-\d+".*?<mark>大庆</mark>', page, re.S)


def test_the_command_refuses_what_is_not_predict_output_and_leaves_no_half_written_dir(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", gold_records()[:1])
    cases = {
        "empty.jsonl": ("", "empty file"),
        "notjson.jsonl": ("{oops\n", ":1: not JSON"),
        "tasks.jsonl": ('{"data": {"text": "x"}}\n', ":1: not a prediction record"),
        "orphan.jsonl": (json.dumps({**gold_records()[0], "entities": [{"label": "LOC", "text": "x", "start": 0, "end": 1, "paragraph": 99}]}, ensure_ascii=False) + "\n", ":1: entity 0 (LOC [0,1)) is in no paragraph"),
        "future.jsonl": (json.dumps({**gold_records()[0], "record_version": 9}, ensure_ascii=False) + "\n", "record_version: Input should be 1, 2 or 3"),
    }
    for name, (content, message) in cases.items():
        bad = tmp_path / name
        bad.write_text(content, encoding="utf-8")
        out = tmp_path / f"out-{name}"
        proc = subprocess.run(
            [sys.executable, "-c", "from train.cli import main; main()", "report", str(good), str(bad), "-o", str(out), "--no-progress"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {bad}") and message in lines[0], proc.stderr
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(f".out-{name}")]


def test_a_directory_with_other_files_is_never_replaced(tmp_path):
    data = write_jsonl(tmp_path / "gold.jsonl", gold_records()[:1])
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.docx").write_text("years of work", encoding="utf-8")
    with pytest.raises(InputError, match="holds other files"):
        write_report([data], mine)
    assert (mine / "thesis.docx").read_text(encoding="utf-8") == "years of work"
    write_report([data], tmp_path / "r")
    write_report([data], tmp_path / "r")  # an earlier report is replaced whole
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["entities.csv", "index.html", "paragraphs.csv", "places.csv"]


def test_predict_output_goes_straight_into_a_report(tiny_models, seed_articles, tmp_path):
    """Real predict records (tiny models) of the seed articles: places linked by predict, read by report."""
    pred = tmp_path / "pred.jsonl"
    run = [sys.executable, "-c", "from train.cli import main; main()"]
    proc = subprocess.run([*run, "predict", *map(str, seed_articles), "-o", str(pred), "--models", str(tiny_models.root), "--no-progress"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(pred.read_text(encoding="utf-8").splitlines()[0])
    assert record["record_version"] == RECORD_VERSION
    assert all("place" in e for e in record["entities"] if e["label"] in ("LOC", "ORG", "EDU"))
    proc = subprocess.run([*run, "report", str(pred), "-o", str(tmp_path / "r"), "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("places.csv")
    assert len(rows(tmp_path / "r" / "paragraphs.csv")) == sum(len(json.loads(l)["paragraphs"]) for l in pred.read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
def test_the_page_renders_in_a_browser_with_its_tables_and_charts(tmp_path):
    from playwright.sync_api import sync_playwright

    from test_labelstudio_browser import CHROMIUM, CHROMIUM_ARGS

    assert CHROMIUM.exists(), "no /usr/bin/chromium: run `make browser`"
    out = tmp_path / "report"
    write_report([write_jsonl(tmp_path / "gold.jsonl", gold_records())], out)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto((out / "index.html").as_uri())
        assert page.locator("h2").count() >= 5
        assert page.locator("table").count() >= 5
        charts = page.locator("svg.chart")
        assert charts.count() >= 3
        box = charts.first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 50  # drawn, not collapsed
        assert page.locator("svg.chart rect").count() > 20
        first_row = page.locator("table").nth(1).locator("tr").nth(1).inner_text()
        assert re.search(r"^\S+ \d{6}\t\d+ / \d+", first_row)  # a division by name and code, then articles / paragraphs
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=False)  # the top of the page
        page.locator('a[href^="#p"]').first.click()
        assert page.locator(".ev:target mark").count() >= 1  # the evidence, the entity marked
        browser.close()
    assert [u for u in requests if not u.startswith("file://")] == []  # nothing from the network
    assert shot.stat().st_size > 10_000
    (ROOT / "build").mkdir(exist_ok=True)
    shot.replace(ROOT / "build" / "report.png")
