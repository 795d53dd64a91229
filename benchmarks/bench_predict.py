"""Benchmark `talent-tagger predict` against the pipelines a user would write by hand.

Two modes, each run in child processes so peak RSS (``resource.getrusage``) is per method:

* ``compare`` (default): >= 200 articles (the seed articles plus articles built from
  the written corpus, CLUENER sentences and THUCNews headlines, under build/bench/)
  through (a) ``train.predict`` (paragraphs batched across articles, sorted by length)
  and (b) ``transformers.pipeline("token-classification", aggregation_strategy="simple")``
  plus ``pipeline("text-classification", top_k=None, function_to_apply="sigmoid")``
  called once per paragraph, with the same model dirs and the same normalized
  paragraphs. Reports throughput, peak RSS, the throughput ratio and the agreement of
  entity sets: exact (article, paragraph, start, end, label) matches over the union,
  overall and apart for paragraphs that fit one tagger window and those that do not.
  Every entity found by one method only is given a cause (:func:`explain_disagreement`):
  the two differ by design on paragraphs longer than one window (predict takes each
  token from the window where it has the most context, as BERT's ``_check_is_max_context``;
  the pipeline keeps every window's entities and, of overlapping ones, the longest).
  ``--articles`` below 200 is a quick look, not the benchmark.
* ``stream``: predict only, on a .jsonl of ``--articles`` articles (default 10,000) and
  on a tenth of that, to show that peak RSS does not grow with the number of articles.
* ``long``: predict only, on the five seed articles and on single articles of ``--sizes``
  MB (default 0.3 1 3) on one line, made by repeating the seed articles' text: peak RSS
  against the seed articles' and seconds per MB, to show that memory does not grow with
  one article's length and time grows linearly.

Uses models/ when it holds a trained tagger and classifier, else trains small models
from a random tiny BERT on the seed annotations into build/bench/models (the output says
which). Results go to build/bench.json (each mode its own key; compare_argmax for --decoding argmax) and a table on stdout.

    python benchmarks/bench_predict.py                      # compare, 200 articles
    python benchmarks/bench_predict.py --mode stream        # peak RSS, 10,000 articles
    python benchmarks/bench_predict.py --mode long          # peak RSS and time, 0.3/1/3 MB one-line articles
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpora"
BUILD = ROOT / "build" / "bench"
RESULTS = ROOT / "build" / "bench.json"
SEED_ARTICLES = ROOT / "seeds" / "articles"
sys.path.insert(0, str(ROOT))

MARKUP = re.compile(r"\{\{[A-Z_]+\|([^{}]*)\}\}")
BENCH_TRAIN_YAML = """\
tagger:
  base_model: {base}
  max_length: 128
  stride: 32
  epochs: {epochs}
  batch_size: 16
  learning_rate: 2.0e-3
  early_stopping_patience: 100
  logging_steps: 20
classifier:
  base_model: {base}
  max_length: 128
  epochs: {epochs}
  batch_size: 16
  learning_rate: 2.0e-3
  early_stopping_patience: 100
  logging_steps: 20
split:
  eval_fraction: 0.2
  seed: 13
"""


# --------------------------------------------------------------------------- articles


def _written_paragraphs() -> list[str]:
    """Plain paragraphs of the team-written corpus (markup and class suffixes removed)."""
    out = []
    for path in sorted((ROOT / "seeds" / "written").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("===") or not line.strip():
                continue
            line = MARKUP.sub(r"\1", line.split(" ##")[0]).strip()
            if len(line) > 20:
                out.append(line)
    return out


def _cluener_sentences() -> list[str]:
    out = []
    for name in ("train.jsonl", "dev.jsonl"):
        with open(SHARED / "cluener2020" / name, encoding="utf-8") as fh:
            out += [json.loads(line)["text"] for line in fh if line.strip()]
    return out


def _headlines() -> list[str]:
    with open(SHARED / "thucnews_subset" / "dev.txt", encoding="utf-8") as fh:
        return [line.split("\t")[0] for line in fh if line.strip()]


def synthetic_articles(n: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """(id, text) of ``n`` article-sized texts: the seed articles first, then built ones.

    A built article is a THUCNews headline and 6-14 paragraphs, each either a paragraph
    of the written corpus (domain text) or 2-6 CLUENER sentences run together.
    """
    from train.text import read_article

    seeds = sorted((ROOT / "seeds" / "articles").glob("*.txt"))
    for p in seeds[:n]:
        yield p.stem, read_article(p)
    rng = random.Random(seed)
    written, sentences, heads = _written_paragraphs(), _cluener_sentences(), _headlines()
    for i in range(max(0, n - len(seeds))):
        pars = [rng.choice(heads)]
        for _ in range(rng.randint(6, 14)):
            if rng.random() < 0.5:
                pars.append(rng.choice(written))
            else:
                pars.append("".join(rng.choice(sentences) for _ in range(rng.randint(2, 6))))
        yield f"bench-{i:05d}", "\n\n".join(pars) + "\n"


def write_txt_articles(n: int, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.txt"):
        old.unlink()
    for art_id, text in synthetic_articles(n):
        (out / f"{art_id}.txt").write_text(text, encoding="utf-8")
    return out


def write_jsonl_articles(n: int, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for art_id, text in synthetic_articles(n):
            fh.write(json.dumps({"id": art_id, "text": text}, ensure_ascii=False) + "\n")
    return out


# --------------------------------------------------------------------------- models


def _has_models(d: Path) -> bool:
    return (d / "tagger" / "config.json").exists() and (d / "classifier" / "config.json").exists()


def ensure_models(models: Path | None, epochs: int) -> tuple[Path, str]:
    """(models dir, what it is): the given or trained models/, else small bench models."""
    if models is not None:
        if not _has_models(models):
            sys.exit(f"{models}: no tagger/ and classifier/ here")
        return models, f"given: {models}"
    if _has_models(ROOT / "models"):
        return ROOT / "models", "trained models/ (make train)"
    bench_models = BUILD / "models"
    what = f"small bench models: random 2-layer BERT (hidden 32) trained {epochs} epochs on seeds/annotations"
    if _has_models(bench_models):
        return bench_models, what + " (cached in build/bench/models)"
    sys.path.insert(0, str(ROOT / "tests"))
    from fixtures_models import build_tiny_bert, slice_exports

    work = BUILD / "train"
    work.mkdir(parents=True, exist_ok=True)
    base = build_tiny_bert(work / "base")
    data = slice_exports(work / "data.json", articles=10**6)
    config = work / "train.yaml"
    config.write_text(BENCH_TRAIN_YAML.format(base=base, epochs=epochs), encoding="utf-8")
    print(f"training bench models ({epochs} epochs) into {bench_models} ...", file=sys.stderr)
    run = subprocess.run(
        [sys.executable, "-c", "from train.cli import main; main()", "train", "--config", str(config),
         "--data", str(data), "--out", str(bench_models)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0:
        sys.exit(f"training bench models failed:\n{run.stderr[-3000:]}")
    return bench_models, what


# --------------------------------------------------------------------------- children


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_ours(
    inputs: list[str], models: str, out: str, batch_size: int, device: str | None, decoding: str = "viterbi",
    precision: str = "auto",
) -> dict[str, Any]:
    import torch

    from train.predict import Models, run_predict

    t0 = time.perf_counter()
    loaded = Models.load(models, device=device, decoding=decoding, precision=precision)
    t1 = time.perf_counter()
    n = run_predict(inputs, out, "jsonl", models, batch_size, progress=False, models=loaded).written
    t2 = time.perf_counter()
    return {"articles": n, "load_s": t1 - t0, "predict_s": t2 - t1, "threads": torch.get_num_threads()}


def child_baseline(inputs: list[str], models: str, out: str, device: str | None) -> dict[str, Any]:
    """What a user writes by hand: two pipelines, called once per paragraph."""
    import torch
    from transformers import pipeline

    from train.predict import expand_inputs, iter_articles

    dev = torch.device(device) if device else (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    t0 = time.perf_counter()
    tagger_dir, classifier_dir = Path(models) / "tagger", Path(models) / "classifier"
    stride = json.loads((tagger_dir / "config.json").read_text()).get("window_stride")
    tag = pipeline("token-classification", model=str(tagger_dir), aggregation_strategy="simple", device=dev)
    cls = pipeline("text-classification", model=str(classifier_dir), device=dev)
    thresholds = json.loads((classifier_dir / "thresholds.json").read_text()) if (classifier_dir / "thresholds.json").exists() else {}
    t1 = time.perf_counter()
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for art in iter_articles(expand_inputs(inputs)):
            pars = []
            for p in art.paragraphs:
                ents = tag(p.text, stride=stride) if stride else tag(p.text)
                scores = cls(p.text, top_k=None, function_to_apply="sigmoid", truncation=True)
                probs = {s["label"]: s["score"] for s in scores}
                pars.append(
                    {
                        "entities": [[int(e["start"]), int(e["end"]), e["entity_group"]] for e in ents],
                        "labels": sorted(c for c, v in probs.items() if v >= thresholds.get(c, 0.5)),
                    }
                )
            fh.write(json.dumps({"id": art.id, "paragraphs": pars}, ensure_ascii=False) + "\n")
            n += 1
    t2 = time.perf_counter()
    return {"articles": n, "load_s": t1 - t0, "predict_s": t2 - t1, "threads": torch.get_num_threads(), "stride": stride}


def run_child(kind: str, **kw: Any) -> dict[str, Any]:
    """Run one method in a fresh interpreter; its peak RSS is its own."""
    cmd = [sys.executable, __file__, "--child", kind, "--child-args", json.dumps(kw)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{kind} child failed:\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _child_main(kind: str, kw: dict[str, Any]) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if kind == "ours":
        res = child_ours(**kw)
    else:
        res = child_baseline(**kw)
    res["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(res))


# --------------------------------------------------------------------------- comparing


def _our_sets(path: Path) -> tuple[set, dict]:
    ents, labels = set(), {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            starts = [p["start"] for p in rec["paragraphs"]]
            for e in rec["entities"]:
                off = starts[e["paragraph"]]
                ents.add((rec["id"], e["paragraph"], e["start"] - off, e["end"] - off, e["label"]))
            for p in rec["paragraphs"]:
                labels[(rec["id"], p["index"])] = sorted(p["labels"])
    return ents, labels


def _baseline_sets(path: Path) -> tuple[set, dict]:
    ents, labels = set(), {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            for i, p in enumerate(rec["paragraphs"]):
                ents.update((rec["id"], i, s, e, lab) for s, e, lab in p["entities"])
                labels[(rec["id"], i)] = p["labels"]
    return ents, labels


def _chars(inputs: list[str]) -> int:
    from train.predict import _raw_articles, expand_inputs

    return sum(len(text) for _, _, text, _ in _raw_articles(expand_inputs(inputs), (1, 1)))


def _rates(res: dict[str, Any], chars: int) -> dict[str, Any]:
    res = dict(res)
    res["articles_per_s"] = res["articles"] / res["predict_s"]
    res["chars_per_s"] = chars / res["predict_s"]
    return res


def _paragraph_texts(path: Path) -> dict[tuple[str, int], str]:
    with open(path, encoding="utf-8") as fh:
        return {(r["id"], p["index"]): p["text"] for r in map(json.loads, fh) for p in r["paragraphs"]}


CATEGORIES = {
    "window_merge": "paragraph longer than one window: predict takes each token from the window where it has "
    "the most context; the pipeline keeps the entities of every window and, where they overlap, the longest",
    "decoding": "one window, same probabilities, different entities (predict's Viterbi labels vs the pipeline's "
    "per-token argmax, BIO grouping, offsets, [UNK], whitespace)",
    "truncation": "the pipeline ran without a stride and saw only the first window of the paragraph",
    "probabilities": "the pipeline's own forward pass (one window at a time, unpadded, fp32) gave a different "
    "argmax than predict's batched, padded one (in bf16 with --precision auto on an AMX CPU)",
}


def explain_disagreement(
    ours: set, base: set, texts: dict[tuple[str, int], str], models: Path, stride: int | None, device: str | None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Attribute every entity found by only one method to a cause, by replaying the pipeline.

    The disagreeing paragraphs go once more through predict's own windows and batched
    probabilities, and then through the pipeline's own post-processing code
    (``gather_pre_entities``, ``aggregate``, ``aggregate_overlapping_entities``, as in its
    ``postprocess``). An entity that differs between this replay and the pipeline's real
    output comes from different probabilities; one that differs between the replay and
    predict comes from the decoding rules, split by where it lies.
    """
    import numpy as np
    import torch
    from transformers import pipeline
    from transformers.pipelines.token_classification import AggregationStrategy

    from train.dataset import tokenize_windows
    from train.runtime import batched_forward
    from train.tagger import Tagger

    from train.runtime import use_bf16

    tagger = Tagger.load(models / "tagger", device=device or "cpu", cpu_bf16=use_bf16(precision))
    all_keys = sorted(texts)
    n_windows = np.bincount(
        tokenize_windows([texts[k] for k in all_keys], tagger.tokenizer, tagger.max_length, tagger.stride).sample,
        minlength=len(all_keys),
    )
    long_pars = {k for k, n in zip(all_keys, n_windows) if n > 1}
    keys = sorted({k[:2] for k in ours ^ base})
    counts = {c: {"predict_only": 0, "pipeline_only": 0} for c in CATEGORIES}
    examples: list[dict[str, Any]] = []
    multi = 0
    if keys:
        pipe = pipeline("token-classification", model=str(models / "tagger"), aggregation_strategy="simple", device=tagger.model.device)
        par_texts = [texts[k] for k in keys]
        win = tokenize_windows(par_texts, tagger.tokenizer, tagger.max_length, tagger.stride)
        probs = batched_forward(
            tagger.model, win.input_ids, tagger.tokenizer.pad_token_id, 32, lambda x: torch.softmax(x, -1), per_token=True,
            token_types="token_type_ids" in tagger.tokenizer.model_input_names, cpu_bf16=tagger.cpu_bf16,
        )  # fmt: skip
        for i, key in enumerate(keys):
            windows = np.flatnonzero(win.sample == i)
            multi += len(windows) > 1
            replay: list[dict[str, Any]] = []
            for w in windows[:1] if stride is None else windows:
                pre = pipe.gather_pre_entities(
                    par_texts[i], np.asarray(win.input_ids[w]), probs[w], win.offsets[w], win.special[w].astype(np.int64),
                    AggregationStrategy.SIMPLE,
                )  # fmt: skip
                replay += [e for e in pipe.aggregate(pre, AggregationStrategy.SIMPLE) if e["entity_group"] != "O"]
            if len(windows) > 1 and stride is not None:
                replay = pipe.aggregate_overlapping_entities(replay)
            replayed = {(*key, int(e["start"]), int(e["end"]), e["entity_group"]) for e in replay}
            mine = {e for e in ours if e[:2] == key}
            theirs = {e for e in base if e[:2] == key}
            for ent in sorted(mine ^ theirs):
                if (ent in replayed) != (ent in theirs):
                    cause = "probabilities"
                elif len(windows) == 1:
                    cause = "decoding"
                else:
                    cause = "window_merge" if stride is not None else "truncation"
                side = "predict_only" if ent in mine else "pipeline_only"
                counts[cause][side] += 1
                if len(examples) < 20:
                    t = par_texts[i]
                    examples.append(
                        {"cause": cause, "side": side, "article": ent[0], "paragraph": ent[1], "start": ent[2], "end": ent[3],
                         "label": ent[4], "text": t[ent[2]:ent[3]], "context": t[max(0, ent[2] - 8):ent[3] + 8],
                         "windows": len(windows)}
                    )  # fmt: skip

    def agreement(long: bool) -> dict[str, Any]:
        a = {e for e in ours if (e[:2] in long_pars) == long}
        b = {e for e in base if (e[:2] in long_pars) == long}
        return {
            "paragraphs": sum((k in long_pars) == long for k in all_keys),
            "exact_matches": len(a & b),
            "union": len(a | b),
            "agreement": len(a & b) / len(a | b) if a | b else None,
        }

    return {
        "one_window": agreement(False),
        "several_windows": agreement(True),
        "disagreement": {
            "paragraphs": len(keys),
            "paragraphs_with_several_windows": multi,
            # the replay uses predict's windows: only meaningful when the pipeline cuts the same ones
            "same_windows": (tagger.max_length, tagger.stride) == (pipe.tokenizer.model_max_length, stride) if keys else None,
            "by_cause": {c: v for c, v in counts.items() if v["predict_only"] or v["pipeline_only"]},
            "causes": CATEGORIES,
            "examples": examples,
        },
    }


def compare(args: argparse.Namespace, models: Path, what: str) -> dict[str, Any]:
    arts = write_txt_articles(args.articles, BUILD / "articles")
    inputs = [str(arts)]
    chars = _chars(inputs)
    common = {"inputs": inputs, "models": str(models), "device": args.device}
    ours_run = run_child(
        "ours", out=str(BUILD / "ours.jsonl"), batch_size=args.batch_size, decoding=args.decoding,
        precision=args.precision, **common,
    )  # fmt: skip
    ours = _rates(ours_run, chars)
    base = _rates(run_child("baseline", out=str(BUILD / "baseline.jsonl"), **common), chars)
    our_ents, our_labels = _our_sets(BUILD / "ours.jsonl")
    base_ents, base_labels = _baseline_sets(BUILD / "baseline.jsonl")
    union = our_ents | base_ents
    same_labels = sum(our_labels[k] == base_labels.get(k) for k in our_labels)
    explained = explain_disagreement(our_ents, base_ents, _paragraph_texts(BUILD / "ours.jsonl"), models, base["stride"], args.device, args.precision)
    return {
        "models": what,
        "models_dir": str(models),
        "articles": args.articles,
        "chars": chars,
        "paragraphs": len(our_labels),
        "batch_size": args.batch_size,
        "decoding": args.decoding,
        "precision": args.precision,
        "ours": ours,
        "baseline": base,
        "throughput_ratio": ours["articles_per_s"] / base["articles_per_s"],
        "entities": {
            "ours": len(our_ents),
            "baseline": len(base_ents),
            "exact_matches": len(our_ents & base_ents),
            "union": len(union),
            "agreement": (len(our_ents & base_ents) / len(union)) if union else None,
            **explained,
        },
        "paragraph_labels_agreement": same_labels / len(our_labels) if our_labels else None,
    }


def stream(args: argparse.Namespace, models: Path, what: str) -> dict[str, Any]:
    runs = []
    for n in sorted({max(1, args.articles // 10), args.articles}):
        path = write_jsonl_articles(n, BUILD / f"stream-{n}.jsonl")
        chars = _chars([str(path)])
        res = run_child(
            "ours", inputs=[str(path)], models=str(models), out=str(BUILD / f"stream-{n}.out.jsonl"),
            batch_size=args.batch_size, device=args.device,
        )  # fmt: skip
        res = _rates(res, chars)
        res["chars"] = chars
        res["output_mb"] = (BUILD / f"stream-{n}.out.jsonl").stat().st_size / 2**20
        (BUILD / f"stream-{n}.out.jsonl").unlink()
        runs.append(res)
    return {"models": what, "models_dir": str(models), "batch_size": args.batch_size, "runs": runs}


def one_line_article(mb: float, out: Path) -> Path:
    """One article of ``mb`` MB of UTF-8 on a single line: the seed articles' text, repeated."""
    text = "".join(p.read_text(encoding="utf-8").replace("\n", "") for p in sorted(SEED_ARTICLES.glob("*.txt")))
    data = (text * (int(mb * 1e6) // len(text.encode("utf-8")) + 1)).encode("utf-8")[: int(mb * 1e6)]
    out.mkdir(parents=True, exist_ok=True)
    (out / "long.txt").write_text(data.decode("utf-8", errors="ignore"), encoding="utf-8")
    return out


def long_articles(args: argparse.Namespace, models: Path, what: str) -> dict[str, Any]:
    runs = []
    inputs = [("seed articles", SEED_ARTICLES)] + [(f"{mb:g} MB, one line", one_line_article(mb, BUILD / f"long-{mb:g}")) for mb in args.sizes]
    for name, path in inputs:
        res = run_child(
            "ours", inputs=[str(path)], models=str(models), out=str(BUILD / "long.out.jsonl"),
            batch_size=args.batch_size, device=args.device, precision=args.precision,
        )  # fmt: skip
        chars = _chars([str(path)])
        mb = sum(f.stat().st_size for f in ([path] if path.is_file() else path.glob("*.txt"))) / 1e6
        runs.append({"input": name, "mb": mb, "chars": chars, **res, "s_per_mb": res["predict_s"] / mb})
    for r in runs:
        r["rss_vs_seeds"] = r["peak_rss_mb"] / runs[0]["peak_rss_mb"]
    return {"models": what, "models_dir": str(models), "batch_size": args.batch_size, "runs": runs}


# --------------------------------------------------------------------------- report


def print_compare(r: dict[str, Any], command: str) -> None:
    o, b, e = r["ours"], r["baseline"], r["entities"]
    print(f"\n{command}\nmodels: {r['models']}")
    print(f"{r['articles']} articles, {r['paragraphs']} paragraphs, {r['chars']:,} chars; torch threads {o['threads']}")
    print(f"predict decoding: {r['decoding']}, precision {r['precision']} (the pipeline: per-token argmax, aggregation \"simple\", fp32)")
    print(f"{'':28}{'predict':>14}{'pipelines':>14}")
    for key, label, fmt in (
        ("articles_per_s", "articles/s", "{:14.2f}"),
        ("chars_per_s", "chars/s", "{:14,.0f}"),
        ("predict_s", "predict time (s)", "{:14.1f}"),
        ("load_s", "model load (s)", "{:14.1f}"),
        ("peak_rss_mb", "peak RSS (MB)", "{:14.0f}"),
    ):
        print(f"{label:28}" + fmt.format(o[key]) + fmt.format(b[key]))
    print(f"throughput ratio (predict / pipelines): {r['throughput_ratio']:.2f}x")
    agree = "n/a (no entities)" if e["agreement"] is None else f"{e['agreement']:.3f}"
    print(f"entities: predict {e['ours']}, pipelines {e['baseline']}, exact matches {e['exact_matches']} of union {e['union']}: agreement {agree}")
    for key, what in (("one_window", "fit one window"), ("several_windows", "are longer than one window")):
        x = e[key]
        agree_x = "n/a" if x["agreement"] is None else f"{x['agreement']:.3f}"
        print(f"  paragraphs that {what}: {x['paragraphs']}, exact matches {x['exact_matches']} of union {x['union']}: agreement {agree_x}")
    d = e["disagreement"]
    if d["paragraphs"]:
        print(f"disagreements in {d['paragraphs']} paragraphs ({d['paragraphs_with_several_windows']} of them longer than one window), by cause:")
        for cause, n in d["by_cause"].items():
            print(f"  {cause:14} predict only {n['predict_only']:5}, pipeline only {n['pipeline_only']:5}: {d['causes'][cause]}")
    if r["paragraph_labels_agreement"] is not None:
        print(f"paragraph class sets identical: {r['paragraph_labels_agreement']:.3f}")


def print_stream(r: dict[str, Any], command: str) -> None:
    print(f"\n{command}\nmodels: {r['models']}")
    print(f"{'articles':>10}{'chars':>14}{'articles/s':>12}{'chars/s':>12}{'peak RSS MB':>13}{'output MB':>11}")
    for x in r["runs"]:
        print(f"{x['articles']:>10}{x['chars']:>14,}{x['articles_per_s']:>12.1f}{x['chars_per_s']:>12,.0f}{x['peak_rss_mb']:>13.0f}{x['output_mb']:>11.1f}")


def print_long(r: dict[str, Any], command: str) -> None:
    print(f"\n{command}\nmodels: {r['models']}")
    print(f"{'input':>20}{'MB':>7}{'chars':>12}{'predict s':>11}{'s per MB':>10}{'peak RSS MB':>13}{'vs seeds':>10}")
    for x in r["runs"]:
        print(
            f"{x['input']:>20}{x['mb']:>7.2f}{x['chars']:>12,}{x['predict_s']:>11.1f}{x['s_per_mb']:>10.1f}"
            f"{x['peak_rss_mb']:>13.0f}{x['rss_vs_seeds']:>10.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("compare", "stream", "long"), default="compare")
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.3, 1.0, 3.0], help="long: article sizes in MB")
    ap.add_argument("--articles", type=int, help="compare: 200 (at least); stream: 10000")
    ap.add_argument("--models", type=Path, help="models dir (default: models/ if trained, else small bench models)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--decoding", choices=("viterbi", "argmax"), default="viterbi",
        help="predict's decoding; argmax is the pipeline's own rule, so agreement then checks batching, windows and offsets",
    )  # fmt: skip
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="predict's --precision")
    ap.add_argument("--device", default=None, help="cpu, cuda (default: CUDA if available)")
    ap.add_argument("--train-epochs", type=int, default=40, help="epochs for the small bench models")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-args", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child_main(args.child, json.loads(args.child_args))
        return
    if args.articles is None:
        args.articles = 200 if args.mode == "compare" else 10_000
    if args.articles < 1:
        ap.error("--articles must be at least 1")
    command = "python benchmarks/bench_predict.py " + " ".join(sys.argv[1:])
    models, what = ensure_models(args.models, args.train_epochs)
    run_mode = {"compare": compare, "stream": stream, "long": long_articles}[args.mode]
    result = run_mode(args, models, what)
    result["command"] = command.strip()
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    all_results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    all_results[args.mode if args.mode != "compare" or args.decoding == "viterbi" else f"compare_{args.decoding}"] = result
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(all_results, indent=1, ensure_ascii=False) + "\n")
    {"compare": print_compare, "stream": print_stream, "long": print_long}[args.mode](result, result["command"])
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
