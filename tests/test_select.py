"""`talent-tagger select`: the paragraphs most worth annotating, from a pool of articles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from train.labelstudio import read_export
from train.selection import jaccard, shingles

ROOT = Path(__file__).resolve().parent.parent
SEED_GOLD = ROOT / "seeds" / "annotations" / "seed_gold.json"
RUN = [sys.executable, "-c", "from train.cli import main; main()"]

pytestmark = [pytest.mark.slow]


def _select(pool: Path, out: Path, models: Path, budget: int, *extra: str) -> subprocess.CompletedProcess:
    cmd = [*RUN, "select", str(pool), "--budget", str(budget), "-o", str(out), "--models", str(models), "--no-progress", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.fixture(scope="module")
def pool(seed_articles, tmp_path_factory) -> Path:
    """The seed articles, one of them twice under another name (a reposted article)."""
    d = tmp_path_factory.mktemp("pool")
    for p in seed_articles:
        shutil.copy(p, d / p.name)
    shutil.copy(seed_articles[1], d / ("repost_" + seed_articles[1].name))
    return d


def test_least_confident_first_spread_over_articles_without_near_duplicates(tiny_models, pool, tmp_path):
    out = tmp_path / "tasks.json"
    proc = _select(pool, out, tiny_models.root, 12)
    assert proc.returncode == 0, proc.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == 12 and "12 paragraphs from" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # the summary alone: no loading bars
    per_article = Counter(t["data"]["article_id"] for t in tasks)
    assert max(per_article.values()) - min(per_article.values()) <= 1 and len(per_article) >= 5  # round the articles
    texts = [t["data"]["text"] for t in tasks]
    assert all(jaccard(shingles(a), shingles(b)) < 0.6 for i, a in enumerate(texts) for b in texts[i + 1 :])
    # within each round of the articles, least confident first; every task carries its prediction
    scores = [t["predictions"][0]["score"] for t in tasks]
    rounds = [scores[:len(per_article)], scores[len(per_article):]]
    assert all(r == sorted(r) for r in rounds if r)
    assert all(t["predictions"][0]["model_version"] and "result" in t["predictions"][0] for t in tasks)


def test_annotated_paragraphs_are_skipped(tiny_models, pool, tmp_path):
    annotated = {ex.text for ex in read_export(SEED_GOLD).examples}
    out = tmp_path / "tasks.json"
    proc = _select(pool, out, tiny_models.root, 5, "--exclude", str(SEED_GOLD))
    assert proc.returncode == 0, proc.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert not [t for t in tasks if t["data"]["text"] in annotated]
    assert "already annotated" in proc.stderr and " 0 already annotated" not in proc.stderr


def test_a_reposted_article_is_never_chosen_twice(tiny_models, pool, tmp_path):
    out = tmp_path / "tasks.json"
    proc = _select(pool, out, tiny_models.root, 200)  # more than the pool: everything worth taking
    assert proc.returncode == 0, proc.stderr
    texts = [t["data"]["text"] for t in json.loads(out.read_text(encoding="utf-8"))]
    assert len(texts) == len(set(texts))
    assert "near-duplicates" in proc.stderr and " 0 near-duplicates" not in proc.stderr


def test_bad_arguments_are_one_line(tiny_models, pool, tmp_path):
    proc = _select(pool, tmp_path / "t.json", tiny_models.root, 0)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --budget 0: must be at least 1"
    assert not (tmp_path / "t.json").exists()
