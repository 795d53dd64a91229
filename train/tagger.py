"""The token tagger: training (Trainer, early stopping on validation F1) and fast inference.

Predictions are decoded at character level: windows of a long paragraph are merged back
(each token taken from the window where it sits farthest from an edge), labels are the
most probable valid IOB2 sequence (Viterbi; ``argmax`` decoding instead takes each
token's best label and repairs invalid BIO as transformers' pipeline does), and every
entity carries character offsets and a score (the mean probability of its tokens' labels).
Metrics are seqeval strict IOB2 over the characters of whole paragraphs, so a boundary
a token cannot express counts as an error rather than vanishing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import (
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    EvalPrediction,
    set_seed,
)

from train.augment import augment_places, load_places
from train.config import TrainConfig
from train.dataset import AlignReport, TrainingData, Windows, bio_labels, char_bio, split_tokens, tagger_dataset, tagger_features, tokenize_windows
from train.errors import InputError
from train.labelstudio import Example, Schema, Span, load_schema
from train.modeldir import load_model, write_model
from train.cards import model_card
from train.runtime import (
    base_encoder,
    batched_forward,
    fine_tune,
    from_base,
)


@dataclass(frozen=True)
class Entity:
    """A predicted span: character offsets into the paragraph, label, mean token probability."""

    start: int
    end: int
    label: str
    score: float


# --------------------------------------------------------------------------- decoding


class LabelCodec:
    """Label ids as arrays: entity type per id (-1 for O), whether it is an I- label, and
    which labels may follow which under IOB2 (``allowed[i, j]``: j after i; ``allowed_first``)."""

    def __init__(self, id2label: dict[int, str]):
        n = len(id2label)
        self.types: list[str] = []
        self.type_of = np.full(n, -1, dtype=np.int64)
        self.inside = np.zeros(n, dtype=bool)
        for i in range(n):
            name = id2label[i]
            if name == "O":
                continue
            prefix, _, typ = name.partition("-")
            if prefix not in ("B", "I") or not typ:
                raise ValueError(f"label {name!r} is not O, B-X or I-X")
            if typ not in self.types:
                self.types.append(typ)
            self.type_of[i] = self.types.index(typ)
            self.inside[i] = prefix == "I"
        self.label2id = {name: i for i, name in id2label.items()}
        # I-X only after B-X or I-X; anything else may follow anything.
        same_type = self.type_of[:, None] == self.type_of[None, :]
        self.allowed = np.where(self.inside[None, :], same_type & (self.type_of[:, None] >= 0), True)
        self.allowed_first = ~self.inside


def repaired_starts(pred: np.ndarray, codec: LabelCodec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entity starts after BIO repair: a tagged token starts an entity when it is B-X,
    or an I-X after O or after a token of another type. Returns (tagged, start, type)."""
    typ = codec.type_of[pred]
    tagged = typ >= 0
    prev = np.concatenate(([-1], typ[:-1]))
    start = tagged & (~codec.inside[pred] | (prev != typ))
    return tagged, start, typ


DECODINGS = ("viterbi", "argmax")


def viterbi(probs: np.ndarray, codec: LabelCodec) -> np.ndarray:
    """The most probable label sequence that is valid IOB2 (sum of log-probabilities).

    Per-token argmax of a weak tagger breaks entities: 苏州工业园区 comes out as B I O I I I,
    which any repair turns into two entities. Here the break costs what it is worth.
    Where the argmax path is already valid it is the answer, and no search runs.
    """
    pred = probs.argmax(-1)
    allowed, first = codec.allowed, codec.allowed_first
    if first[pred[0]] and allowed[pred[:-1], pred[1:]].all():
        return pred
    logp = np.log(np.clip(probs, 1e-12, None))
    penalty = np.where(allowed, 0.0, -np.inf)
    score = np.where(first, logp[0], -np.inf)
    back = np.empty(probs.shape, dtype=np.int64)
    for t in range(1, len(probs)):
        cand = score[:, None] + penalty
        back[t] = cand.argmax(0)
        score = cand[back[t], np.arange(cand.shape[1])] + logp[t]
    path = np.empty(len(probs), dtype=np.int64)
    path[-1] = score.argmax()
    for t in range(len(probs) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def decode_entities(probs: np.ndarray, offsets: np.ndarray, codec: LabelCodec, decoding: str = "viterbi") -> list[Entity]:
    """Entities from per-token probabilities (tokens, labels) and their char offsets.

    ``viterbi`` (default): the best valid IOB2 path. ``argmax``: each token's most
    probable label, invalid I- tags repaired, as transformers' token-classification
    pipeline groups them (aggregation "simple").
    """
    if len(probs) == 0:
        return []
    if decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {DECODINGS}, not {decoding!r}")
    pred = viterbi(probs, codec) if decoding == "viterbi" else probs.argmax(-1)
    conf = probs[np.arange(len(pred)), pred]
    tagged, start, typ = repaired_starts(pred, codec)
    cont = tagged & ~start
    end = tagged & ~np.concatenate((cont[1:], [False]))
    s_idx, e_idx = np.flatnonzero(start), np.flatnonzero(end)
    csum = np.concatenate(([0.0], np.cumsum(conf, dtype=np.float64)))
    scores = (csum[e_idx + 1] - csum[s_idx]) / (e_idx - s_idx + 1)
    return [
        Entity(int(offsets[s, 0]), int(offsets[e, 1]), codec.types[typ[s]], round(float(sc), 4))
        for s, e, sc in zip(s_idx, e_idx, scores)
    ]


def merge_windows(windows: Windows, probs: Sequence[np.ndarray], n_texts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per text, (offsets, probs) of its tokens in order, overlapping windows merged.

    A token seen in two windows is taken from the one where it is farther from an edge
    (more context on both sides; the rule of BERT's ``_check_is_max_context``). This is a
    deliberate difference from transformers' token-classification pipeline, which keeps
    the entities of every window and, of overlapping ones, the longest: that keeps
    predictions made at a window's edge, with no context on one side
    (benchmarks/bench_predict.py counts the entities where the two differ).
    """
    by_text: dict[int, list[int]] = defaultdict(list)
    for w, i in enumerate(windows.sample):
        by_text[int(i)].append(w)
    n_labels = probs[0].shape[-1] if len(probs) else 0
    out = []
    for i in range(n_texts):
        offs, prs, cent = [], [], []
        for w in by_text.get(i, ()):
            real = ~windows.special[w]
            offs.append(windows.offsets[w][real])
            prs.append(probs[w][real])
            pos = np.arange(int(real.sum()))
            cent.append(np.minimum(pos, pos[::-1]))
        if not offs:
            out.append((np.zeros((0, 2), dtype=np.int64), np.zeros((0, n_labels), dtype=np.float32)))
            continue
        if len(offs) == 1:
            out.append((offs[0], prs[0]))
            continue
        o, p, c = np.concatenate(offs), np.concatenate(prs), np.concatenate(cent)
        order = np.lexsort((-c, o[:, 0]))
        first = np.concatenate(([True], o[order[1:], 0] != o[order[:-1], 0]))
        keep = order[first]
        out.append((o[keep], p[keep]))
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


# --------------------------------------------------------------------------- inference


class Tagger:
    """A trained tagger: ``Tagger.load(dir).predict(texts)`` -> entities per text."""

    def __init__(
        self,
        model,
        tokenizer,
        max_length: int | None = None,
        stride: int | None = None,
        decoding: str = "viterbi",
        cpu_bf16: bool = False,
    ):
        if decoding not in DECODINGS:
            raise InputError(f"decoding must be one of {', '.join(DECODINGS)}, not {decoding!r}")
        self.decoding = decoding
        self.cpu_bf16 = cpu_bf16  # bf16 inference on CPU (predict's --precision); training and evaluate use fp32
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length or min(tokenizer.model_max_length, model.config.max_position_embeddings))
        self.stride = int(stride if stride is not None else getattr(model.config, "window_stride", self.max_length // 8))
        self.codec = LabelCodec({int(k): v for k, v in model.config.id2label.items()})

    @classmethod
    def load(
        cls, model_dir: str | Path, device: str | torch.device | None = None, decoding: str = "viterbi", cpu_bf16: bool = False
    ) -> "Tagger":
        model, tokenizer, _ = load_model(model_dir, AutoModelForTokenClassification, "tagger", device)
        return cls(model, tokenizer, decoding=decoding, cpu_bf16=cpu_bf16)

    @property
    def labels(self) -> list[str]:
        return list(self.codec.types)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[list[Entity]]:
        """Entities per text, character offsets into that text."""
        if not texts:
            return []
        windows = tokenize_windows(texts, self.tokenizer, self.max_length, self.stride)
        probs = batched_forward(
            self.model,
            windows.input_ids,
            self.tokenizer.pad_token_id,
            batch_size,
            lambda logits: torch.softmax(logits, -1),
            per_token=True,
            token_types="token_type_ids" in self.tokenizer.model_input_names,
            cpu_bf16=self.cpu_bf16,
        )
        return [decode_entities(p, o, self.codec, self.decoding) for o, p in merge_windows(windows, probs, len(texts))]


# --------------------------------------------------------------------------- metrics


def _scores(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "precision": float(d["precision"]),
        "recall": float(d["recall"]),
        "f1": float(d["f1-score"]),
        "support": int(d["support"]),
    }


def entity_report(gold: Sequence[Example], predicted: Sequence[Sequence[Entity]], labels: Sequence[str] | None = None) -> dict[str, Any]:
    """seqeval strict IOB2 over characters: P/R/F1 per type, micro and macro averages."""
    from seqeval.metrics import classification_report  # here, not at the top: it imports scikit-learn (1.2 s of predict's start)
    from seqeval.scheme import IOB2

    labels = list(labels or load_schema().span_labels)
    y_true = [char_bio(ex.text, ex.spans) for ex in gold]
    y_pred = [char_bio(ex.text, [Span(e.start, e.end, e.label) for e in ents]) for ex, ents in zip(gold, predicted)]
    zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    if not any(t != "O" for seq in y_true + y_pred for t in seq):
        return {"per_type": {l: dict(zero) for l in labels}, "micro": dict(zero), "macro": dict(zero), "paragraphs": len(gold)}
    rep = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    per_type = {l: _scores(rep[l]) if l in rep else dict(zero) for l in labels}
    present = [per_type[l] for l in labels if per_type[l]["support"] > 0]
    macro = {
        k: (float(np.mean([r[k] for r in present])) if present else 0.0) for k in ("precision", "recall", "f1")
    }
    macro["support"] = sum(r["support"] for r in present)
    return {
        "per_type": per_type,
        "micro": _scores(rep["micro avg"]),
        "macro": macro,  # over the types that occur in the gold
        "paragraphs": len(gold),
    }


# --------------------------------------------------------------------------- training


def _metric_fn(val: Sequence[Example], windows: Windows, codec: LabelCodec, labels: Sequence[str]):
    def compute(p: EvalPrediction) -> dict[str, float]:
        logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        probs = [_softmax(logits[w, : len(windows.input_ids[w])].astype(np.float32)) for w in range(len(windows.input_ids))]
        merged = merge_windows(windows, probs, len(val))
        rep = entity_report(val, [decode_entities(pr, o, codec) for o, pr in merged], labels)
        return {
            "precision": rep["micro"]["precision"],
            "recall": rep["micro"]["recall"],
            "f1": rep["micro"]["f1"],
            "macro_f1": rep["macro"]["f1"],
        }

    return compute


def token_classifier(base: str, labels: Sequence[str], layers: int | None = None):
    """A token classifier with these BIO labels, from a base encoder (or a tagger with the same labels)."""
    return from_base(
        AutoModelForTokenClassification, base, layers, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
    )  # fmt: skip


@dataclass
class TaggerSetup:
    """What every tagger fine-tuning needs before its first step: the base and its tokenizer (with
    the configured token split), the BIO labels, and the validation windows; shared by
    :func:`train_tagger` and the one-encoder training of :mod:`train.joint`."""

    data: TrainingData
    config: TrainConfig
    base: str
    tokenizer: Any
    labels: list[str]
    codec: LabelCodec
    val: list[Example]  # longest first: evaluation batches pad little
    val_windows: Windows
    val_labels: list[list[int]]
    align: AlignReport
    sizes: dict[str, int]

    @classmethod
    def make(cls, data: TrainingData, config: TrainConfig, schema: Schema | None = None) -> "TaggerSetup":
        if not data.val:
            raise InputError("the tagger needs validation paragraphs: give data from at least two articles")
        cfg = config.tagger
        base, tokenizer = base_encoder(cfg.base_model)
        tokenizer = split_tokens(tokenizer, cfg.token_split)
        labels = bio_labels(schema)
        codec = LabelCodec(dict(enumerate(labels)))
        val = sorted(data.val, key=lambda ex: -len(ex.text))
        align = AlignReport()
        val_windows, val_labels = tagger_features(val, tokenizer, codec.label2id, cfg.max_length, cfg.stride, align)
        return cls(data, config, base, tokenizer, labels, codec, val, val_windows, val_labels, align, {})

    @property
    def span_labels(self) -> list[str]:
        return self.codec.types

    def new_model(self):
        """A fresh token classifier on the base, seeded by the tagger's seed."""
        cfg = self.config.tagger
        set_seed(cfg.seed)
        return token_classifier(self.base, self.labels, cfg.layers)

    def train_windows(self) -> tuple[Windows, list[list[int]]]:
        """(windows, token labels) of the training paragraphs, then of their place-swapped copies
        when augmentation is on; the sizes and the alignment report count them."""
        cfg, aug = self.config.tagger, self.config.augment
        train = list(self.data.train)
        if aug.place_copies:
            train += augment_places(self.data.train, load_places(aug.places), aug.place_copies, aug.place_rate, cfg.seed)
        windows, labels = tagger_features(train, self.tokenizer, self.codec.label2id, cfg.max_length, cfg.stride, self.align)
        self.sizes.update(place_swapped_copies=len(train) - len(self.data.train), windows_train=len(windows.input_ids))
        return windows, labels

    def metric_fn(self):
        return _metric_fn(self.val, self.val_windows, self.codec, self.span_labels)

    def write(self, model, training: dict[str, Any], out_dir: Path) -> dict[str, Any]:
        """Score the trained tagger on the validation paragraphs and write ``out_dir/tagger``; return its metrics."""
        cfg = self.config.tagger
        model.config.window_stride = cfg.stride
        self.tokenizer.model_max_length = cfg.max_length
        tagger = Tagger(model, self.tokenizer, cfg.max_length, cfg.stride)
        report = entity_report(self.val, tagger.predict([ex.text for ex in self.val], cfg.eval_batch_size), self.span_labels)
        align = self.align
        metrics = {
            "validation": report,
            "data": {**self.data.info, **self.sizes, "windows_validation": len(self.val_windows.input_ids)},
            "alignment": {
                "spans": align.spans,
                "misaligned": dict(align.misaligned),
                "examples": align.samples,
                "summary": align.summary(),
            },
            **training,
            "note": "Figures: seqeval strict IOB2 over characters of whole validation paragraphs "
            "(windows merged, BIO repaired); a span boundary inside a token counts as an error.",
        }
        what = (
            "Tags entities and metrics (" + ", ".join(self.span_labels) + ") in normalized Chinese paragraphs; "
            "load with `train.tagger.Tagger.load(dir)`."
        )
        write_model(
            out_dir / "tagger", "tagger", model, self.tokenizer, metrics, self.config, self.data.paths, cfg.base_model,
            card=lambda man: model_card("Talent-policy token tagger", what, man, metrics, "per_type"),
            curves=training["training"]["log_history"],
        )  # fmt: skip
        return metrics


def train_tagger(
    data: TrainingData,
    config: TrainConfig,
    out_dir: Path,
    schema: Schema | None = None,
) -> dict[str, Any]:
    """Fine-tune the base encoder as a token tagger; write ``out_dir/tagger``; return its metrics.

    ``schema`` defaults to labels/label_config.xml; benchmarks pass another label set.
    """
    setup = TaggerSetup.make(data, config, schema)
    tokenizer = setup.tokenizer

    windows, labels = setup.train_windows()
    model, training = fine_tune(
        config.tagger, setup.new_model(), out_dir, tokenizer, DataCollatorForTokenClassification(tokenizer),
        tagger_dataset(windows, labels, tokenizer), tagger_dataset(setup.val_windows, setup.val_labels, tokenizer),
        setup.metric_fn(), stage="tagger",
    )  # fmt: skip
    return setup.write(model, {"training": training}, out_dir)
