"""One encoder for both models: the tagger and the classifier fine-tuned together.

Both models read a paragraph through the same pretrained encoder. Fine-tuned apart, training
pays for two runs and prediction for two forward passes. With ``shared_encoder: true``
(configs/train.yaml) one encoder learns under both losses in one run: the token loss of every
window and the class loss of each paragraph's first window (the classifier reads a
paragraph's first ``max_length`` tokens, which is that window). The result is the usual two
model dirs, whose encoder weights are identical. :func:`shares_encoder` finds that out when
they are loaded (by comparing the weights, so no flag has to be trusted), and
:func:`predict_shared` then runs the encoder once for both heads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import DataCollatorForTokenClassification, EvalPrediction

from train.classifier import Classifier, class_metrics, class_targets, sequence_classifier, write_classifier
from train.config import TrainConfig
from train.dataset import IGNORE, TrainingData, Windows, multi_hot, tagger_dataset, tokenize_windows
from train.errors import InputError
from train.labelstudio import Example, load_schema
from train.runtime import OrderedEvalTrainer, fine_tune, forward_batches
from train.tagger import Entity, Tagger, TaggerSetup, decode_entities, merge_windows


def _linear(module: Any) -> bool:
    """A linear layer, float or quantized (``--precision int8`` swaps the class)."""
    return isinstance(module, torch.nn.Module) and hasattr(module, "out_features")


def _class_parts(model) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """(pooler, dropout, head) of a BERT-style sequence classifier: the head reads the pooled first token."""
    encoder = getattr(model, model.base_model_prefix)
    pooler = getattr(encoder, "pooler", None)
    if pooler is None or not _linear(getattr(model, "classifier", None)):
        raise InputError(
            f"shared_encoder: a {type(model).__name__} has no BERT-style pooler and linear head; "
            "set shared_encoder: false for this base"
        )
    return pooler, model.dropout, model.classifier


def _tie(tagger, classifier) -> None:
    """The sequence classifier's embeddings and layers become the token classifier's objects (its pooler stays)."""
    shared = getattr(tagger, tagger.base_model_prefix)
    other = getattr(classifier, classifier.base_model_prefix)
    other.embeddings, other.encoder = shared.embeddings, shared.encoder


class SharedEncoderModel(torch.nn.Module):
    """A token classifier and a sequence classifier on one encoder (the token classifier's).

    The sequence classifier is kept outside the module tree (its embeddings and layers are
    the tagger's, so a state dict holds every weight once); its pooler and head are
    submodules here. ``forward`` returns token logits for every window and class logits
    from each window's first token; the loss is the token cross-entropy plus the class BCE
    (``pos_weight`` per class) of the windows ``class_mask`` marks, times ``class_weight``: at the
    start the token loss moves the encoder about ten times more than the class loss does.
    """

    def __init__(self, tagger, classifier, pos_weight: torch.Tensor, class_weight: float = 1.0):
        super().__init__()
        self.pooler, self.class_dropout, self.class_head = _class_parts(classifier)
        _tie(tagger, classifier)
        self.tagger = tagger
        object.__setattr__(self, "classifier", classifier)
        self.config = tagger.config
        self.register_buffer("pos_weight", pos_weight.float(), persistent=False)
        self.class_weight = class_weight

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, class_labels=None, class_mask=None):
        encoder = getattr(self.tagger, self.tagger.base_model_prefix)
        hidden = encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        logits = self.tagger.classifier(self.tagger.dropout(hidden))
        class_logits = self.class_head(self.class_dropout(self.pooler(hidden)))
        out = {"logits": logits, "class_logits": class_logits}
        if labels is not None:
            loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
            if class_labels is not None and class_mask is not None and bool(class_mask.any()):
                rows = class_mask.bool()
                loss = loss + self.class_weight * F.binary_cross_entropy_with_logits(
                    class_logits.float()[rows], class_labels.float()[rows], pos_weight=self.pos_weight
                )
            out["loss"] = loss
        return out


class SharedEncoderTrainer(OrderedEvalTrainer):
    """Three learning rates: the encoder's (``learning_rate``), the token head's
    (``head_learning_rate``) and the new pooler and class head's (``class_head_learning_rate``)."""

    def __init__(self, *args, class_head_learning_rate: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_head_learning_rate = class_head_learning_rate

    def create_optimizer(self, model=None):
        if self.optimizer is not None:
            return self.optimizer
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        lr = self.args.learning_rate
        encoder = f"tagger.{model.tagger.base_model_prefix}."

        def rate(name: str) -> float:
            if name.startswith(encoder):
                return lr
            if name.startswith("tagger."):
                return self.head_learning_rate or lr
            return self.class_head_learning_rate or lr

        groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
        for name, param in model.named_parameters():
            if param.requires_grad:
                groups.setdefault((rate(name), name in decay), []).append(param)
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        self.optimizer = optimizer_cls(
            [{"params": ps, "lr": r, "weight_decay": self.args.weight_decay if d else 0.0} for (r, d), ps in groups.items()],
            **kwargs,
        )
        return self.optimizer


def first_windows(windows: Windows) -> np.ndarray:
    """The index of each text's first window (what the classifier reads of it)."""
    sample = np.asarray(windows.sample)
    _, first = np.unique(sample, return_index=True)
    return first


def _dataset(windows: Windows, labels: list[list[int]], examples: Sequence[Example], classes: Sequence[str], tokenizer):
    """Tagger windows with their paragraph's classes on its first window (class_mask 1), none on the others
    or on paragraphs past ``examples`` (place-swapped copies train the tagger only)."""
    ds = tagger_dataset(windows, labels, tokenizer)
    first = set(first_windows(windows).tolist())
    rows = [int(i) for i in windows.sample]
    mask = [int(w in first and i < len(examples)) for w, i in enumerate(rows)]
    targets = [multi_hot(examples[i].classes, classes) if m else [0.0] * len(classes) for i, m in zip(rows, mask)]
    return ds.add_column("class_labels", targets).add_column("class_mask", mask)


def _metric_fn(setup: TaggerSetup, classes: Sequence[str]):
    """Validation figures of both heads; ``f1`` (what picks the best epoch) is their mean."""
    entities = setup.metric_fn()
    first = first_windows(setup.val_windows)
    labels = np.array([multi_hot(ex.classes, classes) for ex in setup.val]).reshape(len(setup.val), len(classes))

    def compute(p: EvalPrediction) -> dict[str, float]:
        token_logits, class_logits = p.predictions[0], p.predictions[1]
        ent = entities(EvalPrediction(predictions=token_logits, label_ids=None))
        cls = class_metrics(EvalPrediction(predictions=class_logits[first], label_ids=labels))
        return {
            "f1": (ent["f1"] + cls["f1"]) / 2,
            "entity_f1": ent["f1"],
            "class_f1": cls["f1"],
            "entity_macro_f1": ent["macro_f1"],
            "class_macro_f1": cls["macro_f1"],
        }

    return compute


def train_shared(data: TrainingData, config: TrainConfig, out_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fine-tune one encoder with both heads; write ``out_dir/tagger`` and ``out_dir/classifier``;
    return their metrics. The schedule is the tagger section's; the classifier section gives
    its head's learning rate and the cap on pos_weight."""
    setup = TaggerSetup.make(data, config)
    tokenizer = setup.tokenizer
    classes = list(load_schema().classes)
    _, pos_weight = class_targets(data.train, classes, config.classifier.max_pos_weight)
    val_data = _dataset(setup.val_windows, setup.val_labels, setup.val, classes, tokenizer)

    windows, labels = setup.train_windows()
    model = SharedEncoderModel(
        setup.new_model(), sequence_classifier(setup.base, classes, config.tagger.layers), pos_weight, config.classifier.shared_loss_weight
    )
    model, summary = fine_tune(
        config.tagger, model, out_dir, tokenizer, DataCollatorForTokenClassification(tokenizer),
        _dataset(windows, labels, data.train, classes, tokenizer), val_data, _metric_fn(setup, classes),
        trainer_class=SharedEncoderTrainer, stage="shared encoder",
        class_head_learning_rate=config.classifier.head_learning_rate,
    )  # fmt: skip
    training = {"training": summary, "shared_encoder": True}
    tagger = setup.write(model.tagger, training, out_dir)
    classifier = write_classifier(model.classifier, tokenizer, config.tagger.max_length, data, config, out_dir, training)
    return tagger, classifier


# --------------------------------------------------------------------------- prediction


def _same_tokenizer(a, b) -> bool:
    """Equal tokenizers; truncation and padding are per-call settings the saved file happens to keep."""
    import json

    def rules(tok) -> dict[str, Any]:
        conf = json.loads(tok.backend_tokenizer.to_str())
        return {k: v for k, v in conf.items() if k not in ("truncation", "padding")}

    return rules(a) == rules(b)


def _same_encoder(a, b) -> bool:
    sa, sb = getattr(a, a.base_model_prefix).state_dict(), getattr(b, b.base_model_prefix).state_dict()
    keys = [k for k in sa if ".pooler." not in f".{k}"]
    return all(k in sb and sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in keys)


def shares_encoder(tagger: Tagger, classifier: Classifier) -> bool:
    """Whether the two models read text identically: same tokenizer, same length, equal encoder
    weights (a pair trained with ``shared_encoder``), so :func:`predict_shared` may serve both."""
    try:
        _class_parts(classifier.model)
    except InputError:
        return False
    return (
        tagger.max_length == classifier.max_length
        and _same_tokenizer(tagger.tokenizer, classifier.tokenizer)
        and _linear(getattr(tagger.model, "classifier", None))
        and _same_encoder(tagger.model, classifier.model)
    )


def tie_encoder(tagger: Tagger, classifier: Classifier) -> None:
    """Make the classifier's encoder the tagger's object (one copy in memory); for a pair that :func:`shares_encoder`."""
    _tie(tagger.model, classifier.model)


def predict_shared(
    tagger: Tagger, classifier: Classifier, texts: Sequence[str], batch_size: int = 32
) -> tuple[list[list[Entity]], list[dict[str, float]]]:
    """What ``tagger.predict`` and ``classifier.predict`` return, from one encoder pass per window
    (a pair for which :func:`shares_encoder` said yes)."""
    if not texts:
        return [], []
    windows = tokenize_windows(texts, tagger.tokenizer, tagger.max_length, tagger.stride)
    model = tagger.model
    encoder = getattr(model, model.base_model_prefix)
    pooler, _, head = _class_parts(classifier.model)

    def step(inputs: dict[str, torch.Tensor], lengths: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        hidden = encoder(**inputs)[0]
        tokens = torch.softmax(model.classifier(hidden).float(), -1).cpu().numpy()
        classes = torch.sigmoid(head(pooler(hidden)).float()).cpu().numpy()
        return [(tokens[r, :n], classes[r]) for r, n in enumerate(lengths)]

    out = forward_batches(
        model, windows.input_ids, tagger.tokenizer.pad_token_id, batch_size, step,
        token_types="token_type_ids" in tagger.tokenizer.model_input_names, cpu_bf16=tagger.cpu_bf16,
    )  # fmt: skip
    merged = merge_windows(windows, [tokens for tokens, _ in out], len(texts))
    entities = [decode_entities(p, o, tagger.codec, tagger.decoding) for o, p in merged]
    probs = [{c: round(float(v), 4) for c, v in zip(classifier.classes, out[w][1])} for w in first_windows(windows)]
    return entities, probs
