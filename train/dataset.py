"""Annotated paragraphs -> model inputs: character BIO -> token labels, windows, splits, the
classifier's paragraphs of no class (``negatives``).

The tokenizer's offset mapping carries every token back to the characters it covers,
so multi-character tokens (digit runs such as ``2020``/``3000``, Latin words) get the
tag of their first character. A span boundary that falls inside a token cannot be
represented; it is counted in :class:`AlignReport`, never silently dropped.
"""

from __future__ import annotations

import copy
import math
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from datasets import Dataset

from train.errors import InputError
from train.labelstudio import Example, Schema, Span, load_schema
from train.text import read_article, split_article

IGNORE = -100  # label id the loss and the metrics skip ([CLS], [SEP], padding)


# --------------------------------------------------------------------------- labels


def bio_labels(schema: Schema | None = None) -> list[str]:
    """Token label names: O, then B-X, I-X for every span label in config order."""
    schema = schema or load_schema()
    return ["O"] + [f"{p}-{label}" for label in schema.span_labels for p in ("B", "I")]


def char_tags(text: str, spans: Iterable[Span], label2id: dict[str, int]) -> np.ndarray:
    """One label id per character (B-X on a span's first character, I-X on the rest)."""
    tags = np.zeros(len(text), dtype=np.int64)
    for s in spans:
        tags[s.start] = label2id[f"B-{s.label}"]
        tags[s.start + 1 : s.end] = label2id[f"I-{s.label}"]
    return tags


def char_bio(text: str, spans: Iterable[Span]) -> list[str]:
    """Character BIO strings, for seqeval."""
    tags = ["O"] * len(text)
    for s in spans:
        tags[s.start] = f"B-{s.label}"
        tags[s.start + 1 : s.end] = [f"I-{s.label}"] * (s.end - s.start - 1)
    return tags


# --------------------------------------------------------------------------- windows


@dataclass
class AlignReport:
    """Spans whose start or end falls inside a token (or on no token at all)."""

    spans: int = 0
    misaligned: Counter = field(default_factory=Counter)  # label -> count
    samples: list[str] = field(default_factory=list)  # a few, for the message

    @property
    def total_misaligned(self) -> int:
        return sum(self.misaligned.values())

    def summary(self) -> str:
        if not self.total_misaligned:
            return f"all {self.spans} spans align with token boundaries"
        per = ", ".join(f"{k} {v}" for k, v in sorted(self.misaligned.items()))
        return (
            f"{self.total_misaligned} of {self.spans} spans have a boundary inside a token ({per}); "
            f"e.g. {'; '.join(self.samples[:3])}"
        )


@dataclass
class Windows:
    """Tokenized windows of a list of texts and where each came from."""

    input_ids: list[list[int]]
    offsets: list[np.ndarray]  # per window: (tokens, 2) char offsets; specials are (0, 0)
    sample: np.ndarray  # window -> index of its text
    special: list[np.ndarray]  # per window: True on [CLS]/[SEP]


# CJK characters (BMP and the supplementary ideograph planes), in the regex syntax of tokenizers.
_CJK_CHAR = r"[\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}\x{f900}-\x{faff}\x{20000}-\x{2fa1f}]"
METASPACE = "\u2581"  # SentencePiece's word-start mark; a bare one covers no character


def metaspace_id(tokenizer) -> int | None:
    """The id of the bare ``▁`` piece, or None for a tokenizer without one."""
    got = tokenizer.convert_tokens_to_ids(METASPACE)
    return None if got is None or got == tokenizer.unk_token_id else int(got)


TOKEN_SPLITS = ("none", "numbers", "characters")


def split_tokens(tokenizer, split: str = "characters"):
    """The tokenizer with extra pre-token boundaries, so span boundaries fall between tokens.

    A SentencePiece vocabulary glues numbers to units and one-character places to their
    verbs (``%。``, ``来津``), where no token label can mark a span boundary. ``numbers``
    isolates digit runs, ``%`` and punctuation (CJK words keep their pieces);
    ``characters`` also gives every CJK character its own token, so every boundary of
    LABELS.md is a token boundary, at the cost of longer sequences and pieces the encoder
    saw less in pretraining. ``none``, and a tokenizer without a metaspace (BERT's WordPiece
    already splits CJK characters), come back unchanged.
    """
    from tokenizers import Regex, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if split not in TOKEN_SPLITS:
        raise ValueError(f"split must be one of {TOKEN_SPLITS}, not {split!r}")
    if split == "none" or metaspace_id(tokenizer) is None:
        return tokenizer
    pattern = r"[0-9]+(?:\.[0-9]+)?|[%‰]|[^\w\s▁]"
    if split == "characters":
        pattern = _CJK_CHAR + "|" + pattern
    backend = copy.deepcopy(tokenizer.backend_tokenizer)
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always"),
            pre_tokenizers.Split(Regex(pattern), "isolated"),
        ]
    )
    # The generic class saves and reloads the pre-tokenizer as it is (a model's own class,
    # such as XLMRobertaTokenizer, rebuilds its default one on load).
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=tokenizer.model_max_length,
        model_input_names=list(tokenizer.model_input_names),
        **tokenizer.special_tokens_map,
    )


def tokenize_windows(texts: Sequence[str], tokenizer, max_length: int, stride: int) -> Windows:
    """Tokenize texts into windows of at most ``max_length`` tokens, ``stride`` tokens shared.

    A bare metaspace token (SentencePiece's ``▁`` before a CJK word) covers no character
    of the text and counts as special, like [CLS]: no label, no entity.
    """
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    n = len(enc["input_ids"])
    sample = np.asarray(enc["overflow_to_sample_mapping"] if "overflow_to_sample_mapping" in enc else range(n))
    offsets = [np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in enc["offset_mapping"]]
    special = [np.asarray(m, dtype=bool) for m in enc["special_tokens_mask"]]
    bare = metaspace_id(tokenizer)
    if bare is not None:
        special = [m | (np.asarray(ids) == bare) for m, ids in zip(special, enc["input_ids"])]
    return Windows(enc["input_ids"], offsets, sample, special)


def check_alignment(examples: Sequence[Example], windows: Windows, report: AlignReport) -> None:
    """Count spans whose boundaries are not token boundaries (over all windows of a text)."""
    starts: dict[int, set[int]] = {}
    ends: dict[int, set[int]] = {}
    for w, i in enumerate(windows.sample):
        real = windows.offsets[w][~windows.special[w]]
        starts.setdefault(int(i), set()).update(real[:, 0].tolist())
        ends.setdefault(int(i), set()).update(real[:, 1].tolist())
    for i, ex in enumerate(examples):
        for s in ex.spans:
            report.spans += 1
            if s.start not in starts.get(i, ()) or s.end not in ends.get(i, ()):
                report.misaligned[s.label] += 1
                if len(report.samples) < 5:
                    report.samples.append(f"{s.label} {ex.text[s.start:s.end]!r} in {ex.article_id}#{ex.paragraph}")


def tagger_features(
    examples: Sequence[Example],
    tokenizer,
    label2id: dict[str, int],
    max_length: int,
    stride: int,
    report: AlignReport | None = None,
) -> tuple[Windows, list[list[int]]]:
    """Windows over the examples and one label id per token (IGNORE on special tokens)."""
    windows = tokenize_windows([ex.text for ex in examples], tokenizer, max_length, stride)
    if report is not None:
        check_alignment(examples, windows, report)
    tags = [char_tags(ex.text, ex.spans, label2id) for ex in examples]
    labels = []
    for w, i in enumerate(windows.sample):
        first = windows.offsets[w][:, 0]
        ids = tags[i][np.minimum(first, max(len(tags[i]) - 1, 0))] if len(tags[i]) else np.zeros_like(first)
        ids = np.where(windows.special[w], IGNORE, ids)
        labels.append(ids.tolist())
    return windows, labels


def tagger_dataset(windows: Windows, labels: list[list[int]], tokenizer) -> Dataset:
    """A datasets.Dataset of model inputs and token labels (one row per window)."""
    cols = {"input_ids": windows.input_ids, "labels": labels}
    cols["attention_mask"] = [[1] * len(ids) for ids in windows.input_ids]
    if "token_type_ids" in tokenizer.model_input_names:
        cols["token_type_ids"] = [[0] * len(ids) for ids in windows.input_ids]
    return Dataset.from_dict(cols)


# --------------------------------------------------------------------------- classifier


def multi_hot(classes: Iterable[str], names: Sequence[str]) -> list[float]:
    got = set(classes)
    return [1.0 if c in got else 0.0 for c in names]


def classifier_dataset(examples: Sequence[Example], tokenizer, classes: Sequence[str], max_length: int) -> Dataset:
    """One row per paragraph: inputs truncated to ``max_length`` and multi-hot float labels."""
    enc = tokenizer([ex.text for ex in examples], truncation=True, max_length=max_length)
    cols = {k: enc[k] for k in tokenizer.model_input_names if k in enc}
    cols["labels"] = [multi_hot(ex.classes, classes) for ex in examples]
    return Dataset.from_dict(cols)


# --------------------------------------------------------------------------- split


def split_by_article(
    examples: Sequence[Example], eval_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Train/validation split by article id, so paragraphs of one article never straddle it.

    The articles are sorted before a seeded shuffle: the split depends only on the data
    and the seed. With two or more articles, each side gets at least one.
    """
    articles = sorted({ex.article_id for ex in examples})
    if len(articles) < 2:
        return list(examples), []
    random.Random(seed).shuffle(articles)
    n_eval = min(max(1, math.ceil(len(articles) * eval_fraction)), len(articles) - 1)
    held = set(articles[:n_eval])
    train = [ex for ex in examples if ex.article_id not in held]
    val = [ex for ex in examples if ex.article_id in held]
    return train, val


@dataclass(frozen=True)
class TrainingData:
    """What both models of a run train on: the paragraphs split by article, and where they
    came from (``paths`` are hashed into each manifest; ``info`` is metrics.json's ``data``)."""

    train: list[Example]
    val: list[Example]
    paths: list[Path]
    info: dict[str, Any]


def training_data(
    examples: Sequence[Example], paths: Sequence[Path], eval_fraction: float, seed: int, skipped: Mapping[str, int] | None = None
) -> TrainingData:
    """Split annotated paragraphs by article (:func:`split_by_article`) and count what went where."""
    train, val = split_by_article(examples, eval_fraction, seed)
    info = {
        "exports": [str(p) for p in paths],
        "skipped": dict(skipped or {}),
        "train_examples": len(train),
        "validation_examples": len(val),
        "train_articles": len({ex.article_id for ex in train}),
        "validation_articles": len({ex.article_id for ex in val}),
        "validation_article_ids": sorted({ex.article_id for ex in val}),
    }
    return TrainingData(train, val, list(paths), info)


def negative_examples(path: str | Path) -> list[Example]:
    """The paragraphs of a text file (one per line) as training examples with no class and no span.

    The file is read and split as ``predict`` reads an article (encoding detected, text
    normalized, page furniture skipped, long lines chunked), so the classifier learns "no
    measure" on the very paragraphs it will be shown. The written corpus is talent-policy
    articles only; without text from elsewhere the classifier had seen no personnel news,
    statistics or sports (docs/experiments.md).
    """
    source = Path(path)
    examples = [
        Example(par.text, (), (), article_id=f"{source.name}:{par.index}", paragraph=0, source=str(source), original=par.original)
        for par in split_article(read_article(source))
    ]
    if not examples:
        raise InputError(f"{source}: no paragraphs (only page furniture or blank lines)")
    return examples


def with_negatives(data: TrainingData, path: str | Path) -> TrainingData:
    """``data`` with the paragraphs of :func:`negative_examples` added to its training side.

    The file joins the data paths (hashed into the manifest) and ``info`` counts its paragraphs.
    """
    negatives = negative_examples(path)
    info = {**data.info, "negatives": str(path), "negative_examples": len(negatives)}
    return replace(data, train=data.train + negatives, paths=[*data.paths, Path(path)], info=info)
