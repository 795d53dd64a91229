"""Prediction: articles in, one record per article out (entities, metric values, measures).

Inputs stream through in bounded groups: paragraphs of a few hundred at a time are
batched across articles and sorted by length, both models see the same normalized
paragraphs (:func:`train.text.split_article`, shared with training), and every
entity is mapped back to the original text through the paragraph's offset map.
The record format is the contract in LABELS.md "Output of prediction".
"""

from __future__ import annotations

import csv
import json
import re
import sys
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from train.errors import InputError
from train.files import PROJECT_ROOT, check_output, expand_paths, output_file
from train.labelstudio import RECORD_VERSION, Span, load_schema, task_data, task_prediction
from train.places import LINKED, gazetteer
from train.quantities import METRIC_LABELS, parse_metric
from train.text import EMPTY_ARTICLE, Paragraph, read_article, split_article

FORMATS = ("jsonl", "csv", "labelstudio")
PRECISIONS = ("auto", "fp32", "bf16", "int8")  # auto: bf16 on a CPU with AMX (about 2x faster) or a bf16 GPU; int8: CPU only
CSV_FIELDS = ("id", "paragraph", "label", "text", "start", "end", "orig_start", "orig_end", "score", "value", "unit", "place_code", "place_name", "province")
GROUP_PARAGRAPHS = 256  # paragraphs held in memory at once (bounded, whatever the input size)
_BINARY_PROBE = 4096

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the models load lazily: torch and transformers only when predicting
    from train.classifier import Classifier
    from train.tagger import Entity, Tagger


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Article:
    """One input article: its id, where it came from, its decoded text and paragraphs."""

    id: str
    source: str
    original: str
    paragraphs: list[Paragraph]
    where: str = ""  # file, or file: line for .jsonl, for messages


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``"K/N"`` (1-based) -> (K, N); ``None`` means the whole input, (1, 1)."""
    if spec is None:
        return 1, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise InputError(f"--shard {spec}: expected K/N with 1 <= K <= N, e.g. 1/4")
    return int(m.group(1)), int(m.group(2))


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """The sorted input list: files as given, .txt files inside directories, duplicates once."""
    return sorted(set(expand_paths(paths, (".txt",))))


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() == ".jsonl"


def _jsonl_article(path: Path, lineno: int, raw: bytes) -> tuple[str, str]:
    """(id, text) of one .jsonl line; a one-line InputError naming file and line otherwise."""
    where = f"{path}: line {lineno}"
    if b"\x00" in raw:
        raise InputError(f"{where}: looks like binary data, not a JSON line")
    try:
        obj = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 (JSON lines must be UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object with \"id\" and \"text\"")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: no \"text\" string")
    art_id = obj.get("id")
    if isinstance(art_id, (bool, dict, list)):
        raise InputError(f"{where}: \"id\" is {json.dumps(art_id, ensure_ascii=False)[:40]}, not a string or number")
    if art_id is None or (isinstance(art_id, str) and not art_id.strip()):
        art_id = f"{path.stem}-{lineno}"  # documented fallback: file stem and line number
    return str(art_id), text


def _raw_articles(files: Sequence[Path], shard: tuple[int, int]) -> Iterator[tuple[str, str, str, str]]:
    """(id, source, decoded text, where: file or file:line) of the shard's articles, in input order.

    Article number i (0-based, over the sorted input list, counting each .jsonl line
    as one article) belongs to shard K of N when i % N == K - 1: the Python slice
    ``articles[K-1::N]``. Articles of other shards are never decoded.
    """
    k, n = shard
    i = -1
    for path in files:
        if not _is_jsonl(path):
            i += 1
            if i % n == k - 1:
                yield path.stem, path.name, read_article(path), str(path)
            continue
        seen = False
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                seen = True
                i += 1
                if i % n == k - 1:
                    art_id, text = _jsonl_article(path, lineno, raw)
                    yield art_id, path.name, text, f"{path}: line {lineno}"
        if not seen:
            raise InputError(f"{path}: file is empty")


def count_articles(files: Sequence[Path], shard: tuple[int, int] = (1, 1)) -> int:
    """Check every input of the shard (decode, JSON) and count its articles.

    A cheap first pass, so bad input fails in seconds, before models load, and the
    progress bar knows its total. Only the ids are kept: an id given twice (two files
    with the same stem, a repeated JSON id) would make two records nobody can tell
    apart in the output or in Label Studio, so it is an error naming both places.
    """
    first: dict[str, str] = {}
    for art_id, _, _, where in _raw_articles(files, shard):
        if art_id in first:
            raise InputError(f"{where}: article id {art_id!r} was already given by {first[art_id]}")
        first[art_id] = where
    return len(first)


def iter_articles(files: Sequence[Path], shard: tuple[int, int] = (1, 1)) -> Iterator[Article]:
    """Stream the shard's articles, normalized into paragraphs (shared with training)."""
    for art_id, source, text, where in _raw_articles(files, shard):
        yield Article(art_id, source, text, split_article(text), where)


# --------------------------------------------------------------------------- models


def _manifest_version(model_dir: Path) -> str:
    try:
        version = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        version = None
    return str(version) if version else f"{model_dir.name}-unversioned"


@dataclass
class Models:
    """The trained tagger and classifier of one models dir, and their joint version id.

    ``shared``: the two read text through the same encoder (trained with ``shared_encoder``),
    which :meth:`predict` then runs once per window for both.
    """

    tagger: Tagger
    classifier: Classifier
    version: str
    shared: bool = False

    @classmethod
    def load(
        cls, models_dir: str | Path, device: str | None = None, decoding: str = "viterbi", precision: str = "auto"
    ) -> Models:
        """Load the tagger and classifier of one training run; a one-line InputError if they are missing or mixed.

        transformers' weight-loading bars are turned off: every command that loads models
        (predict, select, serve) shows one bar of its own, or none.
        """
        from transformers.utils import logging as hf_logging

        from train.modeldir import pair_dirs

        hf_logging.disable_progress_bar()

        tagger_dir, classifier_dir = pair_dirs(models_dir)
        from train.classifier import Classifier
        from train.tagger import Tagger

        version = f"{_manifest_version(tagger_dir)}+{_manifest_version(classifier_dir)}"
        from train.runtime import int8_linear, use_bf16

        bf16 = use_bf16(precision)  # False for int8, as for fp32
        tagger = Tagger.load(tagger_dir, device=device, decoding=decoding, cpu_bf16=bf16)
        classifier = Classifier.load(classifier_dir, device=device, cpu_bf16=bf16)
        from train.joint import shares_encoder, tie_encoder

        shared = shares_encoder(tagger, classifier)
        if precision == "int8":
            if next(tagger.model.parameters()).device.type != "cpu":
                raise InputError("--precision int8 runs on the CPU only (pass --device cpu)")
            tagger.model, classifier.model = int8_linear(tagger.model), int8_linear(classifier.model)
        if shared:  # one copy of the encoder in memory (quantizing copies it)
            tie_encoder(tagger, classifier)
        return cls(tagger, classifier, version, shared)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> tuple[list[list[Entity]], list[dict[str, float]]]:
        """(entities, class probabilities) per text: one encoder pass for both when ``shared``."""
        if not texts:
            return [], []
        if self.shared:
            from train.joint import predict_shared

            return predict_shared(self.tagger, self.classifier, texts, batch_size)
        return self.tagger.predict(texts, batch_size=batch_size), self.classifier.predict(texts, batch_size=batch_size)

    def thresholds(self) -> dict[str, float]:
        th = self.classifier.thresholds
        if isinstance(th, dict):
            return {c: float(th[c]) for c in self.classifier.classes}
        return {c: float(t) for c, t in zip(self.classifier.classes, th)}


# --------------------------------------------------------------------------- records


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """An entity never starts or ends with a space (normalization trims them, so the map would not round-trip)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def article_record(
    article: Article,
    entities: Sequence[Sequence[Entity]],
    probabilities: Sequence[dict[str, float]],
    thresholds: dict[str, float],
    version: str,
) -> dict[str, Any]:
    """The output record of one article (README, "Prediction output"): LOC entities, and ORG/EDU
    ones, carry ``place``, the division they name or open with (:mod:`train.places`), or None."""
    paragraphs: list[dict[str, Any]] = []
    out_entities: list[dict[str, Any]] = []
    measures: dict[str, list[int]] = {}
    offset = 0
    for par, ents, probs in zip(article.paragraphs, entities, probabilities):
        classes = {c: round(float(probs[c]), 4) for c in thresholds}
        labels = [c for c in thresholds if float(probs[c]) >= thresholds[c]]
        for c in labels:
            measures.setdefault(c, []).append(par.index)
        paragraphs.append(
            {
                "index": par.index,
                "text": par.text,
                "start": offset,
                "orig_start": par.orig_start,
                "orig_end": par.orig_end,
                "original": par.original,
                "classes": classes,
                "labels": labels,
            }
        )
        for e in sorted(ents, key=lambda e: (e.start, e.end)):
            start, end = _trim(par.text, max(0, int(e.start)), min(len(par.text), int(e.end)))
            if start >= end:
                continue
            ent: dict[str, Any] = {
                "label": e.label,
                "text": par.text[start:end],
                "start": offset + start,
                "end": offset + end,
                "score": round(float(e.score), 4),
                "paragraph": par.index,
            }
            ent["orig_start"], ent["orig_end"] = par.original_span(start, end)
            if e.label in METRIC_LABELS:
                ent["value"], ent["unit"] = parse_metric(ent["text"], e.label)
            out_entities.append(ent)
        offset += len(par.text) + 1  # paragraphs are joined with "\n"
    text = "\n".join(p.text for p in article.paragraphs)
    for ent, link in zip(out_entities, gazetteer().link_entities(out_entities, text)):
        if ent["label"] in LINKED:
            ent["place"] = link.as_json() if link else None
    return {
        "id": article.id,
        "source": article.source,
        "model_version": version,
        "record_version": RECORD_VERSION,
        "thresholds": dict(thresholds),
        "text": text,
        "paragraphs": paragraphs,
        "entities": out_entities,
        "measures": measures,
    }


def _paragraph_groups(
    articles: Iterable[Article], max_paragraphs: int
) -> Iterator[tuple[list[tuple[Article, int]], list[Article]]]:
    """Groups of at most ``max_paragraphs`` (article, paragraph number) pairs to run, each with
    the articles whose last paragraph is in it or before it, in input order.

    A long article is split over several groups, so memory stays bounded by the group
    whatever one article's length (a 3 MB article on one line is thousands of chunks).
    """
    pairs: list[tuple[Article, int]] = []
    done: list[Article] = []
    for art in articles:
        for k in range(len(art.paragraphs)):
            pairs.append((art, k))
            if len(pairs) == max_paragraphs:
                yield pairs, done
                pairs, done = [], []
        done.append(art)
    if pairs or done:
        yield pairs, done


def predict_records(
    articles: Iterable[Article],
    models: Models,
    batch_size: int = 32,
    group_paragraphs: int = GROUP_PARAGRAPHS,
    on_article: Callable[[], None] | None = None,
) -> Iterator[tuple[Article, dict[str, Any]]]:
    """(article, record) for a stream of articles, in input order, one group of paragraphs in memory at a time.

    Within a group the paragraphs are sorted by length so each batch pads little; both
    models get exactly the same paragraph texts. An article's results collect over the
    groups its paragraphs fall in; its record is built once its last paragraph has run.
    """
    import torch

    thresholds = models.thresholds()
    results: dict[int, tuple[list[Any], list[Any]]] = {}  # id(article) -> (entities, probabilities) per paragraph
    for pairs, done in _paragraph_groups(articles, group_paragraphs):
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0].paragraphs[pairs[i][1]].text))
        texts = [pairs[i][0].paragraphs[pairs[i][1]].text for i in order]
        with torch.inference_mode():
            ents, probs = models.predict(texts, batch_size)
        for j, i in enumerate(order):
            art, k = pairs[i]
            n = len(art.paragraphs)
            slots = results.setdefault(id(art), ([None] * n, [None] * n))
            slots[0][k], slots[1][k] = ents[j], probs[j]
        for art in done:
            art_ents, art_probs = results.pop(id(art), ([], []))
            yield art, article_record(art, art_ents, art_probs, thresholds, models.version)
            if on_article:
                on_article()


# --------------------------------------------------------------------------- writers


def write_jsonl(pairs: Iterable[tuple[Article, dict[str, Any]]], fh: IO[str]) -> int:
    """One JSON object per article and line."""
    n = 0
    for _, rec in pairs:
        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(pairs: Iterable[tuple[Article, dict[str, Any]]], fh: IO[str]) -> int:
    """One row per entity; value and unit empty for non-metrics, the place's columns where no division is named."""
    writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for _, rec in pairs:
        for e in rec["entities"]:
            row = {k: e.get(k, "") for k in CSV_FIELDS}
            row["id"] = rec["id"]
            row["value"] = "" if e.get("value") is None else e["value"]
            row["unit"] = "" if e.get("unit") is None else e["unit"]
            place = e.get("place") or {}
            row["place_code"], row["place_name"], row["province"] = place.get("code", ""), place.get("name", ""), place.get("province", "")
            writer.writerow(row)
        n += 1
    return n


def labelstudio_tasks(article: Article, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Label Studio import tasks with predictions, one per paragraph of an article (regions and
    task score from :func:`train.labelstudio.task_prediction`, as ``push`` and ``serve`` give them)."""
    schema = load_schema()
    by_paragraph: dict[int, list[dict[str, Any]]] = {}
    for e in record["entities"]:
        by_paragraph.setdefault(e["paragraph"], []).append(e)
    tasks = []
    for par, rpar in zip(article.paragraphs, record["paragraphs"]):
        spans = [
            (Span(e["start"] - rpar["start"], e["end"] - rpar["start"], e["label"]), e["score"])
            for e in by_paragraph.get(par.index, [])
        ]
        where = f"article {article.id}: paragraph {par.index}"
        result, score = task_prediction(par.text, spans, rpar["labels"], [rpar["classes"]], record["thresholds"], schema, where)
        prediction = {"model_version": record["model_version"], "score": score, "result": result}
        tasks.append({"data": task_data(article.id, article.source, par), "predictions": [prediction]})
    return tasks


def write_labelstudio(pairs: Iterable[tuple[Article, dict[str, Any]]], fh: IO[str]) -> int:
    """A Label Studio JSON import file, written task by task (the list is never held in memory)."""
    fh.write("[")
    first = True
    n = 0
    for article, rec in pairs:
        for task in labelstudio_tasks(article, rec):
            fh.write("\n" if first else ",\n")
            fh.write(json.dumps(task, ensure_ascii=False))
            first = False
        n += 1
    fh.write("\n]\n")
    return n


def format_for(output: Path, fmt: str | None) -> str:
    """The output format: as given, else from the suffix (.csv, .json = labelstudio), else jsonl."""
    if fmt is None:
        return {".csv": "csv", ".json": "labelstudio"}.get(output.suffix.lower(), "jsonl")
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    return fmt


# --------------------------------------------------------------------------- the command


@dataclass
class PredictSummary:
    """What a predict run wrote, and the articles it skipped because nothing was left to read."""

    written: int = 0
    skipped: list[str] = field(default_factory=list)  # where (file or file: line) of each

    def line(self, output: str | Path) -> str:
        skipped = f" ({len(self.skipped)} skipped: nothing left after normalization)" if self.skipped else ""
        return f"{output}: {self.written} articles{skipped}"


def with_text(articles: Iterable[Article], summary: PredictSummary, on_skip: Callable[[], None] | None = None) -> Iterator[Article]:
    """The articles that have paragraphs; the others are named in a warning and counted (one rule for every command)."""
    for art in articles:
        if art.paragraphs:
            yield art
            continue
        summary.skipped.append(art.where or art.source)
        log.warning("%s: %s", art.where or art.source, EMPTY_ARTICLE)
        if on_skip:
            on_skip()


def run_predict(
    inputs: Sequence[str | Path],
    output: str | Path,
    fmt: str | None = None,
    models_dir: str | Path = PROJECT_ROOT / "models",
    batch_size: int = 32,
    shard: str | None = None,
    device: str | None = None,
    progress: bool = True,
    group_paragraphs: int = GROUP_PARAGRAPHS,
    models: Models | None = None,
    decoding: str = "viterbi",
    precision: str = "auto",
) -> PredictSummary:
    """Predict on the inputs and write ``output`` (see :func:`train.files.output_file`).

    Order: arguments, inputs (a validating pass), models (loaded from ``models_dir``
    unless given), then the streaming pass. Bad input raises InputError before
    anything is written. Articles with no text left after normalization are skipped
    with a warning, not written.
    """
    from tqdm import tqdm

    output = Path(output)
    fmt = format_for(output, fmt)
    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be at least 1")
    k_n = parse_shard(shard)
    from train.tagger import DECODINGS

    if decoding not in DECODINGS:
        raise InputError(f"--decoding {decoding}: must be one of {', '.join(DECODINGS)}")
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision}: must be one of {', '.join(PRECISIONS)}")
    if device is not None:
        from train.runtime import pick_device

        pick_device(device)  # a device this machine lacks: an error now, not after reading every input
    files = expand_inputs(inputs)
    total = count_articles(files, k_n)
    check_output(output, inputs=files)
    if models is None:
        models = Models.load(models_dir, device=device, decoding=decoding, precision=precision)
    summary = PredictSummary()
    bar = tqdm(total=total, unit="article", file=sys.stderr, disable=None if progress else True, desc="predict")
    try:
        articles = with_text(iter_articles(files, k_n), summary, on_skip=lambda: bar.update(1))
        pairs = predict_records(articles, models, batch_size, group_paragraphs, on_article=lambda: bar.update(1))
        with output_file(output) as fh:
            if fmt == "jsonl":
                summary.written = write_jsonl(pairs, fh)
            elif fmt == "csv":
                summary.written = write_csv(pairs, fh)
            else:
                summary.written = write_labelstudio(pairs, fh)
    finally:
        bar.close()
    return summary
