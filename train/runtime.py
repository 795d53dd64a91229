"""What the tagger and the classifier share: device, base model, Trainer settings, batched inference."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import SequentialSampler
from transformers import AutoConfig, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from train.config import ModelConfig, is_hub_id
from train.errors import InputError
from train.files import is_main_process

log = logging.getLogger(__name__)
# Progress bars are drawn when this logger takes information (``train --quiet`` turns it down).
PROGRESS = logging.getLogger("train.progress")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA when present, else CPU; a device this machine lacks is an InputError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {device}: not a device name (cpu, cuda, cuda:1, ...)") from None
    backend = getattr(torch, dev.type, None)
    if dev.type != "cpu" and not (hasattr(backend, "is_available") and backend.is_available()):
        raise InputError(f"--device {device}: no {dev.type} device on this machine")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


def resolve_base(name: str) -> str:
    """A local dir as an absolute path, else the hub id as given (error if neither is usable).

    Config values arrive absolute (train.config); a relative name here is a command-line
    argument, relative to the working directory like any other.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise InputError(f"{path}: base model dir has no config.json")
        return str(path.resolve())
    if not is_hub_id(name):
        raise InputError(f"{name}: base model dir not found (set base_model in the config to a local dir or a hub id)")
    return name


@contextmanager
def quiet_loading():
    """Silence the load report of a base encoder becoming a tagger or classifier.

    Dropping the masked-LM head and creating a new task head is the point of
    fine-tuning; transformers reports both as UNEXPECTED/MISSING keys at warning level.
    """
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)


def from_base(model_class, base: str, layers: int | None = None, **kwargs):
    """A task model initialized from the base encoder, in fp32 (the base may be stored in fp16).

    ``layers`` keeps the encoder's first N transformer layers and drops the rest (the
    saved model's config then says N, so it loads as it was trained).

    The new task head and a missing pooler are expected; any other weight of the encoder
    that the base lacks means the base does not fit, and is an error rather than a
    silently random encoder. A base that is itself a task model (an earlier run's
    tagger, to go on from it) keeps its head only when it has the same labels; another
    head, or one of another size, starts afresh.
    """
    if layers is not None:
        depth = AutoConfig.from_pretrained(base).num_hidden_layers
        if layers > depth:
            raise InputError(f"{base}: layers {layers} asked for, the base has {depth}")
        kwargs["num_hidden_layers"] = layers
    with quiet_loading():
        model, info = model_class.from_pretrained(
            base, dtype=torch.float32, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs
        )
    prefix = f"{model.base_model_prefix}."
    missing = sorted(k for k in info["missing_keys"] if k.startswith(prefix) and ".pooler." not in k)
    if missing:
        raise InputError(f"{base}: base model lacks {len(missing)} encoder weights (e.g. {', '.join(missing[:3])})")
    fresh = set(info["missing_keys"]) | {k[0] for k in info["mismatched_keys"]}
    loaded_head = [k for k in model.state_dict() if not k.startswith(prefix) and k not in fresh]
    if loaded_head and "id2label" in kwargs and AutoConfig.from_pretrained(base).id2label != model.config.id2label:
        for name in sorted({k.rpartition(".")[0] for k in loaded_head}):
            module = model.get_submodule(name)
            torch.nn.init.normal_(module.weight, std=model.config.initializer_range)
            if getattr(module, "bias", None) is not None:
                torch.nn.init.zeros_(module.bias)
    return model


def save_fp16(model, out: Path, architectures: Sequence[str] | None = None) -> None:
    """fp16 safetensors (half the size) with a config that loads as float32 for fine-tuning.

    ``from_pretrained`` takes the dtype from config.json; fine-tuning in fp16 on a CPU
    would not learn, so the config says float32 and the weights are upcast on load.
    """
    import copy
    import json

    copy.deepcopy(model).to("cpu").half().save_pretrained(out)
    cfg_file = out / "config.json"
    conf = json.loads(cfg_file.read_text(encoding="utf-8"))
    if architectures:
        conf["architectures"] = list(architectures)
    conf["dtype"] = "float32"
    conf.pop("torch_dtype", None)
    cfg_file.write_text(json.dumps(conf, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def int8_linear(model: torch.nn.Module) -> torch.nn.Module:
    """The model with its square and widening Linear layers dynamically quantized to int8, for CPU.

    Weights are quantized per channel. Layers that narrow their input stay fp32: the
    feed-forward down-projection reads GELU outputs whose outlier channels set the batch's
    one activation scale, and quantizing it cost real-text F1 (docs/experiments.md). Heads
    with fewer labels than the hidden size narrow too. The API is deprecated in favour of
    torchao; its warning is not the user's to act on.
    """
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    chosen = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module.out_features >= module.in_features
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, chosen)


def load_tokenizer(base: str):
    """The fast tokenizer of the base model (offset mappings need the fast one)."""
    try:
        tok = AutoTokenizer.from_pretrained(base)
    except OSError as exc:
        raise InputError(f"{base}: cannot load a tokenizer ({str(exc).splitlines()[0]})") from None
    if not tok.is_fast:
        raise InputError(f"{base}: the tokenizer is not a fast tokenizer; offsets need one")
    return tok


def base_encoder(name: str) -> tuple[str, Any]:
    """(where the base is, its fast tokenizer): what every fine-tuning run starts from."""
    base = resolve_base(name)
    return base, load_tokenizer(base)


def use_bf16(precision: str) -> bool:
    """bf16 autocast where it pays: GPUs with bf16, and CPUs with AMX tiles (about 2x faster here)."""
    if precision != "auto":
        return precision == "bf16"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(amx and amx())


def trainer_arguments(work_dir: Path, precision: str, seed: int, **schedule: Any) -> TrainingArguments:
    """TrainingArguments for every model this project trains: device, precision and seed
    rules here, the caller's schedule (steps, batches, evaluation, saving) in ``schedule``.

    Mixed precision as ``precision`` says (auto: bf16 on a GPU or AMX CPU that has it,
    fp16 on other GPUs, else fp32); master weights stay fp32 either way. Batches group
    paragraphs of similar length (less padding on a CPU). Under torchrun/accelerate the
    same arguments run data-parallel.
    """
    cuda = torch.cuda.is_available()
    bf16 = use_bf16(precision)
    return TrainingArguments(
        output_dir=str(work_dir),
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        fp16=cuda and not bf16 and precision == "auto",
        # Without an accelerator say so: torchrun on CPU then runs data-parallel over gloo.
        use_cpu=not cuda and not torch.backends.mps.is_available(),
        report_to="none",
        dataloader_pin_memory=cuda,
        train_sampling_strategy="group_by_length",
        **{"disable_tqdm": True, **schedule},  # StageProgress draws the one bar and the epoch lines
    )


def training_arguments(cfg: ModelConfig, work_dir: Path, metric: str = "f1") -> TrainingArguments:
    """A fine-tuning schedule: evaluate and checkpoint each epoch, keep the best by ``metric``."""
    return trainer_arguments(
        work_dir,
        cfg.precision,
        cfg.seed,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
    )


def trained_model(trainer: Trainer) -> torch.nn.Module:
    """The trained model without the mixed-precision wrapper accelerate puts on its forward.

    Inference right after training must compute what the saved model computes once
    reloaded (full precision on CPU), or validation figures and ``evaluate`` disagree.
    """
    return trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)


class OrderedEvalTrainer(Trainer):
    """A Trainer whose evaluation keeps the dataset order, and whose new head may learn faster.

    ``group_by_length`` (less padding when training on CPU) would also shuffle the
    evaluation batches; the tagger's metrics merge windows back into paragraphs by
    position, so evaluation must stay sequential (under torchrun the default
    distributed evaluation already is, and its gather keeps the order).

    ``head_learning_rate``: the learning rate of the parameters the base did not have (the
    task head, a new pooler). Adam moves each weight by about the learning rate per step,
    and a fresh head on an encoder whose token states differ little (multilingual-e5's do)
    stays near its random start for hundreds of steps at an encoder's rate.
    """

    def __init__(self, *args, head_learning_rate: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_learning_rate = head_learning_rate

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        if self.head_learning_rate is None or getattr(self, "_head_groups", False):
            return optimizer
        model = self.model if model is None else model
        prefix = f"{model.base_model_prefix}."
        head = {id(p) for n, p in model.named_parameters() if not n.startswith(prefix) or ".pooler." in n}
        groups = []
        for group in optimizer.param_groups:
            for is_head in (False, True):
                params = [p for p in group["params"] if (id(p) in head) == is_head]
                if params:
                    groups.append({**group, "params": params, **({"lr": self.head_learning_rate} if is_head else {})})
        optimizer.param_groups = []
        for group in groups:
            optimizer.add_param_group(group)
        self._head_groups = True
        return optimizer

    def _get_eval_sampler(self, eval_dataset):  # noqa: D401 (Trainer hook)
        if eval_dataset is None or self.args.world_size > 1:
            return None
        return SequentialSampler(eval_dataset)


def training_summary(trainer: Trainer) -> dict[str, Any]:
    """Epochs run, the best validation F1 and its epoch, and the whole log (for the curves)."""
    log = trainer.state.log_history
    evals = [h for h in log if "eval_f1" in h]
    best = max(evals, key=lambda h: h["eval_f1"]) if evals else {}
    return {
        "epochs_run": round(float(trainer.state.epoch or 0), 2),
        "steps": int(trainer.state.global_step),
        "best_epoch": best.get("epoch"),
        "best_eval_f1": best.get("eval_f1"),
        "log_history": log,
    }


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


class StageProgress(TrainerCallback):
    """What a person watching a training stage needs, instead of the Trainer's raw log dicts:
    a bar with the time left (on a terminal), and one line per epoch with the training loss
    and the validation figures, ending with the time left (also in the log file and when
    stderr is not a terminal)."""

    def __init__(self, stage: str):
        self.stage = stage
        self.bar: Any = None
        self.losses: list[float] = []  # logged training losses since the last evaluation
        self.best: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from tqdm.auto import tqdm

        self.started = time.monotonic()
        show = sys.stderr.isatty() and PROGRESS.isEnabledFor(logging.INFO)
        self.bar = tqdm(total=state.max_steps, desc=self.stage, unit="step", file=sys.stderr, leave=False, disable=not show)
        log.info("%s: %d steps, %g epochs", self.stage, state.max_steps, args.num_train_epochs)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        f1 = metrics.get("eval_f1")
        best = f1 is not None and (self.best is None or f1 > self.best)
        self.best = f1 if best else self.best
        elapsed = time.monotonic() - self.started
        left = elapsed * (state.max_steps - state.global_step) / max(state.global_step, 1)
        figures = "  ".join(
            f"{name} {metrics[key]:.3f}"
            for name, key in (
                ("val loss", "eval_loss"), ("P", "eval_precision"), ("R", "eval_recall"),
                ("entities F1", "eval_entity_f1"), ("classes F1", "eval_class_f1"), ("F1", "eval_f1"),
            )  # fmt: skip
            if key in metrics
        )
        loss = f"train loss {sum(self.losses) / len(self.losses):.3f}  " if self.losses else ""
        self.losses = []
        log.info(
            "%s: epoch %g/%g  %s%s%s  [%s, ~%s left]",
            self.stage, round(state.epoch or 0, 2), args.num_train_epochs, loss, figures, "  best" if best else "", _clock(elapsed), _clock(left),
        )  # fmt: skip

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if state.is_world_process_zero:
            log.info("%s: done in %s", self.stage, _clock(time.monotonic() - self.started))


def fine_tune(
    cfg: ModelConfig,
    model: torch.nn.Module,
    out_dir: Path,
    tokenizer: Any,
    collator: Any,
    train_dataset: Any,
    eval_dataset: Any,
    compute_metrics: Callable[[Any], dict[str, float]],
    trainer_class: type[OrderedEvalTrainer] = OrderedEvalTrainer,
    stage: str = "training",
    **trainer_kwargs: Any,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """One fine-tuning run of either model: the transformers Trainer, validation F1 each epoch,
    the best epoch kept, early stopping; returns (trained model, :func:`training_summary`).

    The Trainer's checkpoints go to the scratch dir ``out_dir/.work-STAGE``, removed when the
    run ends or fails: the model dir is written from the returned model, so a killed run
    leaves nothing beside the previous models but this scratch dir.
    """
    from transformers import EarlyStoppingCallback

    work = out_dir / f".work-{stage}"
    trainer = trainer_class(
        model=model,
        args=training_arguments(cfg, work, "f1"),
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience)],
        head_learning_rate=cfg.head_learning_rate,
        **trainer_kwargs,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StageProgress(stage))
    try:
        trainer.train()
    finally:
        _remove_work_dir(work)
    return trained_model(trainer), training_summary(trainer)


def _remove_work_dir(path: Path) -> None:
    """Drop the checkpoint scratch dir once every process is done with it (the main one removes it)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    if is_main_process():
        shutil.rmtree(path, ignore_errors=True)


# Batches are padded to a multiple of this many tokens: few distinct shapes keep the CPU
# kernels (compiled and cached per shape) and the allocator's memory from growing with input.
PAD_MULTIPLE = 32


def _batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    order = np.argsort(-np.asarray(lengths), kind="stable")
    for b in range(0, len(order), batch_size):
        yield order[b : b + batch_size]


def batched_forward(
    model: torch.nn.Module,
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    batch_size: int,
    activation: Callable[[torch.Tensor], torch.Tensor],
    per_token: bool,
    token_types: bool = True,
    cpu_bf16: bool = False,
) -> list[np.ndarray]:
    """``activation(logits)`` of the model for each token id sequence, as float32 arrays in input
    order: (tokens, labels) per sequence when ``per_token``, else (labels,)."""

    def step(inputs: dict[str, torch.Tensor], lengths: Sequence[int]) -> list[np.ndarray]:
        values = activation(model(**inputs).logits.float()).cpu().numpy()
        return [values[r, :n] if per_token else values[r] for r, n in enumerate(lengths)]

    return forward_batches(model, sequences, pad_id, batch_size, step, token_types, cpu_bf16)


def forward_batches(
    model: torch.nn.Module,
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    batch_size: int,
    step: Callable[[dict[str, torch.Tensor], Sequence[int]], list[Any]],
    token_types: bool = True,
    cpu_bf16: bool = False,
) -> list[Any]:
    """Run ``step(inputs, lengths)`` over padded batches of the sequences, longest first so each
    batch pads little; ``step`` returns one value per row, and they come back in input order.

    On a GPU the model runs in mixed precision; on a CPU only with ``cpu_bf16`` (about 2x
    faster with AMX, and a few tokens in ten thousand change their best label).
    """
    device = next(model.parameters()).device
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        if device.type == "cuda"
        else torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16)
    )
    out: list[Any] = [None] * len(sequences)
    max_width = max(max(map(len, sequences), default=0), model.config.max_position_embeddings)
    model.eval()
    with torch.inference_mode(), autocast:
        for idx in _batches([len(s) for s in sequences], batch_size):
            width = min(-(-len(sequences[idx[0]]) // PAD_MULTIPLE) * PAD_MULTIPLE, max_width)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(sequences[i])
                ids[r, :n] = torch.as_tensor(sequences[i])
                mask[r, :n] = 1
            inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
            if token_types:
                inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
            for i, value in zip(idx, step(inputs, [len(sequences[i]) for i in idx])):
                out[i] = value
    return out
