"""`talent-tagger predict` with real tiny models: the output contract, encodings, formats, shards."""

import csv
import json
import subprocess
import sys

import pytest
import torch
from opencc import OpenCC

from train.errors import InputError
from train.labelstudio import RECORD_VERSION, read_export
from train.places import LINKED, gazetteer
from train.predict import Models, run_predict
from train.quantities import METRIC_LABELS
from train.text import normalize, read_article, split_article

pytestmark = pytest.mark.slow  # needs the tiny models (trained once per session)

TALENT_TAGGER = [sys.executable, "-c", "from train.cli import main; main()"]
ARTICLE_KEYS = {"id", "source", "model_version", "record_version", "thresholds", "text", "paragraphs", "entities", "measures"}
PARAGRAPH_KEYS = {"index", "text", "start", "orig_start", "orig_end", "original", "classes", "labels"}
ENTITY_KEYS = {"label", "text", "start", "end", "score", "paragraph", "orig_start", "orig_end"}


@pytest.fixture(scope="module")
def models(tiny_models):
    """Full precision: these tests check that batching changes nothing (bf16 would, slightly)."""
    return Models.load(tiny_models.root, device="cpu", precision="fp32")


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _predict(models, inputs, out, **kw):
    run_predict([str(p) for p in inputs], out, models=models, progress=False, **kw)
    return out


def check_record(rec, original, models):
    """Every promise of the output contract for one article record."""
    assert set(rec) == ARTICLE_KEYS and rec["record_version"] == RECORD_VERSION
    paragraphs = split_article(original)
    assert [p["text"] for p in rec["paragraphs"]] == [p.text for p in paragraphs]
    assert rec["text"] == "\n".join(p.text for p in paragraphs)
    thresholds = models.thresholds()
    measures = {}
    for i, (p, par) in enumerate(zip(rec["paragraphs"], paragraphs)):
        assert set(p) == PARAGRAPH_KEYS and p["index"] == i
        assert rec["text"][p["start"] : p["start"] + len(p["text"])] == p["text"]
        assert original[p["orig_start"] : p["orig_end"]] == p["original"] == par.original
        assert set(p["classes"]) == set(models.classifier.classes)
        assert all(0.0 <= v <= 1.0 for v in p["classes"].values())
        assert p["labels"] == [c for c in thresholds if p["classes"][c] >= thresholds[c]]
        for c in p["labels"]:
            measures.setdefault(c, []).append(i)
    assert rec["measures"] == measures
    for e in rec["entities"]:
        assert ENTITY_KEYS <= set(e) and e["label"] in models.tagger.labels
        assert rec["text"][e["start"] : e["end"]] == e["text"]
        par = rec["paragraphs"][e["paragraph"]]
        assert par["start"] <= e["start"] < e["end"] <= par["start"] + len(par["text"])
        assert normalize(original[e["orig_start"] : e["orig_end"]]).text == e["text"]
        assert 0.0 <= e["score"] <= 1.0
        assert ("value" in e and "unit" in e) == (e["label"] in METRIC_LABELS)
        assert ("place" in e) == (e["label"] in LINKED)
        if e.get("place"):
            assert gazetteer().by_code[e["place"]["code"]].name == e["place"]["name"]


def test_predict_command_writes_the_contract_on_the_seed_articles(tmp_path, tiny_models, models, seed_articles):
    out = tmp_path / "pred.jsonl"
    run = subprocess.run(
        [*TALENT_TAGGER, "predict", str(seed_articles[0].parent), "-o", str(out), "--models", str(tiny_models.root)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and f"{out}: 5 articles" in run.stderr
    records = _records(out)
    assert [r["id"] for r in records] == [p.stem for p in seed_articles]
    assert [r["source"] for r in records] == [p.name for p in seed_articles]
    versions = [json.loads((d / "manifest.json").read_text())["version"] for d in (tiny_models.tagger, tiny_models.classifier)]
    assert {r["model_version"] for r in records} == {"+".join(versions)}
    for rec, path in zip(records, seed_articles):
        check_record(rec, read_article(path), models)


def test_records_match_the_models_applied_to_each_paragraph_alone(tmp_path, models, seed_articles):
    """Batching across articles and sorting by length changes nothing but speed."""
    records = _records(_predict(models, seed_articles[:3], tmp_path / "p.jsonl", batch_size=3, group_paragraphs=7))
    for rec in records:
        for p in rec["paragraphs"]:
            (alone,) = models.classifier.predict([p["text"]], batch_size=1)
            assert p["classes"] == pytest.approx(alone, abs=2e-4)
            (ents,) = models.tagger.predict([p["text"]], batch_size=1)
            got = [(e["start"] - p["start"], e["end"] - p["start"], e["label"]) for e in rec["entities"] if e["paragraph"] == p["index"]]
            assert got == [(e.start, e.end, e.label) for e in ents if p["text"][e.start : e.end].strip()]


# Gold entities of the seed articles that the tiny tagger finds again (article, paragraph, normalized
# text, label, the original text it comes from, value, unit). The originals are in traditional
# characters and the entities lie past the first 64-token window of their paragraphs.
SEED_ENTITIES = [
    ("002_22c90fdcf88f9a11", 9, "6689个", "QUANTITY", "6689個", 6689, "个"),
    ("004_e21140da06641328", 2, "40名", "TALENT_NUM", "40名", 40, "名"),
    ("001_abec8d62ecffe52f", 7, "131名", "TALENT_NUM", "131名", 131, "名"),
    ("002_22c90fdcf88f9a11", 7, "黑龙江", "LOC", "黑龍江", None, None),
]


def test_tagger_finds_gold_entities_of_the_seed_articles(tmp_path, tiny_models, models, seed_articles):
    records = {r["id"]: r for r in _records(_predict(models, seed_articles, tmp_path / "p.jsonl"))}
    originals = {p.stem: read_article(p) for p in seed_articles}
    gold = {(ex.article_id, ex.paragraph): ex for ex in read_export(tiny_models.data).examples if ex.article_id in records}
    for rec in records.values():
        check_record(rec, originals[rec["id"]], models)
    found = []
    for rec in records.values():
        for e in rec["entities"]:
            par = rec["paragraphs"][e["paragraph"]]
            span = (e["start"] - par["start"], e["end"] - par["start"], e["label"])
            if span in {(s.start, s.end, s.label) for s in gold[rec["id"], par["index"]].spans}:
                found.append(e)
    assert len(found) >= 50, f"the tiny tagger found only {len(found)} gold entities of the seed articles"
    assert {"LOC", "QUANTITY", "TALENT_NUM"} <= {e["label"] for e in found}
    for art, index, text, label, original, value, unit in SEED_ENTITIES:
        rec, ex = records[art], gold[art, index]
        (span,) = [s for s in ex.spans if ex.text[s.start : s.end] == text and s.label == label]
        start = rec["paragraphs"][index]["start"] + span.start
        (e,) = [e for e in rec["entities"] if (e["start"], e["end"], e["label"]) == (start, start + len(text), label)]
        assert e["text"] == text and e["paragraph"] == index
        assert originals[art][e["orig_start"] : e["orig_end"]] == original
        assert rec["paragraphs"][index]["orig_start"] <= e["orig_start"] < e["orig_end"] <= rec["paragraphs"][index]["orig_end"]
        assert (e.get("value"), e.get("unit")) == (value, unit)
        assert e["score"] > 0.5


def _same_but_source(a, b):
    return [{k: v for k, v in r.items() if k != "source"} for r in a] == [{k: v for k, v in r.items() if k != "source"} for r in b]


def test_gb18030_and_big5_copies_give_the_same_output_as_utf8(tmp_path, models, seed_articles):
    text = read_article(seed_articles[3])
    # Big5 holds traditional characters only: a traditional copy, without what Big5 cannot encode
    trad = "".join(ch for ch in OpenCC("s2t").convert(text) if _encodes(ch, "big5"))
    for name, content, encoding in (
        ("utf8", text, "utf-8"),
        ("gb18030", text, "gb18030"),
        ("utf8_trad", trad, "utf-8"),
        ("big5", trad, "big5"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "article.txt").write_bytes(content.encode(encoding))
    out = {name: _records(_predict(models, [tmp_path / name], tmp_path / f"{name}.jsonl")) for name in ("utf8", "gb18030", "utf8_trad", "big5")}
    assert out["gb18030"] == out["utf8"]
    assert out["big5"] == out["utf8_trad"]
    assert out["utf8"][0]["paragraphs"] and out["big5"][0]["paragraphs"]


def _encodes(ch, encoding):
    try:
        ch.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


def test_jsonl_input_gives_the_same_records_as_txt_files(tmp_path, models, seed_articles):
    jl = tmp_path / "articles.jsonl"
    jl.write_text(
        "".join(json.dumps({"id": p.stem, "text": read_article(p)}, ensure_ascii=False) + "\n" for p in seed_articles),
        encoding="utf-8",
    )
    from_jsonl = _records(_predict(models, [jl], tmp_path / "a.jsonl"))
    from_txt = _records(_predict(models, seed_articles, tmp_path / "b.jsonl"))
    assert {r["source"] for r in from_jsonl} == {"articles.jsonl"}
    assert _same_but_source(from_jsonl, from_txt)


def test_shards_cover_all_articles_exactly_once(tmp_path, models, seed_articles):
    whole = _records(_predict(models, [seed_articles[0].parent], tmp_path / "all.jsonl"))
    parts = [_records(_predict(models, [seed_articles[0].parent], tmp_path / f"{k}.jsonl", shard=f"{k}/2")) for k in (1, 2)]
    assert [len(p) for p in parts] == [3, 2]
    assert sorted(r["id"] for p in parts for r in p) == sorted(r["id"] for r in whole)
    for a, b in zip(sorted((r for p in parts for r in p), key=lambda r: r["id"]), whole):
        _assert_same_record(a, b)


def _assert_same_record(a, b):
    """Equal records; probabilities and scores to float noise (other batch neighbours pad differently)."""
    strip = lambda r: {**r, "paragraphs": [{**p, "classes": None} for p in r["paragraphs"]], "entities": [{**e, "score": None} for e in r["entities"]]}
    assert strip(a) == strip(b)
    for pa, pb in zip(a["paragraphs"], b["paragraphs"]):
        assert pa["classes"] == pytest.approx(pb["classes"], abs=2e-4)
    assert [e["score"] for e in a["entities"]] == pytest.approx([e["score"] for e in b["entities"]], abs=2e-4)


def test_csv_has_one_row_per_entity(tmp_path, models, seed_articles):
    records = _records(_predict(models, seed_articles, tmp_path / "p.jsonl"))
    out = _predict(models, seed_articles, tmp_path / "p.csv", fmt="csv")
    with open(out, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == ["id", "paragraph", "label", "text", "start", "end", "orig_start", "orig_end", "score", "value", "unit", "place_code", "place_name", "province"]
    expected = [(r["id"], str(e["start"]), e["label"], e["text"]) for r in records for e in r["entities"]]
    assert [(row["id"], row["start"], row["label"], row["text"]) for row in rows] == expected
    assert [row["place_code"] for row in rows] == [(e.get("place") or {}).get("code", "") for r in records for e in r["entities"]]


def test_labelstudio_format_is_an_import_file_with_predictions(tmp_path, models, seed_articles):
    records = _records(_predict(models, seed_articles[:2], tmp_path / "p.jsonl"))
    tasks = json.loads(_predict(models, seed_articles[:2], tmp_path / "p.json", fmt="labelstudio").read_text(encoding="utf-8"))
    pars = [(r, p) for r in records for p in r["paragraphs"]]
    assert len(tasks) == len(pars)
    for task, (rec, par) in zip(tasks, pars):
        data = task["data"]
        assert (data["text"], data["article_id"], data["paragraph"], data["source"]) == (par["text"], rec["id"], par["index"], rec["source"])
        assert data["original"] == par["original"] and data["orig_start"] == par["orig_start"]
        (pred,) = task["predictions"]
        assert pred["model_version"] == rec["model_version"] and 0.0 <= pred["score"] <= 1.0
        choices = [r["value"]["choices"] for r in pred["result"] if r["type"] == "choices"]
        assert choices == ([par["labels"]] if par["labels"] else [])
        spans = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in pred["result"] if r["type"] == "labels"]
        own = [(e["start"] - par["start"], e["end"] - par["start"], e["label"]) for e in rec["entities"] if e["paragraph"] == par["index"]]
        assert spans == own


def test_bf16_precision_gives_almost_the_same_predictions(tmp_path, tiny_models, models, seed_articles):
    """--precision bf16 (the default on CPUs with AMX) trades a few labels for speed, no more."""
    fast = Models.load(tiny_models.root, device="cpu", precision="bf16")
    assert fast.tagger.cpu_bf16 and not models.tagger.cpu_bf16
    full = _records(_predict(models, seed_articles, tmp_path / "fp32.jsonl"))
    half = _records(_predict(fast, seed_articles, tmp_path / "bf16.jsonl"))
    ents = lambda recs: {(r["id"], e["start"], e["end"], e["label"]) for r in recs for e in r["entities"]}  # noqa: E731
    a, b = ents(full), ents(half)
    assert a and len(a & b) >= 0.95 * len(a | b)
    for r, h in zip(full, half):
        for p, q in zip(r["paragraphs"], h["paragraphs"]):
            assert p["classes"] == pytest.approx(q["classes"], abs=0.03)


def test_int8_precision_quantizes_the_square_and_widening_linear_layers_and_keeps_most_predictions(
    tmp_path, tiny_models, models, seed_articles
):
    """--precision int8: dynamic int8 on the CPU, except the layers that narrow (docs/experiments.md)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    q = Models.load(tiny_models.root, device="cpu", precision="int8")
    for model in (q.tagger.model, q.classifier.model):
        layers = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, DynamicLinear))]
        narrowing = [m for m in layers if m.out_features < m.in_features]
        assert narrowing and not any(isinstance(m, DynamicLinear) for m in narrowing)
        quantized = [m for m in layers if m.out_features >= m.in_features]
        assert all(isinstance(m, DynamicLinear) and m.weight().qscheme() == torch.per_channel_affine for m in quantized)
    full = _records(_predict(models, seed_articles, tmp_path / "fp32.jsonl"))
    quant = _records(_predict(q, seed_articles, tmp_path / "int8.jsonl"))
    ents = lambda recs: {(r["id"], e["start"], e["end"], e["label"]) for r in recs for e in r["entities"]}  # noqa: E731
    a, b = ents(full), ents(quant)
    assert a and len(a & b) >= 0.8 * len(a | b)


def test_unknown_precision_is_a_one_line_error(tmp_path, seed_articles):
    out = tmp_path / "p.jsonl"
    with pytest.raises(InputError, match="--precision fp8: must be one of auto, fp32, bf16"):
        run_predict([str(seed_articles[0])], out, precision="fp8", progress=False)
    assert not out.exists()
