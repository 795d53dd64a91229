"""Configuration: typed, validated sections read from YAML (configs/train.yaml for
`train`, configs/pretrain.yaml for `pretrain`).

Every section forbids unknown keys, so a typo (``learning_rte``) is an error naming the
key and the file instead of a silently ignored setting.

Paths, one rule: a relative path written in a config file is relative to that file's
directory (``base_model: ../models/e5`` in configs/train.yaml); a default that the file
does not set names a file of the project and is relative to the project root. Neither
depends on the working directory. A ``base_model`` that is no local dir stays a hub id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from train.errors import InputError
from train.files import PROJECT_ROOT

DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "train.yaml"
PRETRAIN_CONFIG = PROJECT_ROOT / "configs" / "pretrain.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Section):
    """Settings both models share (each section has its own values)."""

    base_model: str = Field("models/base", description="hub id or local dir of the pretrained encoder")
    layers: int | None = Field(
        None, ge=1, description="keep the base's first N transformer layers (null: all): fewer train and predict faster"
    )
    max_length: int = Field(256, ge=16, le=512, description="tokens per window, [CLS] and [SEP] included")
    epochs: float = Field(10, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: run the epochs)")
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    head_learning_rate: float | None = Field(
        None, gt=0, description="learning rate of the new task head (and a new pooler); null: learning_rate"
    )
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    early_stopping_patience: int = Field(3, ge=1, description="evaluations without F1 gain before stopping")
    logging_steps: int = Field(5, ge=1, description="training-loss points on the curve")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 mixed precision on a GPU that has it or a CPU with AMX tiles, else fp32"
    )


class TaggerConfig(ModelConfig):
    stride: int = Field(32, ge=0, description="tokens shared by consecutive windows of a long paragraph")
    token_split: Literal["none", "numbers", "characters"] = Field(
        "numbers",
        description="with a SentencePiece base: split numbers, % and punctuation off (numbers), and also every "
        "CJK character (characters), so span boundaries are token boundaries",
    )

    @model_validator(mode="after")
    def _stride_fits(self) -> "TaggerConfig":
        if self.stride >= self.max_length - 2:
            raise ValueError(f"stride ({self.stride}) must be smaller than max_length - 2 ({self.max_length - 2})")
        return self


class ClassifierConfig(ModelConfig):
    max_pos_weight: float = Field(10.0, ge=1, description="cap on the BCE pos_weight of a rare class")
    shared_loss_weight: float = Field(
        1.0, gt=0, description="with shared_encoder: the class loss's weight beside the tagger's token loss"
    )
    negatives: str | None = Field(
        None,
        description="a text file of paragraphs that report no measure, one per line (read as predict reads an "
        "article), added to the classifier's training paragraphs with no class, never to validation; null: none",
    )


class SplitConfig(_Section):
    """Validation split, by article (never by paragraph); shared by both models."""

    eval_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 13


class AugmentConfig(_Section):
    """Place-swapped copies of the tagger's training paragraphs (train/augment.py); off by default."""

    place_copies: int = Field(0, ge=0, description="place-swapped copies of each training paragraph (0: off)")
    place_rate: float = Field(0.8, gt=0, le=1, description="chance that each place of a paragraph is swapped")
    places: str = Field("labels/divisions.tsv", description="the division file whose names are swapped in (labels/DIVISIONS.md)")


class TrainConfig(_Section):
    tagger: TaggerConfig = Field(default_factory=TaggerConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    shared_encoder: bool = Field(
        False,
        description="train the tagger and the classifier as one encoder with two heads (train.joint): one run, "
        "and one forward pass per paragraph at prediction; the tagger section sets the base and the schedule",
    )

    @model_validator(mode="after")
    def _one_base_when_shared(self) -> "TrainConfig":
        if self.shared_encoder and self.tagger.base_model != self.classifier.base_model:
            raise ValueError(
                f"shared_encoder: tagger.base_model ({self.tagger.base_model}) and classifier.base_model "
                f"({self.classifier.base_model}) differ; one encoder starts from one base"
            )
        if self.shared_encoder and self.tagger.layers != self.classifier.layers:
            raise ValueError(
                f"shared_encoder: tagger.layers ({self.tagger.layers}) and classifier.layers "
                f"({self.classifier.layers}) differ; one encoder has one depth"
            )
        return self


def read_yaml(path: Path) -> Any:
    """A config file's YAML; one InputError line naming the file (and line) when it cannot be read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such config file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}:{at} not valid YAML ({getattr(exc, 'problem', exc)})") from None


def validate(schema: type[BaseModel], data: Any, source: str, sections: str) -> Any:
    """``data`` as ``schema``; every problem named by its key, in one InputError line naming ``source``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{source}: a config is a mapping of sections ({sections})")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")  # a validator's own words need no pydantic prefix
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key '{loc}'")
            else:  # a whole-config rule names its keys itself
                problems.append(f"{loc}: {msg}" if loc else msg)
        raise InputError(f"{source}: {'; '.join(problems)}") from None


def parse_config(data: Any, source: str = "<config>", config_dir: Path | None = None) -> TrainConfig:
    """Validate a config mapping; the first problem becomes an InputError naming key and file.

    Paths come back absolute: relative to ``config_dir`` where the mapping sets them, else
    to the project root.
    """
    config = validate(TrainConfig, data, source, "tagger, classifier, split, augment, shared_encoder")
    return resolve_paths(config, config_dir)


_HUB_ID = re.compile(r"[\w-][\w.-]*(/[\w.-]+)?")


def is_hub_id(name: str) -> bool:
    """Whether a base model that is no local dir may be a hub id (``name`` or ``org/name``).

    The one rule for configs and the command line: anything shaped like a path (``./``,
    ``../``, ``/``, ``~``, more than one ``/``) or under this project's ``models/`` is a
    local dir, and a missing one is an error, never a download attempt.
    """
    return bool(_HUB_ID.fullmatch(name)) and not name.startswith("models/")


def _local(value: str, base: Path, hub_id_ok: bool = False) -> str:
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    if hub_id_ok and not (base / path).exists() and is_hub_id(value):
        return value  # e.g. intfloat/multilingual-e5-small
    return str((base / path).resolve())


def resolve_paths(config: TrainConfig, config_dir: Path | None) -> TrainConfig:
    """The config with its paths made absolute by the one rule (see the module docstring)."""

    def base(section: BaseModel, key: str) -> Path:
        return config_dir if config_dir is not None and key in section.model_fields_set else PROJECT_ROOT

    models = {
        name: section.model_copy(update={"base_model": _local(section.base_model, base(section, "base_model"), hub_id_ok=True)})
        for name, section in (("tagger", config.tagger), ("classifier", config.classifier))
    }
    if config.classifier.negatives is not None:
        negatives = _local(config.classifier.negatives, base(config.classifier, "negatives"))
        models["classifier"] = models["classifier"].model_copy(update={"negatives": negatives})
    augment = config.augment.model_copy(update={"places": _local(config.augment.places, base(config.augment, "places"))})
    return config.model_copy(update={**models, "augment": augment})


def load_config(path: str | Path | None = None) -> TrainConfig:
    """Read a YAML config (default: the project's configs/train.yaml, wherever the command runs)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    return parse_config(read_yaml(path), str(path), path.resolve().parent)


# --------------------------------------------------------------------------- pretrain


class PretrainShape(_Section):
    """Shape of a new model (ignored with ``--base``: the base keeps its shape)."""

    num_hidden_layers: int = Field(4, ge=1, le=24)
    hidden_size: int = Field(256, ge=8)
    num_attention_heads: int = Field(4, ge=1)
    intermediate_size: int = Field(1024, ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    init_embeddings: Literal["random", "cooccurrence"] = Field(
        "random",
        description="cooccurrence: token embeddings start as PPMI-SVD vectors of the corpus (see train.pretrain.cooccurrence_vectors)",
    )

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> "PretrainShape":
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads ({self.num_attention_heads})")
        return self


class PretrainSchedule(_Section):
    max_steps: int = Field(10000, ge=1, description="optimizer steps in all (resumed runs included)")
    batch_size: int = Field(64, ge=1, description="blocks per optimizer step")
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(5e-4, gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    mlm_probability: float = Field(0.15, gt=0, lt=1)
    short_block_prob: float = Field(0.1, ge=0, le=1, description="blocks packed to a random shorter length")
    heldout_fraction: float = Field(0.01, gt=0, lt=0.5)
    heldout_max: int = Field(500, ge=1, description="at most this many held-out blocks")
    seed: int = 42
    eval_steps: int = Field(1000, ge=1)
    save_steps: int = Field(500, ge=1)
    logging_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1)
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 mixed precision on a GPU that has it or a CPU with AMX, else fp32"
    )


class PretrainConfig(_Section):
    vocab: str = Field(
        "../shared/vocab/bert-base-chinese-vocab.txt",
        description="WordPiece vocab of a new model (ignored with --base); a path, by the rule above",
    )
    max_length: int = Field(256, ge=8, le=512, description="tokens per block, [CLS] and [SEP] included")
    model: PretrainShape = Field(default_factory=PretrainShape)
    train: PretrainSchedule = Field(default_factory=PretrainSchedule)


def load_pretrain_config(path: str | Path | None = None) -> PretrainConfig:
    """Read configs/pretrain.yaml (or ``path``); ``vocab`` comes back absolute, by the one path rule."""
    path = Path(path) if path is not None else PRETRAIN_CONFIG
    cfg = validate(PretrainConfig, read_yaml(path), str(path), "vocab, max_length, model, train")
    base = path.resolve().parent if "vocab" in cfg.model_fields_set else PROJECT_ROOT
    return cfg.model_copy(update={"vocab": _local(cfg.vocab, base)})
