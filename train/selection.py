"""Which paragraphs to annotate next (`talent-tagger select`).

Uncertainty sampling with diversity: every paragraph of the pool is predicted; the least
confident come first (a paragraph's confidence is its lowest entity score or class
confidence, the task score reviewers sort by: :func:`train.labelstudio.review_score`); the
choice then goes round the articles, one paragraph per article per round, so a single
long and puzzling article cannot fill the budget; a paragraph that nearly repeats one
already chosen (character 5-gram Jaccard similarity at or above ``similarity``) or one
already annotated in an export is skipped. Only the least confident ``KEEP_PER_CHOICE``
times the budget are kept while the pool streams by, so memory does not grow with it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from train.predict import Article, Models, labelstudio_tasks, predict_records

log = logging.getLogger(__name__)

KEEP_PER_CHOICE = 20  # candidates kept per paragraph of the budget (the rest of the pool is more confident)
SHINGLE = 5  # characters per shingle for near-duplicate detection


@dataclass
class SelectSummary:
    pool_articles: int = 0
    pool_paragraphs: int = 0
    annotated: int = 0  # skipped: already in an export
    near_duplicates: int = 0  # skipped: nearly a paragraph chosen before
    chosen: list[dict[str, Any]] = field(default_factory=list)

    def line(self, output: str) -> str:
        articles = len({t["data"]["article_id"] for t in self.chosen})
        return (
            f"{output}: {len(self.chosen)} paragraphs from {articles} articles, least confident first "
            f"(pool: {self.pool_paragraphs:,} paragraphs of {self.pool_articles:,} articles; skipped "
            f"{self.annotated:,} already annotated, {self.near_duplicates:,} near-duplicates)"
        )


def shingles(text: str) -> frozenset[str]:
    """The character 5-grams of a text (the text itself when shorter)."""
    return frozenset(text[i : i + SHINGLE] for i in range(max(1, len(text) - SHINGLE + 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def select_paragraphs(
    articles: Iterable[Article],
    models: Models,
    budget: int,
    annotated: set[str] = frozenset(),
    similarity: float = 0.6,
    batch_size: int = 32,
    on_article: Callable[[], None] | None = None,
) -> SelectSummary:
    """The ``budget`` paragraphs of the pool most worth annotating, as Label Studio tasks with predictions."""
    summary = SelectSummary()
    keep = max(KEEP_PER_CHOICE * budget, 1000)
    heap: list[tuple[float, int, int, dict[str, Any]]] = []  # (-score, -order, article number, task): the keep least confident
    order = itertools.count()
    for art_no, (article, record) in enumerate(predict_records(articles, models, batch_size, on_article=on_article)):
        summary.pool_articles += 1
        for task in labelstudio_tasks(article, record):
            summary.pool_paragraphs += 1
            if task["data"]["text"] in annotated:
                summary.annotated += 1
                continue
            item = (-task["predictions"][0]["score"], -next(order), art_no, task)
            (heapq.heappush if len(heap) < keep else heapq.heappushpop)(heap, item)
    ranked = sorted(heap, key=lambda item: (-item[0], -item[1]))  # least confident first, then pool order
    taken: list[frozenset[str]] = []
    per_article: Counter = Counter()
    used = [False] * len(ranked)
    for cap in itertools.count(1):
        before = len(summary.chosen)
        for k, (_, _, art_no, task) in enumerate(ranked):
            if len(summary.chosen) == budget:
                return summary
            if used[k] or per_article[art_no] >= cap:
                continue
            used[k] = True
            grams = shingles(task["data"]["text"])
            if any(jaccard(grams, other) >= similarity for other in taken):
                summary.near_duplicates += 1
                continue
            taken.append(grams)
            per_article[art_no] += 1
            summary.chosen.append(task)
        if len(summary.chosen) == before and all(used):
            return summary
