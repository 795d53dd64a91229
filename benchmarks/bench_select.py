"""Is `select` worth it? A simulation on the written corpus, whose gold is hidden from the choice.

For each seed: train on N random paragraphs of seeds/annotations/written.json (the start),
let `select` choose K more from the rest of the corpus (the pool, as articles) with the
start's models, and compare a model trained on start + chosen with one trained on start + K
random paragraphs. Both are scored on the real seed paragraphs (`evaluate`) and, with
``--realdev DIR`` (passages.jsonl + gold.jsonl per part), on real text by original offsets.

    python benchmarks/bench_select.py --seeds 1 2 3 [--start 300 --add 200] [--realdev DIR]

Writes build/select/SEED/... and build/select/report.json; each training is `talent-tagger
train` with configs/train.yaml, so it costs what `make train` costs per paragraph.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = ROOT / "seeds" / "annotations" / "written.json"
SEED_GOLD = ROOT / "seeds" / "annotations" / "seed_gold.json"
BUILD = ROOT / "build" / "select"
CLI = [sys.executable, "-c", "from train.cli import main; main()"]


def run(*args: str) -> None:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"talent-tagger {' '.join(args[:1])} failed:\n{proc.stderr[-2000:]}")


def key(task: dict) -> tuple[str, int]:
    return task["data"]["article_id"], task["data"]["paragraph"]


def train(tasks: list[dict], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "export.json"
    data.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    run("train", "--data", str(data), "--out", str(out / "models"), "--quiet")
    return out / "models"


def f1(tp: int, fp: int, fn: int) -> float:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return round(2 * p * r / (p + r), 4) if p + r else 0.0


def score(models: Path, out: Path, realdev: Path | None) -> dict[str, dict[str, float]]:
    """Entity and class micro F1: on the seed paragraphs, and on each realdev part (original offsets,
    classes as the union over a passage's paragraphs)."""
    run("evaluate", "--data", str(SEED_GOLD), "--models", str(models), "-o", str(out / "seed.json"))
    ev = json.loads((out / "seed.json").read_text(encoding="utf-8"))
    res = {"seeds": {"entities": ev["tagger"]["micro"]["f1"], "classes": ev["classifier"]["micro"]["f1"]}}
    for part in sorted(p for p in (realdev.iterdir() if realdev else []) if (p / "gold.jsonl").exists()):
        pred = out / f"{part.name}.jsonl"
        run("predict", str(part / "passages.jsonl"), "-o", str(pred), "--models", str(models), "--no-progress")
        got = {r["id"]: r for r in map(json.loads, pred.read_text(encoding="utf-8").splitlines())}
        e = [0, 0, 0]
        c = [0, 0, 0]
        for g in map(json.loads, (part / "gold.jsonl").read_text(encoding="utf-8").splitlines()):
            p = got.get(g["id"], {"entities": [], "measures": {}})
            gold = {(x["start"], x["end"], x["label"]) for x in g["entities"]}
            mine = {(x["orig_start"], x["orig_end"], x["label"]) for x in p["entities"]}
            e = [e[0] + len(gold & mine), e[1] + len(mine - gold), e[2] + len(gold - mine)]
            gc, pc = set(g["classes"]), set(p["measures"])
            c = [c[0] + len(gc & pc), c[1] + len(pc - gc), c[2] + len(gc - pc)]
        res[part.name] = {"entities": f1(*e), "classes": f1(*c)}
    return res


def one_seed(seed: int, start: int, add: int, realdev: Path | None) -> dict:
    tasks = json.loads(WRITTEN.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    order = list(range(len(tasks)))
    rng.shuffle(order)
    first = [tasks[i] for i in order[:start]]
    rest = [tasks[i] for i in order[start:]]
    work = BUILD / str(seed)
    m0 = train(first, work / "start")
    # the pool: the rest of the corpus as articles (their paragraphs in order), gold hidden
    by_article: dict[str, list[dict]] = defaultdict(list)
    for t in sorted(rest, key=key):
        by_article[t["data"]["article_id"]].append(t)
    pool = work / "pool.jsonl"
    pool.write_text(
        "".join(json.dumps({"id": a, "text": "\n".join(t["data"]["text"] for t in ts)}, ensure_ascii=False) + "\n" for a, ts in by_article.items()),
        encoding="utf-8",
    )
    chosen_file = work / "chosen.json"
    run("select", str(pool), "--budget", str(add), "-o", str(chosen_file), "--models", str(m0), "--no-progress")
    by_text = {t["data"]["text"]: t for t in rest}
    chosen = [by_text[c["data"]["text"]] for c in json.loads(chosen_file.read_text(encoding="utf-8")) if c["data"]["text"] in by_text]
    randomly = rng.sample(rest, add)
    result = {"seed": seed, "start": start, "chosen": len(chosen), "start_scores": score(m0, work / "start", realdev)}
    for name, extra in (("select", chosen), ("random", randomly)):
        models = train(first + extra, work / name)
        result[name] = score(models, work / name, realdev)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--start", type=int, default=300)
    ap.add_argument("--add", type=int, default=200)
    ap.add_argument("--realdev", type=Path, default=None)
    args = ap.parse_args()
    BUILD.mkdir(parents=True, exist_ok=True)
    report = BUILD / "report.json"
    results = json.loads(report.read_text(encoding="utf-8")) if report.exists() else []  # seeds run before stay
    for seed in args.seeds:
        result = one_seed(seed, args.start, args.add, args.realdev)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results = [r for r in results if (r["seed"], r["start"]) != (seed, args.start)] + [result]
        report.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
