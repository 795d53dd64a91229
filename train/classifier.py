"""The multi-label paragraph classifier (ATTRACT / CULTIVATE / RETAIN).

BCE with a per-class ``pos_weight`` (rare classes weigh more), early stopping on
validation F1, and one decision threshold per class tuned on validation to maximize
that class's F1 (saved as thresholds.json beside the weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    EvalPrediction,
    set_seed,
)

from train.config import TrainConfig
from train.dataset import TrainingData, classifier_dataset, multi_hot
from train.errors import InputError
from train.labelstudio import Example, load_schema
from train.modeldir import load_model, write_model
from train.cards import model_card
from train.runtime import (
    OrderedEvalTrainer,
    base_encoder,
    batched_forward,
    fine_tune,
    from_base,
)

THRESHOLDS = "thresholds.json"
GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


# --------------------------------------------------------------------------- metrics


def class_weights(labels: np.ndarray, cap: float) -> np.ndarray:
    """BCE pos_weight per class: negatives / positives, within [1, cap]; 1 for an absent class."""
    pos = labels.sum(0)
    neg = len(labels) - pos
    w = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
    return np.clip(w, 1.0, cap).astype(np.float32)


def tune_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per class, the grid threshold with the best F1 (ties: the one nearest 0.5); 0.5 with no positives."""
    out = np.full(probs.shape[1], 0.5)
    y = labels.astype(bool)
    for c in range(probs.shape[1]):
        if not y[:, c].any():
            continue
        pred = probs[:, c, None] >= GRID[None, :]
        tp = (pred & y[:, c, None]).sum(0)
        f1 = 2 * tp / np.maximum(pred.sum(0) + y[:, c].sum(), 1)
        best = np.flatnonzero(f1 == f1.max())
        out[c] = GRID[best[np.argmin(np.abs(GRID[best] - 0.5))]]
    return out


def _prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def class_report(probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """P/R/F1 and support per class at the given thresholds, micro and macro averages."""
    pred = probs >= thresholds[None, :]
    y = labels.astype(bool)
    tp, fp, fn = (pred & y).sum(0), (pred & ~y).sum(0), (~pred & y).sum(0)
    per_class = {}
    for c, name in enumerate(classes):
        per_class[name] = {**_prf(tp[c], fp[c], fn[c]), "support": int(y[:, c].sum()), "threshold": float(thresholds[c])}
    micro = {**_prf(tp.sum(), fp.sum(), fn.sum()), "support": int(y.sum())}
    macro = {k: float(np.mean([r[k] for r in per_class.values()])) for k in ("precision", "recall", "f1")}
    macro["support"] = int(y.sum())
    return {"per_class": per_class, "micro": micro, "macro": macro, "paragraphs": int(len(labels))}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def class_metrics(p: EvalPrediction) -> dict[str, float]:
    """Validation figures from logits, each class at its best threshold (what picks the best epoch)."""
    logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
    probs, labels = _sigmoid(logits.astype(np.float64)), np.asarray(p.label_ids)
    rep = class_report(probs, labels, tune_thresholds(probs, labels), [str(i) for i in range(probs.shape[1])])
    return {"precision": rep["micro"]["precision"], "recall": rep["micro"]["recall"], "f1": rep["micro"]["f1"], "macro_f1": rep["macro"]["f1"]}


# --------------------------------------------------------------------------- inference


class Classifier:
    """A trained classifier: ``Classifier.load(dir).predict(texts)`` -> class probabilities per text."""

    def __init__(
        self,
        model,
        tokenizer,
        thresholds: dict[str, float] | None = None,
        max_length: int | None = None,
        cpu_bf16: bool = False,
    ):
        self.cpu_bf16 = cpu_bf16  # bf16 inference on CPU (predict's --precision); training and evaluate use fp32
        self.model = model
        self.tokenizer = tokenizer
        self.classes: list[str] = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.thresholds: dict[str, float] = {c: float((thresholds or {}).get(c, 0.5)) for c in self.classes}
        self.max_length = int(max_length or min(tokenizer.model_max_length, model.config.max_position_embeddings))

    @classmethod
    def load(cls, model_dir: str | Path, device: str | torch.device | None = None, cpu_bf16: bool = False) -> "Classifier":
        model, tokenizer, model_dir = load_model(model_dir, AutoModelForSequenceClassification, "classifier", device)
        thresholds = None
        if (model_dir / THRESHOLDS).exists():
            try:
                thresholds = json.loads((model_dir / THRESHOLDS).read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InputError(f"{model_dir / THRESHOLDS}: not JSON ({exc})") from None
        return cls(model, tokenizer, thresholds, cpu_bf16=cpu_bf16)

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, float]]:
        """Probability of every class per text (compare with ``thresholds`` to decide)."""
        if not texts:
            return []
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        probs = batched_forward(
            self.model,
            enc["input_ids"],
            self.tokenizer.pad_token_id,
            batch_size,
            torch.sigmoid,
            per_token=False,
            token_types="token_type_ids" in self.tokenizer.model_input_names,
            cpu_bf16=self.cpu_bf16,
        )
        return [{c: round(float(v), 4) for c, v in zip(self.classes, p)} for p in probs]


def evaluate_classifier(clf: Classifier, examples: Sequence[Example], batch_size: int = 32, thresholds: np.ndarray | None = None) -> dict[str, Any]:
    """class_report of a classifier on gold examples (its own thresholds unless given)."""
    probs = np.array([[p[c] for c in clf.classes] for p in clf.predict([ex.text for ex in examples], batch_size)])
    labels = np.array([multi_hot(ex.classes, clf.classes) for ex in examples])
    if thresholds is None:
        thresholds = np.array([clf.thresholds[c] for c in clf.classes])
    return class_report(probs.reshape(len(examples), len(clf.classes)), labels.reshape(len(examples), len(clf.classes)), thresholds, clf.classes)


# --------------------------------------------------------------------------- training


class WeightedTrainer(OrderedEvalTrainer):
    """Trainer with BCE-with-logits loss weighted per class (``pos_weight``)."""

    def __init__(self, *args, pos_weight: torch.Tensor, **kwargs):
        super().__init__(*args, **kwargs)
        self.pos_weight = pos_weight

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits.float()
        loss = F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=self.pos_weight.to(logits.device))
        return (loss, outputs) if return_outputs else loss


def class_targets(examples: Sequence[Example], classes: Sequence[str], cap: float) -> tuple[np.ndarray, torch.Tensor]:
    """(multi-hot labels of the examples, the BCE pos_weight they call for), both models' way of weighing rare classes."""
    labels = np.array([multi_hot(ex.classes, classes) for ex in examples]).reshape(len(examples), len(classes))
    return labels, torch.tensor(class_weights(labels, cap))


def train_classifier(
    data: TrainingData,
    config: TrainConfig,
    out_dir: Path,
) -> dict[str, Any]:
    """Fine-tune the base encoder as a multi-label classifier; write ``out_dir/classifier``."""
    train, val = data.train, data.val
    if not val:
        raise InputError("the classifier needs validation paragraphs: give data from at least two articles")
    cfg = config.classifier
    base, tokenizer = base_encoder(cfg.base_model)
    classes = list(load_schema().classes)
    _, pos_weight = class_targets(train, classes, cfg.max_pos_weight)
    train_data = classifier_dataset(train, tokenizer, classes, cfg.max_length)
    val_data = classifier_dataset(sorted(val, key=lambda ex: -len(ex.text)), tokenizer, classes, cfg.max_length)

    set_seed(cfg.seed)  # the new pooler and head start from the seed
    model, training = fine_tune(
        cfg, sequence_classifier(base, classes, cfg.layers), out_dir, tokenizer, DataCollatorWithPadding(tokenizer), train_data,
        val_data, class_metrics, trainer_class=WeightedTrainer, stage="classifier", pos_weight=pos_weight,
    )  # fmt: skip
    return write_classifier(model, tokenizer, cfg.max_length, data, config, out_dir, {"training": training})


def sequence_classifier(base: str, classes: Sequence[str], layers: int | None = None):
    """A multi-label paragraph classifier with these classes, from a base encoder (a new pooler and head)."""
    return from_base(
        AutoModelForSequenceClassification, base, layers, num_labels=len(classes), id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)}, problem_type="multi_label_classification",
    )  # fmt: skip


def write_classifier(
    model, tokenizer, max_length: int, data: TrainingData, config: TrainConfig, out_dir: Path, training: dict[str, Any]
) -> dict[str, Any]:
    """Tune the thresholds on the validation paragraphs, score there, write ``out_dir/classifier``; return its metrics."""
    cfg = config.classifier
    classes = [model.config.id2label[i] for i in range(model.config.num_labels)]
    val = sorted(data.val, key=lambda ex: -len(ex.text))
    train_labels, pos_weight = class_targets(data.train, classes, cfg.max_pos_weight)
    tokenizer.model_max_length = max_length
    clf = Classifier(model, tokenizer, max_length=max_length)
    probs = np.array([[p[c] for c in classes] for p in clf.predict([ex.text for ex in val], cfg.eval_batch_size)])
    labels = np.array([multi_hot(ex.classes, classes) for ex in val])
    thresholds = tune_thresholds(probs, labels)
    clf.thresholds = {c: float(t) for c, t in zip(classes, thresholds)}
    metrics = {
        "validation": class_report(probs, labels, thresholds, classes),
        "validation_at_0.5": class_report(probs, labels, np.full(len(classes), 0.5), classes),
        "data": {**data.info, "class_counts_train": dict(zip(classes, train_labels.sum(0).astype(int).tolist()))},
        "pos_weight": dict(zip(classes, pos_weight.tolist())),
        **training,
        "note": "Thresholds are tuned on the same validation paragraphs these figures come from, so the "
        "figures are optimistic; `validation_at_0.5` in metrics.json gives them at a fixed 0.5.",
    }
    what = (
        "Multi-label classes " + ", ".join(classes) + " (引才/育才/留才) of a normalized paragraph; "
        "load with `train.classifier.Classifier.load(dir)`; a class applies at or above its threshold "
        f"in `{THRESHOLDS}`."
    )
    write_model(
        out_dir / "classifier", "classifier", model, tokenizer, metrics, config, data.paths, cfg.base_model,
        card=lambda man: model_card("Talent-measure paragraph classifier", what, man, metrics, "per_class"),
        extra={THRESHOLDS: clf.thresholds}, curves=training["training"]["log_history"],
    )  # fmt: skip
    return metrics
