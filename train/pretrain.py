"""Masked-LM pretraining of the project's compact Chinese BERT (the offline base encoder).

The build and CI machines reach no model hub, so the default base model is one we
pretrain ourselves on the public corpora with the bert-base-chinese vocabulary: it
tokenizes exactly like bert-base-chinese, so the two can be swapped by config. The same
code continues an existing model on a user's unlabeled articles (domain-adaptive
pretraining, ``--base``).

Text goes through the same normalization as fine-tuning (``train.text``), consecutive
sentences of a file are packed into blocks of up to ``max_length`` tokens, and the MLM
head runs on the masked positions only (it is most of the CPU time otherwise).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import random
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from train.config import PretrainConfig, load_pretrain_config
from train.corpora import text_units
from train.errors import InputError
from train.files import atomic_write, expand_paths
from train.modeldir import write_model
from train.cards import git_sha
from train.runtime import save_fp16, trainer_arguments

# Files a corpus directory contributes; a file named on the command line is read whatever its name.
CORPUS_SUFFIXES = (".txt", ".jsonl", ".tsv", ".bio", ".bmes", ".conll", ".dev", ".test", ".train")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
STATE_FILE = "pretrain_state.json"


# --------------------------------------------------------------------------- corpus


@dataclass
class CorpusFile:
    """The normalized text units (sentences or paragraphs) one corpus file gave."""

    path: Path
    format: str
    units: list[str] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(u) for u in self.units)


def expand_corpus(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the corpus files (by suffix, any case, not hidden) under directories."""
    out = expand_paths(paths, CORPUS_SUFFIXES, hidden=False, ignore_case=True)
    if not out:
        raise InputError("no corpus given (--corpus FILE_OR_DIR)")
    return out


def read_corpus(paths: Iterable[str | Path]) -> tuple[list[CorpusFile], list[str]]:
    """All corpus files, plus notes on files skipped because they hold no Chinese text."""
    files, skipped = [], []
    for path in expand_corpus(paths):
        cf = CorpusFile(path, *text_units(path))
        if not any(_CJK.search(u) for u in cf.units[:200]):
            skipped.append(f"{path}: no Chinese text, skipped")
            continue
        files.append(cf)
    if not files:
        raise InputError("no Chinese text in the corpus files given")
    return files, skipped


def corpus_digest(files: list[CorpusFile]) -> str:
    h = hashlib.sha256()
    for cf in files:
        for u in cf.units:
            h.update(u.encode("utf-8"))
            h.update(b"\n")
        h.update(b"\f")
    return h.hexdigest()


def pack_blocks(
    token_ids: Iterable[list[int]], block: int, short_prob: float, rng: random.Random
) -> Iterator[list[int]]:
    """Concatenate consecutive units' tokens into blocks of at most ``block`` tokens.

    A unit longer than a block is cut into pieces. With ``short_prob`` a block is filled
    only to a random shorter length (as in BERT), so the model also sees short inputs.
    """

    def draw() -> int:
        return rng.randint(min(8, block), block) if rng.random() < short_prob else block

    cur: list[int] = []
    target = draw()
    for ids in token_ids:
        while ids:
            if len(cur) + len(ids) <= target:
                cur += ids
                ids = []
            elif cur:
                yield cur
                cur, target = [], draw()
            else:  # a unit longer than the target on its own: cut a piece
                yield ids[:target]
                ids, target = ids[target:], draw()
    if cur:
        yield cur


# --------------------------------------------------------------------------- model


def vocab_tokenizer(vocab: str | Path, max_length: int):
    """A bert-base-chinese-style fast tokenizer from a WordPiece vocab file.

    transformers 5 wants the path as ``vocab=``: a ``vocab_file=`` keyword is silently
    ignored and leaves a five-token vocabulary that maps everything to [UNK].
    """
    from transformers import BertTokenizerFast

    vocab = Path(vocab)
    if not vocab.is_file():
        raise InputError(f"{vocab}: vocab file not found")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True, tokenize_chinese_chars=True, model_max_length=max_length)
    if len(tok) < 100 or tok.convert_tokens_to_ids("[MASK]") == tok.unk_token_id:
        raise InputError(f"{vocab}: not a BERT WordPiece vocab (one token a line, with [MASK])")
    return tok


@functools.cache
def _masked_lm_class():
    from transformers import BertForMaskedLM
    from transformers.modeling_outputs import MaskedLMOutput

    class MaskedPositionsBertForMaskedLM(BertForMaskedLM):
        """BertForMaskedLM whose prediction head runs on the masked positions only.

        The head projects to 21k vocabulary entries; on every position it costs more
        than the encoder. Weights and names are BertForMaskedLM's, so the saved model
        loads with AutoModelForMaskedLM.
        """

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
            if labels is None:
                return super().forward(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, **kwargs
                )
            hidden = self.bert(
                input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, return_dict=True
            ).last_hidden_state
            picked = labels != -100
            logits = self.cls(hidden[picked])
            target = labels[picked]
            if target.numel():
                loss = torch.nn.functional.cross_entropy(logits.float(), target)
            else:  # no masked token in the batch: a zero loss that still has a graph
                loss = hidden.sum() * 0.0
            return MaskedLMOutput(loss=loss, logits=logits)

    return MaskedPositionsBertForMaskedLM


def new_model(cfg: PretrainConfig, tokenizer):
    from transformers import BertConfig

    shape = cfg.model
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        intermediate_size=shape.intermediate_size,
        hidden_dropout_prob=shape.dropout,
        attention_probs_dropout_prob=shape.dropout,
        max_position_embeddings=cfg.max_length,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    return _masked_lm_class()(config)


def cooccurrence_vectors(blocks: list[list[int]], vocab_size: int, dim: int, window: int = 2) -> torch.Tensor | None:
    """Token vectors from the corpus's co-occurrence counts (PPMI, truncated SVD).

    A CPU pretraining run is far too short to learn what each character means from
    masked LM alone; these vectors give similar characters (市/县/区, digits, 大学/学院)
    similar embeddings before the first step. Rows of tokens that never occur are NaN,
    so the caller keeps their random initialization. Returns None if the corpus is
    too small for ``dim`` components.
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import svds

    ids = np.concatenate([np.asarray(b, dtype=np.int64) for b in blocks])
    doc = np.concatenate([np.full(len(b), i, dtype=np.int64) for i, b in enumerate(blocks)])
    rows, cols = [], []
    for off in range(1, window + 1):  # pairs within a block, both directions
        same = doc[off:] == doc[:-off]
        rows += [ids[off:][same], ids[:-off][same]]
        cols += [ids[:-off][same], ids[off:][same]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = coo_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(vocab_size, vocab_size)).tocsr()
    counts.sum_duplicates()
    seen = np.asarray(counts.sum(axis=1)).ravel() > 0
    if int(seen.sum()) <= dim + 1:
        return None
    # PPMI with context-distribution smoothing (Levy, Goldberg & Dagan 2015).
    total = counts.sum()
    row_p = np.asarray(counts.sum(axis=1)).ravel() / total
    col_p = np.asarray(counts.sum(axis=0)).ravel() ** 0.75
    col_p /= col_p.sum()
    coo = counts.tocoo()
    pmi = np.log(coo.data / total) - np.log(row_p[coo.row]) - np.log(col_p[coo.col])
    keep = pmi > 0
    ppmi = coo_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape).tocsr()
    u, sing, _ = svds(ppmi, k=dim, random_state=0)
    vec = u * np.sqrt(sing)
    vec /= np.linalg.norm(vec[seen], axis=1).mean()  # mean row norm 1; scaled by the caller
    vec[~seen] = np.nan
    return torch.from_numpy(vec.astype(np.float32))


def init_token_embeddings(model, blocks: list[list[int]], window: int = 2) -> int:
    """Start the word embeddings (tied to the MLM decoder) from co-occurrence vectors.

    Rows keep the mean norm of BERT's random initialization, so the position and type
    embeddings added to them weigh as much as usual. Returns the rows set.
    """
    emb = model.get_input_embeddings().weight
    vec = cooccurrence_vectors(blocks, emb.shape[0], emb.shape[1], window)
    if vec is None:
        return 0
    found = ~torch.isnan(vec[:, 0])
    with torch.no_grad():
        scale = emb.norm(dim=1).mean()
        emb[found] = vec[found] * scale
    return int(found.sum())


def load_base(base: str):
    """Model and tokenizer of an existing BERT (local dir or hub id) to continue pretraining."""
    from transformers import AutoConfig, AutoTokenizer

    from train.runtime import resolve_base

    base = resolve_base(base)
    try:
        config = AutoConfig.from_pretrained(base)
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise InputError(f"{base}: cannot load the base model ({str(exc).splitlines()[0]})") from None
    if config.model_type != "bert":
        raise InputError(f"{base}: base model is '{config.model_type}', pretrain continues BERT models only")
    if not tokenizer.is_fast or tokenizer.mask_token is None:
        raise InputError(f"{base}: the base needs a fast tokenizer with a [MASK] token")
    model = _masked_lm_class().from_pretrained(base, dtype=torch.float32)
    return model, tokenizer


# --------------------------------------------------------------------------- training


class _Collator:
    """Random MLM masking for training batches; held-out batches come pre-masked (fixed)."""

    def __init__(self, tokenizer, mlm_probability: float, max_length: int, max_positions: int):
        from transformers import DataCollatorForLanguageModeling, DataCollatorForTokenClassification

        # Few distinct batch shapes: CPU kernels (oneDNN, AMX) are compiled and cached per shape.
        # Only where a padded batch still fits the position embeddings (max_length 100: 128 would not).
        pad = 64 if -(-max_length // 64) * 64 <= max_positions else None
        self.mlm = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, pad_to_multiple_of=pad)
        self.fixed = DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if "labels" in examples[0]:
            return self.fixed(examples)
        return self.mlm([{"input_ids": e["input_ids"]} for e in examples])


def premask(blocks: list[list[int]], tokenizer, mlm_probability: float, seed: int) -> list[dict[str, list[int]]]:
    """Mask the held-out blocks once, with a fixed seed, so every evaluation is comparable."""
    from transformers import DataCollatorForLanguageModeling

    col = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, seed=seed)
    out = []
    for ids in blocks:
        batch = col([{"input_ids": ids}])
        out.append({"input_ids": batch["input_ids"][0].tolist(), "labels": batch["labels"][0].tolist()})
    return out


def _preprocess_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Masked-position logits -> predicted ids laid out like ``labels`` (-100 elsewhere)."""
    if isinstance(logits, tuple):
        logits = logits[0]
    preds = torch.full_like(labels, -100)
    preds[labels != -100] = logits.argmax(-1).to(preds.dtype)
    return preds


def _mlm_metrics(pred, mask_id: int) -> dict[str, float]:
    """Accuracy on all masked positions, and on the [MASK]ed ones alone with their unigram baseline.

    A tenth of the masked positions keep their token and are trivially copied, so the
    overall figure starts near 0.1; the [MASK] figure shows what the model infers from
    context, against always guessing the most frequent token.
    """
    import numpy as np

    preds, labels, inputs = pred.predictions, pred.label_ids, pred.inputs
    picked = labels != -100
    out = {"mlm_accuracy": float(np.mean(preds[picked] == labels[picked])) if picked.any() else 0.0}
    if inputs is not None:
        width = min(inputs.shape[1], labels.shape[1])
        masked = picked[:, :width] & (inputs[:, :width] == mask_id)
        if masked.any():
            target = labels[:, :width][masked]
            out["mask_accuracy"] = float(np.mean(preds[:, :width][masked] == target))
            out["mask_unigram_baseline"] = float(np.bincount(target).max() / target.size)
    return out


def _device_name() -> str:
    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


@dataclass
class PretrainResult:
    out: Path
    metrics: dict[str, Any]


def pretrain(
    corpus: list[str | Path],
    out: str | Path,
    config: str | Path | None = None,
    base: str | None = None,
    resume: bool = False,
    max_minutes: float | None = None,
    command: list[str] | None = None,
) -> PretrainResult:
    """Pretrain (or continue) a BERT with masked LM and write the model dir ``out``.

    Checkpoints go to ``OUT.checkpoints/`` beside the output; ``resume`` continues from
    the latest one. ``max_minutes`` stops this run early (checkpoint saved, output
    written as a partial model); a later ``resume`` run goes on to ``train.max_steps``.
    """
    started = time.time()
    cfg = load_pretrain_config(config)
    out = Path(out)
    work = out.with_name(out.name + ".checkpoints")
    files, skipped = read_corpus(corpus)

    from transformers import Trainer, TrainerCallback, set_seed

    set_seed(cfg.train.seed)
    if base:
        model, tokenizer = load_base(base)
        max_length = min(cfg.max_length, model.config.max_position_embeddings)
    else:
        max_length = cfg.max_length
        tokenizer = vocab_tokenizer(cfg.vocab, max_length)
        model = new_model(cfg, tokenizer)

    # Tokenize, pack consecutive units of each file into blocks, split off the held-out blocks.
    rng = random.Random(cfg.train.seed)
    blocks: list[list[int]] = []
    tokenizer.model_max_length = int(1e30)  # units are cut into blocks below, not truncated: no warning
    for cf in files:
        ids = tokenizer(cf.units, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False)[
            "input_ids"
        ]
        for b in pack_blocks((i for i in ids if i), max_length - 2, cfg.train.short_block_prob, rng):
            blocks.append([tokenizer.cls_token_id, *b, tokenizer.sep_token_id])
    tokenizer.model_max_length = model.config.max_position_embeddings
    if len(blocks) < 2:
        raise InputError("corpus too small: fewer than two blocks of text")
    order = list(range(len(blocks)))
    rng.shuffle(order)
    n_held = max(1, min(cfg.train.heldout_max, round(len(blocks) * cfg.train.heldout_fraction)))
    held = [blocks[i] for i in sorted(order[:n_held])]
    train_blocks = [blocks[i] for i in sorted(order[n_held:])]
    train_tokens = sum(len(b) for b in train_blocks)
    if not base and cfg.model.init_embeddings == "cooccurrence" and not (resume and work.is_dir()):
        init_token_embeddings(model, train_blocks)

    # Checkpoints: refuse to mix runs made from another corpus or config.
    fingerprint = {
        "corpus_sha256": corpus_digest(files),
        "config": cfg.model_dump(exclude={"train": {"max_steps", "eval_steps", "save_steps", "logging_steps", "save_total_limit"}}),
        "base": base,
    }
    state_path = work / STATE_FILE
    state: dict[str, Any] = {"fingerprint": fingerprint, "runs": []}
    have_ckpt = work.is_dir() and any(work.glob("checkpoint-*"))
    if have_ckpt and not resume:
        raise InputError(f"{work}: holds checkpoints of an earlier run; pass --resume to continue it, or delete the dir")
    if resume and have_ckpt:
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise InputError(f"{state_path}: missing or unreadable; cannot check what the checkpoints were made from") from None
        old = state.get("fingerprint", {})
        changed = [k for k in ("corpus_sha256", "config", "base") if old.get(k) != fingerprint[k]]
        if changed:
            what = ", ".join("corpus" if k == "corpus_sha256" else k for k in changed)
            raise InputError(f"{work}: checkpoints were made with another {what}; resume with the same ones or delete the dir")
        from transformers.trainer_utils import get_last_checkpoint

        done = json.loads((Path(get_last_checkpoint(str(work))) / "trainer_state.json").read_text())["global_step"]
        if done >= cfg.train.max_steps:  # the Trainer would still take one more step
            raise InputError(f"{work}: the run is complete ({done} steps); raise train.max_steps to train on")
    elif resume:
        print(f"no checkpoint in {work}: starting from scratch", file=sys.stderr)

    args = trainer_arguments(
        work,
        cfg.train.precision,
        cfg.train.seed,
        max_steps=cfg.train.max_steps,
        per_device_train_batch_size=cfg.train.batch_size,
        per_device_eval_batch_size=cfg.train.eval_batch_size,
        learning_rate=cfg.train.learning_rate,
        weight_decay=cfg.train.weight_decay,
        warmup_steps=cfg.train.warmup_ratio,
        lr_scheduler_type="linear",
        eval_strategy="steps",
        eval_steps=cfg.train.eval_steps,
        save_strategy="steps",
        save_steps=cfg.train.save_steps,
        save_total_limit=cfg.train.save_total_limit,
        logging_strategy="steps",
        logging_steps=cfg.train.logging_steps,
        remove_unused_columns=False,
        include_for_metrics=["inputs"],  # to tell [MASK]ed positions from kept and random ones
        disable_tqdm=False,
    )

    env = "".join(f"{k}={os.environ[k]} " for k in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES") if k in os.environ)
    runs_before = list(state.get("runs", []))

    def record(step: int) -> dict[str, Any]:
        """This run in the checkpoint dir's state file, so a killed run still counts in the card."""
        run = {
            "command": env + shlex.join(command) if command else None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "wall_seconds": round(time.time() - started, 1),
            "device": _device_name(),
            "end_step": step,
            "max_steps": cfg.train.max_steps,  # the linear decay's end as this run saw it
        }
        with atomic_write(state_path) as fh:
            json.dump({"fingerprint": fingerprint, "runs": [*runs_before, run]}, fh, ensure_ascii=False, indent=1)
        return run

    class _Record(TrainerCallback):
        def on_save(self, args, state, control, **kw):
            record(state.global_step)

    class _Clock(TrainerCallback):
        """Stop this run after ``max_minutes`` (checkpoint saved) so CPU work goes in chunks."""

        def on_step_end(self, args, state, control, **kw):
            if max_minutes is not None and time.time() - started > max_minutes * 60:
                control.should_training_stop = True
                control.should_save = True
                control.should_evaluate = True
            return control

    from datasets import Dataset

    train_ds = Dataset.from_dict({"input_ids": train_blocks, "length": [len(b) for b in train_blocks]})
    eval_ds = Dataset.from_list(premask(held, tokenizer, cfg.train.mlm_probability, cfg.train.seed + 1))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=_Collator(tokenizer, cfg.train.mlm_probability, max_length, model.config.max_position_embeddings),
        processing_class=tokenizer,
        compute_metrics=functools.partial(_mlm_metrics, mask_id=tokenizer.mask_token_id),
        preprocess_logits_for_metrics=_preprocess_logits,
        callbacks=[_Clock(), _Record()],
    )
    work.mkdir(parents=True, exist_ok=True)
    trainer.train(resume_from_checkpoint=True if (resume and have_ckpt) else None)
    step = trainer.state.global_step
    evals = [h for h in trainer.state.log_history if "eval_mlm_accuracy" in h]
    if not evals or evals[-1]["step"] != step or "eval_mask_accuracy" not in evals[-1]:
        trainer.evaluate()
        evals = [h for h in trainer.state.log_history if "eval_mlm_accuracy" in h]
    final = evals[-1]

    run = record(step)
    state["runs"] = [*runs_before, run]

    by_step = {h["step"]: h for h in evals}
    history = [
        {"step": s, "eval_loss": round(h["eval_loss"], 4), "mlm_accuracy": round(h["eval_mlm_accuracy"], 4)}
        for s, h in sorted(by_step.items())
    ]
    train_losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    n_params = sum(p.numel() for p in model.parameters())
    metrics: dict[str, Any] = {
        "heldout_mlm_accuracy": round(final["eval_mlm_accuracy"], 4),
        "heldout_mask_accuracy": round(final["eval_mask_accuracy"], 4) if "eval_mask_accuracy" in final else None,
        "heldout_mask_unigram_baseline": (
            round(final["eval_mask_unigram_baseline"], 4) if "eval_mask_unigram_baseline" in final else None
        ),
        "heldout_loss": round(final["eval_loss"], 4),
        "heldout_perplexity": round(math.exp(min(final["eval_loss"], 50)), 2),
        "heldout_blocks": len(held),
        "heldout_masked_tokens": sum(sum(1 for x in e["labels"] if x != -100) for e in eval_ds),
        "last_train_loss": round(train_losses[-1], 4) if train_losses else None,
        "steps": step,
        "max_steps": cfg.train.max_steps,
        "complete": step >= cfg.train.max_steps,
        "epochs": round(step * cfg.train.batch_size / max(1, len(train_blocks)), 3),
        "train_blocks": len(train_blocks),
        "train_tokens": train_tokens,
        "parameters": n_params,
        "wall_seconds_all_runs": round(sum(r["wall_seconds"] for r in state["runs"]), 1),
        "device": run["device"],
        "bf16": args.bf16,
        "eval_history": history,
        "corpus": [
            {"file": str(cf.path), "format": cf.format, "units": len(cf.units), "chars": cf.chars} for cf in files
        ],
        "skipped": skipped,
        "runs": state["runs"],
        "config": cfg.model_dump(),
        "base": base,
        "base_history": base_history(base),
        "max_length": max_length,
        "versions": {
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "python": platform.python_version(),
        },
        "git_sha": git_sha(),  # the same provenance as every model dir (train.cards)
    }

    def save(model, tmp: Path) -> None:
        save_weights(model, tokenizer, tmp)
        metrics["model_file_bytes"] = (tmp / "model.safetensors").stat().st_size

    write_model(
        out, "base", model, tokenizer, metrics, cfg, [cf.path for cf in files], base,
        card=lambda man: model_card(metrics, model.config), save=save,
    )  # fmt: skip
    return PretrainResult(out, metrics)


def base_history(base: str | None) -> dict[str, Any] | None:
    """What made a local base that this project pretrained, so the card keeps the whole lineage."""
    path = Path(base) / "metrics.json" if base else None
    if path is None or not path.is_file():
        return None
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    keep = ("steps", "train_tokens", "epochs", "heldout_mlm_accuracy", "heldout_mask_accuracy", "max_length",
            "wall_seconds_all_runs", "git_sha", "runs", "config", "base_history")
    return {k: m.get(k) for k in keep}


def _runs_list(runs: list[dict[str, Any]], start: int = 1) -> str:
    return "\n".join(
        f"{i}. `{r['command']}` — {r['wall_seconds'] / 60:.1f} min on {r['device']}, to step {r['end_step']}"
        + (f" of a {r['max_steps']}-step schedule" if r.get("max_steps") else "")
        + (f" ({r['note']})" if r.get("note") else "")
        for i, r in enumerate(runs, start)
    )


def _lineage(history: dict[str, Any] | None) -> tuple[str, int, float]:
    """Card lines for the runs that made the base, oldest first; their count and minutes."""
    if not history:
        return "", 0, 0.0
    older, n, minutes = _lineage(history.get("base_history"))
    runs = history.get("runs") or []
    t = (history.get("config") or {}).get("train", {})
    text = older + (
        f"Base model (git {str(history.get('git_sha') or 'unknown')[:7]}): {history.get('steps')} steps of "
        f"{t.get('batch_size', '?')} blocks of up to {history.get('max_length', '?')} tokens, learning rate "
        f"{t.get('learning_rate', '?')}, held-out MLM accuracy {history.get('heldout_mlm_accuracy')}:\n\n"
        + _runs_list(runs, n + 1) + "\n\n"
    )
    return text, n + len(runs), minutes + (history.get("wall_seconds_all_runs") or 0) / 60


def save_weights(model, tokenizer, out: Path) -> None:
    """fp16 weights (``train.runtime.save_fp16``) and the tokenizer files older loaders want (after ``save_pretrained``)."""
    # same weights; the masked-only head is a training detail
    save_fp16(model, out, architectures=["BertForMaskedLM"])
    vocab = out / "vocab.txt"
    if not vocab.exists():  # the tokenizers backend writes tokenizer.json only; older loaders want vocab.txt
        inv = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
        vocab.write_text("".join(tok + "\n" for tok, _ in inv), encoding="utf-8")
    special = out / "special_tokens_map.json"
    if not special.exists():
        special.write_text(
            json.dumps(
                {k: getattr(tokenizer, k) for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")},
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )


def model_card(m: dict[str, Any], config) -> str:
    """README.md: what the model is, how it was made, and how well it predicts masked tokens."""
    mb = m["model_file_bytes"] / 1e6
    corpus_rows = "\n".join(
        f"| `{c['file']}` | {c['format']} | {c['units']:,} | {c['chars']:,} |" for c in m["corpus"]
    )
    total_units = sum(c["units"] for c in m["corpus"])
    total_chars = sum(c["chars"] for c in m["corpus"])
    hist = "\n".join(f"| {h['step']} | {h['eval_loss']} | {h['mlm_accuracy']:.4f} |" for h in m["eval_history"])
    lineage, n_before, minutes_before = _lineage(m.get("base_history"))
    runs = lineage + ("This model:\n\n" if lineage else "") + _runs_list(m["runs"], n_before + 1)
    t = m["config"]["train"]
    status = (
        "complete"
        if m["complete"]
        else f"**partial**: {m['steps']} of {m['max_steps']} steps; continue with the same command and `--resume`"
    )
    skipped = "".join(f"\n- skipped: {s}" for s in m["skipped"])
    origin = f"continued from `{m['base']}`" if m["base"] else "trained from scratch"
    mask_row = (
        f"| on [MASK] positions alone | **{m['heldout_mask_accuracy']:.4f}**; always guessing the most frequent "
        f"token: {m['heldout_mask_unigram_baseline']:.4f} (the other masked positions keep or randomize their "
        "token; kept ones are copied) |\n"
        if m.get("heldout_mask_accuracy") is not None
        else ""
    )
    return f"""---
language: zh
library_name: transformers
pipeline_tag: fill-mask
---

# Compact Chinese BERT (masked LM)

The offline base encoder of talent-policy-tagger: a small BERT {origin} with masked-LM
on plain text, with the bert-base-chinese WordPiece vocabulary ({config.vocab_size:,} entries),
so it tokenizes exactly like bert-base-chinese and the two can be swapped by `base_model`.
Text was normalized as for fine-tuning (`train.text`: simplified script, half-width
digits and letters, articles split into paragraphs).

| | |
|---|---|
| architecture | BertForMaskedLM, {config.num_hidden_layers} layers, hidden {config.hidden_size}, {config.num_attention_heads} heads, intermediate {config.intermediate_size} |
| max length | {config.max_position_embeddings} tokens ([CLS] and [SEP] included) |
| parameters | {m['parameters']:,} |
| weights | `model.safetensors`, fp16, {mb:.1f} MB (config.json says float32: it loads upcast, ready to fine-tune) |
| training | {status}; {m['steps']} steps of {t['batch_size']} blocks, {m['epochs']} epochs over {m['train_blocks']:,} blocks ({m['train_tokens']:,} tokens) |
| held-out MLM accuracy | **{m['heldout_mlm_accuracy']:.4f}** on {m['heldout_masked_tokens']:,} masked tokens of {m['heldout_blocks']} held-out blocks (loss {m['heldout_loss']}, perplexity {m['heldout_perplexity']}) |
{mask_row}| wall time | {m['wall_seconds_all_runs'] / 60:.1f} min{f" (and {minutes_before:.1f} min for the base it continues)" if lineage else ""} in all |
| device | {m['device']} |
| versions | torch {m['versions']['torch']}, transformers {m['versions']['transformers']}, git {m['git_sha'] or 'unknown'} |

## How it was made

{runs}

Hyper-parameters: learning rate {t['learning_rate']} (linear decay, {t['warmup_ratio']:.0%} warm-up),
weight decay {t['weight_decay']}, masking {t['mlm_probability']:.0%} of tokens (80% [MASK], 10% random,
10% kept), dropout {m['config']['model']['dropout']}, seed {t['seed']}. Consecutive sentences or paragraphs of
a file are packed into blocks of up to {m['max_length']} tokens ({t['short_block_prob']:.0%} of blocks packed shorter);
{t['heldout_fraction']:.0%} of the blocks (at most {t['heldout_max']}) are held out and masked once with a fixed
seed. Accuracy counts every masked position (80/10/10 alike).

## Corpus

{total_units:,} sentences or paragraphs, {total_chars:,} characters after normalization.

| file | format | sentences/paragraphs | characters |
|---|---|---:|---:|
{corpus_rows}
{skipped}

## Held-out curve

| step | loss | MLM accuracy |
|---:|---:|---:|
{hist}

## Use

```python
from transformers import AutoModelForMaskedLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("models/base")
model = AutoModelForMaskedLM.from_pretrained("models/base")
```

Research corpora (see ../shared/corpora/README.md): research use only.
"""
