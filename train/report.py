"""What the predictions say: the analysts' report (`talent-tagger report`).

Reads predict's JSONL records as a stream, twice: the first pass counts (measure types
by province and city, programmes/policies/organizations, metric values) and writes the
tidy CSVs; the second collects the paragraphs that the page cites as evidence. Memory
grows with the number of distinct names and places, not with the number of articles.

The page is one self-contained file: inline CSS and SVG charts, no script, nothing from
the network; it opens offline and prints. Every figure links to the paragraphs it came
from, with the entity marked.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import html
import math
import re
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from train.errors import InputError
from train.files import atomic_dir
from train.labelstudio import PredictionRecord, load_schema, parse_prediction
from train.places import Gazetteer, gazetteer

NAMED = ("PROGRAM", "POLICY", "ORG")  # the names the page ranks
UNITS = ("人", "元", "%")  # metric units the page totals and plots
EVIDENCE = 3  # paragraphs cited per figure
TOP_NAMES, TOP_CITIES, TOP_VALUES, CHART_ROWS = 20, 30, 10, 15
NO_CLASS = "none"  # paragraphs no measure type applies to
OUTPUTS = ("index.html", "paragraphs.csv", "entities.csv", "places.csv")
COLORS = ("#c2410c", "#1d4ed8", "#15803d", "#6b7280")


def class_names() -> dict[str, str]:
    """ATTRACT -> 引才 and so on, from the hints of labels/label_config.xml (the one source of labels)."""
    schema = load_schema()
    names = dict(re.findall(r'<Choice value="([^"]+)" hint="([^":]+):', schema.xml))
    return {c: names.get(c, c) for c in schema.classes}


# --------------------------------------------------------------------------- reading


def read_records(path: Path) -> Iterator[PredictionRecord]:
    """The records of one predictions file, checked as ``push`` checks them (:func:`train.labelstudio.parse_prediction`)."""
    empty = True
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        n = 0
        try:
            for n, line in enumerate(fh, 1):  # noqa: B007 (n names the line in errors)
                if line.strip():
                    empty = False
                    rec = parse_prediction(line, f"{path}:{n}")
                    if rec is not None:
                        _check_owners(rec, f"{path}:{n}")
                        yield rec
        except UnicodeDecodeError:
            raise InputError(f"{path}:{n + 1}: not UTF-8 text (predict writes UTF-8 JSONL)") from None
    if empty:
        raise InputError(f"{path}: empty file: no prediction records")


def _places(rec: PredictionRecord, gaz: Gazetteer) -> list[dict[str, str] | None]:
    """Each entity's ``place``: as predict wrote it, or linked here for a record from before places were."""
    if rec.record_version >= 2:
        return [e.place for e in rec.entities]
    entities = [{"label": e.label, "text": e.text or rec.text[e.start : e.end]} for e in rec.entities]
    return [link.as_json() if link else None for link in gaz.link_entities(entities, rec.text)]


def _check_owners(rec: PredictionRecord, where: str) -> None:
    for k, e in enumerate(rec.entities):
        if rec.paragraph_of(e) is None:
            raise InputError(f"{where}: entity {k} ({e.label} [{e.start},{e.end})) is in no paragraph of the record")


def _paragraph_of(rec: PredictionRecord) -> list[int]:
    """The paragraph index of each entity (:meth:`PredictionRecord.paragraph_of`; checked by :func:`read_records`)."""
    return [rec.paragraph_of(e).index for e in rec.entities]


# --------------------------------------------------------------------------- pass one: counting


@dataclass
class PlaceRow:
    """Articles and paragraphs per measure type that mention one division (or one inside it)."""

    articles: Counter = field(default_factory=Counter)
    paragraphs: Counter = field(default_factory=Counter)
    evidence: dict[str, list[Ref]] = field(default_factory=lambda: defaultdict(list))
    all_articles: int = 0  # articles that mention it, whatever their measure types


Ref = tuple[int, int, int, int]  # article number, paragraph index, start, end (article offsets) of the marked entity


@dataclass
class Counts:
    """What pass one learns. Articles are numbered in reading order; evidence is kept as :data:`Ref`."""

    articles: int = 0
    paragraphs: int = 0
    entities: int = 0
    classes: Counter = field(default_factory=Counter)  # paragraphs per class
    article_classes: Counter = field(default_factory=Counter)
    places: dict[str, dict[str, PlaceRow]] = field(default_factory=lambda: {k: defaultdict(PlaceRow) for k in ("any", "province", "city")})
    names: dict[str, Counter] = field(default_factory=lambda: {label: Counter() for label in NAMED})
    name_articles: dict[str, Counter] = field(default_factory=lambda: {label: Counter() for label in NAMED})
    values: dict[tuple[str, str], array] = field(default_factory=lambda: defaultdict(lambda: array("d")))
    largest: dict[tuple[str, str], list[tuple[float, Ref]]] = field(default_factory=lambda: defaultdict(list))
    other_units: Counter = field(default_factory=Counter)
    loc: int = 0
    loc_linked: int = 0
    versions: set = field(default_factory=set)


def _rows_for(code: str, gaz: Gazetteer) -> list[tuple[str, str]]:
    """The table rows a mention of division ``code`` counts in: itself, its province, its city."""
    d = gaz.by_code.get(code)
    if d is None:
        return []
    rows = [("any", code), ("province", gaz.province(d).code)]
    city = d if d.level == "city" else gaz.by_code.get(d.parent) if d.level == "county" else None
    if city is not None and city.level == "city":
        rows.append(("city", city.code))
    return rows


def count_record(c: Counts, art: int, rec: PredictionRecord, gaz: Gazetteer, classes: Sequence[str], paragraphs_csv: Any, entities_csv: Any) -> None:
    """Add one record to the counts and its rows to the CSVs."""
    c.articles += 1
    c.versions.add(rec.model_version)
    labels_of = {p.index: list(p.labels or []) for p in rec.paragraphs}
    marks: dict[int, dict[tuple[str, str], Ref]] = defaultdict(dict)  # paragraph -> table row -> first place mention
    names: dict[str, set[str]] = {label: set() for label in NAMED}
    for e, par, place in zip(rec.entities, _paragraph_of(rec), _places(rec, gaz)):
        c.entities += 1
        text = e.text or rec.text[e.start : e.end]
        ref: Ref = (art, par, e.start, e.end)
        if e.label == "LOC":
            c.loc += 1
            c.loc_linked += place is not None
        if place:
            for row in _rows_for(place["code"], gaz):
                marks[par].setdefault(row, ref)
        entities_csv.writerow([
            rec.id, par, e.label, text, _blank(e.value), _blank(e.unit), _blank(e.score),
            *((place["code"], place["name"], place["level"], place["province"]) if place else ("", "", "", "")),
            _blank(getattr(e, "orig_start", None)), _blank(getattr(e, "orig_end", None)),
        ])  # fmt: skip
        if e.label in NAMED:
            c.names[e.label][text] += 1
            names[e.label].add(text)
        if e.value is None or not e.unit or isinstance(e.value, bool):
            continue
        if e.unit not in UNITS:
            c.other_units[e.unit] += 1
            continue
        for cls in labels_of[par] or [NO_CLASS]:
            c.values[(cls, e.unit)].append(float(e.value))
            heap = c.largest[(cls, e.unit)]
            (heapq.heappush if len(heap) < TOP_VALUES else heapq.heappushpop)(heap, (float(e.value), ref))
    for label, found in names.items():
        c.name_articles[label].update(found)
    counted: set[tuple[str, str, str]] = set()  # (table, code, class) already counted as an article
    for p in rec.paragraphs:
        c.paragraphs += 1
        labels = labels_of[p.index]
        c.classes.update(labels)
        here = marks.get(p.index, {})
        paragraphs_csv.writerow([
            rec.id, rec.source, p.index, " ".join(labels), *(p.classes.get(k, "") for k in classes),
            " ".join(code for (table, code) in here if table == "any"), p.text,
        ])  # fmt: skip
        for (table, code), ref in here.items():
            row = c.places[table][code]
            for cls in labels or [NO_CLASS]:
                row.paragraphs[cls] += 1
                if len(row.evidence[cls]) < EVIDENCE:
                    row.evidence[cls].append(ref)
                if (table, code, cls) not in counted:
                    counted.add((table, code, cls))
                    row.articles[cls] += 1
    for table, code in {row for here in marks.values() for row in here}:
        c.places[table][code].all_articles += 1
    c.article_classes.update({cls for labels in labels_of.values() for cls in labels})


def _blank(x: Any) -> Any:
    return "" if x is None else x


# --------------------------------------------------------------------------- pass two: evidence


@dataclass
class Cited:
    """A paragraph the page cites, with the spans (paragraph offsets) to mark."""

    article: str
    source: str
    paragraph: int
    text: str
    marks: set[tuple[int, int]] = field(default_factory=set)


def evidence(
    records: Iterator[PredictionRecord], refs: set[Ref], top_names: dict[str, list[str]]
) -> tuple[dict[tuple[int, int], Cited], dict[tuple[str, str], list[Ref]]]:
    """Pass two: the cited paragraphs (by article number and paragraph index), and the first
    :data:`EVIDENCE` mentions of each top name."""
    by_article: dict[int, list[Ref]] = defaultdict(list)
    for ref in refs:
        by_article[ref[0]].append(ref)
    wanted = {(label, name) for label, names in top_names.items() for name in names}
    name_refs: dict[tuple[str, str], list[Ref]] = defaultdict(list)
    cited: dict[tuple[int, int], Cited] = {}
    for art, rec in enumerate(records):
        mine = list(by_article.get(art, ()))
        for e, par in zip(rec.entities, _paragraph_of(rec)):
            key = (e.label, e.text or rec.text[e.start : e.end])
            if key in wanted and len(name_refs[key]) < EVIDENCE:
                ref = (art, par, e.start, e.end)
                name_refs[key].append(ref)
                mine.append(ref)
        if not mine:
            continue
        pars = {p.index: p for p in rec.paragraphs}
        for _, index, start, end in mine:
            p = pars[index]
            entry = cited.setdefault((art, index), Cited(rec.id, rec.source, index, p.text))
            if 0 <= start - p.start < end - p.start <= len(p.text):
                entry.marks.add((start - p.start, end - p.start))
    return cited, name_refs


# --------------------------------------------------------------------------- the page


def _e(x: Any) -> str:
    return html.escape(str(x))


def _anchor(ref: Ref) -> str:
    return f"p{ref[0]}-{ref[1]}"


def _links(refs: Sequence[Ref]) -> str:
    return " ".join(f'<a href="#{_anchor(r)}">[{i}]</a>' for i, r in enumerate(refs, 1))


def bar_chart(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str], title: str, unit: str = "") -> str:
    """A grouped horizontal bar chart as inline SVG: a row per label, a bar per series."""
    if not rows:
        return ""
    bar, gap, label_w, plot_w = 9, 8, 150, 520
    top = max((v for _, vals in rows for v in vals), default=0) or 1
    row_h = bar * len(series) + gap
    legend_h = 22
    h = legend_h + row_h * len(rows) + 10
    out = [f'<svg class="chart" role="img" aria-label="{_e(title)}" viewBox="0 0 {label_w + plot_w + 70} {h}" width="{label_w + plot_w + 70}" height="{h}">']
    for i, name in enumerate(series):
        x = label_w + i * 110
        out.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLORS[i % len(COLORS)]}"/><text x="{x + 16}" y="14">{_e(name)}</text>')
    for r, (label, vals) in enumerate(rows):
        y = legend_h + r * row_h
        out.append(f'<text x="{label_w - 6}" y="{y + row_h / 2}" text-anchor="end" dominant-baseline="middle">{_e(label)}</text>')
        for i, v in enumerate(vals):
            w = plot_w * v / top
            out.append(
                f'<rect x="{label_w}" y="{y + i * bar}" width="{w:.1f}" height="{bar - 1}" fill="{COLORS[i % len(COLORS)]}"><title>{_e(label)} · {_e(series[i])}: {_fmt(v)}{unit}</title></rect>'
            )
            if v:
                out.append(f'<text class="v" x="{label_w + w + 3:.1f}" y="{y + i * bar + bar - 2}">{_fmt(v)}</text>')
    out.append("</svg>")
    return "".join(out)


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.2f}"


def _money(v: float) -> str:
    return f"{v / 1e8:,.2f} 亿元" if v >= 1e8 else f"{v / 1e4:,.1f} 万元" if v >= 1e4 else f"{v:,.0f} 元"


def _value(v: float, unit: str) -> str:
    return _money(v) if unit == "元" else f"{v * 100:.1f}%" if unit == "%" else f"{_fmt(v)} {unit}"


def _bins(values: array, unit: str) -> list[tuple[str, float]]:
    """Decades (1-10, 10-100, ...) of the values, or tenths of 100% for ratios: (label, lower bound)."""
    if unit == "%":
        return [(f"{lo}-{lo + 10}%", lo / 100) for lo in range(0, 100, 10)] + [("≥100%", 1.0)]
    hi = max(values, default=1)
    top = max(1, math.ceil(math.log10(max(hi, 1)) + 1e-9))
    return [(f"{_short(10**k)}-{_short(10 ** (k + 1))}", float(10**k)) for k in range(0, top)]


def _short(v: float) -> str:
    return f"{v / 1e8:g}亿" if v >= 1e8 else f"{v / 1e4:g}万" if v >= 1e4 else f"{v:g}"


def _histogram(c: Counts, unit: str, order: Sequence[str]) -> list[tuple[str, list[float]]]:
    everything = array("d", [v for cls in order for v in c.values.get((cls, unit), ())])
    bins = _bins(everything, unit)
    lows = [lo for _, lo in bins]
    rows = [[0.0] * len(order) for _ in bins]
    for i, cls in enumerate(order):
        for v in c.values.get((cls, unit), ()):
            k = max(0, sum(1 for lo in lows if v >= lo) - 1)
            rows[k][i] += 1
    return [(label, row) for (label, _), row in zip(bins, rows)]


CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;margin:2rem auto;max-width:980px;color:#111;line-height:1.5;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:2px solid #ddd;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border-bottom:1px solid #e5e5e5;padding:.25rem .6rem;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.t{text-align:left}th{background:#f6f6f6}
.chart{display:block;margin:.8rem 0;font-size:11px;max-width:100%;height:auto}.chart .v{fill:#444;font-size:10px}
mark{background:#fde68a;padding:0 .1em}.ev{border-left:3px solid #ddd;padding:.2rem .8rem;margin:.6rem 0}.ev:target{border-color:#c2410c;background:#fff7ed}
.meta{color:#555;font-size:.85rem}a{color:#1d4ed8;text-decoration:none}
@media print{body{max-width:none;margin:0}a{color:inherit}h2{break-after:avoid}table,svg,.ev{break-inside:avoid}}
"""


def _marked(text: str, marks: set[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in sorted(marks):
        if start < pos:
            continue
        out.append(_e(text[pos:start]) + f"<mark>{_e(text[start:end])}</mark>")
        pos = end
    return "".join(out) + _e(text[pos:])


def render(c: Counts, cited: dict[tuple[int, int], Cited], name_refs: dict[tuple[str, str], list[Ref]], top_names: dict[str, list[str]], gaz: Gazetteer, inputs: Sequence[Path]) -> str:
    """The page."""
    names = class_names()
    order = [*names, NO_CLASS]
    heads = [names.get(k, "无举措") for k in order]
    s: list[str] = []
    add = s.append
    add(f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>人才政策报告 Talent policy report</title><style>{CSS}</style></head><body>')
    add("<h1>人才政策报告 · What the predictions say</h1>")
    add(
        f'<p class="meta">{c.articles:,} articles, {c.paragraphs:,} paragraphs, {c.entities:,} entities from '
        f"{_e(', '.join(p.name for p in inputs))}; made {dt.datetime.now():%Y-%m-%d %H:%M} by talent-tagger report. "
        f"Places: {c.loc_linked:,} of {c.loc:,} LOC mentions linked to a division. Models: {_e(', '.join(sorted(str(v) for v in c.versions if v)))}.</p>"
    )
    add("<h2>Measure types 引才 / 育才 / 留才</h2><table><tr><th></th>" + "".join(f"<th>{_e(h)}</th>" for h in heads[:-1]) + "</tr>")
    add("<tr><td>articles</td>" + "".join(f"<td>{c.article_classes[k]:,}</td>" for k in order[:-1]) + "</tr>")
    add("<tr><td>paragraphs</td>" + "".join(f"<td>{c.classes[k]:,}</td>" for k in order[:-1]) + "</tr></table>")

    for table, title, limit in (("province", "By province", None), ("city", "By city", TOP_CITIES)):
        rows = sorted(c.places[table].items(), key=lambda kv: (-sum(kv[1].articles.values()), kv[0]))[:limit]
        add(f"<h2>{title}</h2>")
        chart_rows = [(gaz.by_code[code].name, [row.paragraphs[k] for k in order]) for code, row in rows[:CHART_ROWS]]
        add(bar_chart(chart_rows, heads, f"paragraphs per measure type, {table}"))
        add(f'<p class="meta">Paragraphs per measure type that mention the {table} or a place inside it (bars: the first {CHART_ROWS}); articles / paragraphs in the table, [n]: evidence.</p>')
        add(f"<table><tr><th>{table}</th>" + ("<th>province</th>" if table == "city" else "") + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr>")
        for code, row in rows:
            d = gaz.by_code[code]
            cells = "".join(f"<td>{row.articles[k]:,} / {row.paragraphs[k]:,} {_links(row.evidence.get(k, []))}</td>" for k in order)
            prov = f'<td class="t">{_e(gaz.province(d).name)}</td>' if table == "city" else ""
            add(f'<tr><td>{_e(d.name)} <span class="meta">{code}</span></td>{prov}{cells}</tr>')
        add("</table>")

    add("<h2>Programmes, policies and organizations</h2>")
    titles = {"PROGRAM": "Programmes 项目", "POLICY": "Policies 政策", "ORG": "Organizations 机构"}
    for label in NAMED:
        add(f"<h3>{titles[label]}</h3><table><tr><th>name</th><th>mentions</th><th>articles</th><th>evidence</th></tr>")
        for name in top_names[label]:
            add(
                f'<tr><td class="t">{_e(name)}</td><td>{c.names[label][name]:,}</td><td>{c.name_articles[label][name]:,}</td>'
                f"<td>{_links(name_refs.get((label, name), []))}</td></tr>"
            )
        add("</table>")

    add("<h2>Metrics by measure type</h2>")
    add('<p class="meta">Values as predict read them (4.3万人 → 43,000 人; 3980万元 → 39,800,000 元); a metric counts under every measure type of its paragraph. Ratios are not summed.</p>')
    add("<table><tr><th>unit</th><th>measure type</th><th>values</th><th>total</th><th>median</th><th>largest (evidence)</th></tr>")
    for unit in UNITS:
        for k, h in zip(order, heads):
            vals = c.values.get((k, unit))
            if not vals:
                continue
            med = sorted(vals)[len(vals) // 2]
            total = _value(sum(vals), unit) if unit != "%" else ""
            big = sorted(c.largest[(k, unit)], reverse=True)[:EVIDENCE]
            biggest = " ".join(f'<a href="#{_anchor(r)}">{_e(_value(v, unit))}</a>' for v, r in big)
            add(f'<tr><td class="t">{unit}</td><td class="t">{_e(h)}</td><td>{len(vals):,}</td><td>{total}</td><td>{_e(_value(med, unit))}</td><td>{biggest}</td></tr>')
    add("</table>")
    if c.other_units:
        add('<p class="meta">Other units (counted, not totalled): ' + ", ".join(f"{_e(u)} {n:,}" for u, n in c.other_units.most_common(12)) + "</p>")
    for unit, what in (("人", "people (TALENT_NUM)"), ("元", "money"), ("%", "ratios")):
        if any(c.values.get((k, unit)) for k in order):
            add(bar_chart(_histogram(c, unit, order), heads, f"distribution of {what}", ""))

    add("<h2>Evidence</h2>")
    add('<p class="meta">The paragraphs the figures above cite, the entity marked.</p>')
    for (art, index), ev in sorted(cited.items()):
        add(
            f'<div class="ev" id="p{art}-{index}"><div class="meta">{_e(ev.article)} · ¶{index}'
            f'{" · " + _e(ev.source) if ev.source else ""}</div>{_marked(ev.text, ev.marks)}</div>'
        )
    add("</body></html>")
    return "\n".join(s)


# --------------------------------------------------------------------------- the command


@dataclass
class ReportSummary:
    articles: int
    paragraphs: int
    entities: int
    places: int

    def line(self, out: Path) -> str:
        return f"{out}: report of {self.articles:,} articles ({self.paragraphs:,} paragraphs, {self.entities:,} entities, {self.places:,} places): index.html, paragraphs.csv, entities.csv, places.csv"


def write_report(inputs: Sequence[Path], out: Path, progress: Callable[[str, int], Any] | None = None) -> ReportSummary:
    """Read the predictions (twice, streaming) and write ``out`` whole, or nothing: it is built under a temp name.

    ``progress(stage, total)`` returns a tqdm-like object (``update``, ``close``) per pass;
    only then are the input's lines counted first (a third, cheap read, for the time left).
    """
    if out.is_dir() and any(p.name not in OUTPUTS for p in out.iterdir()):
        raise InputError(f"{out}: holds other files; report replaces its directory whole, so give a new one or an earlier report's")
    gaz = gazetteer()
    classes = list(load_schema().classes)
    total = sum(1 for path in inputs for _ in _lines(path)) if progress else 0

    def records(stage: str) -> Iterator[PredictionRecord]:
        bar = progress(stage, total) if progress else None
        try:
            for path in inputs:
                for rec in read_records(path):
                    yield rec
                    if bar:
                        bar.update(1)
        finally:
            if bar:
                bar.close()

    with atomic_dir(out) as tmp:
        c = Counts()
        with open(tmp / "paragraphs.csv", "w", encoding="utf-8", newline="") as pf, open(tmp / "entities.csv", "w", encoding="utf-8", newline="") as ef:
            pw, ew = csv.writer(pf), csv.writer(ef)
            pw.writerow(["article", "source", "paragraph", "classes", *(f"p_{k}" for k in classes), "places", "text"])
            ew.writerow(["article", "paragraph", "label", "text", "value", "unit", "score", "place_code", "place_name", "place_level", "province", "orig_start", "orig_end"])
            for art, rec in enumerate(records("report: counting")):
                count_record(c, art, rec, gaz, classes, pw, ew)
        _write_places(tmp / "places.csv", c, gaz)
        top = {label: [n for n, _ in c.name_articles[label].most_common(TOP_NAMES)] for label in NAMED}
        refs = {r for table in c.places.values() for row in table.values() for rs in row.evidence.values() for r in rs}
        refs |= {r for heap in c.largest.values() for _, r in heap}
        cited, name_refs = evidence(records("report: evidence"), refs, top)
        (tmp / "index.html").write_text(render(c, cited, name_refs, top, gaz, inputs), encoding="utf-8")
    return ReportSummary(c.articles, c.paragraphs, c.entities, len(c.places["any"]))


def _lines(path: Path) -> Iterator[None]:
    """One item per non-empty line, read in binary (the count behind the progress bar)."""
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    yield None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _write_places(path: Path, c: Counts, gaz: Gazetteer) -> None:
    names = class_names()
    order = [*names, NO_CLASS]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["code", "name", "level", "province", "articles", *(f"paragraphs_{k}" for k in order)])
        for code, row in sorted(c.places["any"].items()):
            d = gaz.by_code[code]
            w.writerow([code, d.name, d.level, gaz.province(d).name, row.all_articles, *(row.paragraphs[k] for k in order)])
