"""The life of a model dir: written whole, loaded with one check, published as a pair.

:func:`write_model` is how every model this project trains reaches disk (the
tagger, the classifier and a pretrained base: weights,
tokenizer, metrics, manifest, card, atomically); :func:`load_model` how a tagger or
classifier comes back.
The tagger and the classifier of one training run form a pair:

Layout of ``--out DIR`` (``models/`` by default)::

    DIR/runs/<run>/tagger/, DIR/runs/<run>/classifier/   one complete pair per training run
    DIR/current -> runs/<run>                             the pair in use (a relative symlink)
    DIR/tagger -> current/tagger, DIR/classifier -> current/classifier

A run trains both models into a staging dir under ``runs/`` and publishes them by
renaming it to ``runs/<run>`` and replacing the ``current`` link, one atomic rename: a
kill at any moment leaves the old complete pair or the new one. Readers resolve
``current`` once, so they never load half of each. Both manifests carry the run id; a
pair assembled by hand from two runs is refused (:func:`pair_dirs`). Staging dirs of
killed runs are removed by the next run into the same DIR.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from train.errors import InputError
from train.files import HOST_TAG, atomic_dir, is_main_process, owner_pid, remove_leftovers, replacing

MODELS = ("tagger", "classifier")
RUNS = "runs"
CURRENT = "current"


def write_model(
    out: Path,
    kind: str,
    model: Any,
    tokenizer: Any,
    metrics: dict[str, Any],
    config: Any,
    data_paths: Sequence[str | Path],
    base_model: str | None,
    card: Callable[[dict[str, Any]], str],
    extra: dict[str, Any] | None = None,
    curves: list[dict[str, Any]] | None = None,
    save: Callable[[Any, Path], None] | None = None,
) -> None:
    """Write the model dir ``out`` atomically (main process only).

    In order: the tokenizer, the weights (``save(model, dir)``, else ``save_pretrained``),
    ``extra`` JSON files, metrics.json, the training curves (``curves``: a Trainer log
    history), manifest.json (provenance: data, config and base hashes, git commit; see
    :func:`train.cards.manifest`) and README.md, the card that ``card(manifest)`` writes.
    ``config`` is the validated pydantic config the model was trained from.
    """
    if not is_main_process():
        return
    from train.cards import CURVES, manifest, plot_curves, share_permissions, write_json

    with atomic_dir(out) as tmp:
        tokenizer.save_pretrained(tmp)
        if save is None:
            model.save_pretrained(tmp)
        else:
            save(model, tmp)
        for name, obj in (extra or {}).items():
            write_json(tmp / name, obj)
        write_json(tmp / "metrics.json", metrics)
        if curves:
            plot_curves(curves, tmp / CURVES)
        man = manifest(kind, tmp, config.model_dump(mode="json"), data_paths, base_model)
        write_json(tmp / "manifest.json", man)
        (tmp / "README.md").write_text(card(man), encoding="utf-8")
        share_permissions(tmp)


def load_model(model_dir: str | Path, auto_class: Any, kind: str, device: Any = None) -> tuple[Any, Any, Path]:
    """(model in eval mode on ``device``, tokenizer, dir) of a model dir; one InputError line if it is none."""
    import torch

    from train.runtime import load_tokenizer, pick_device

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise InputError(f"{model_dir}: not a {kind} model dir (no config.json)")
    tokenizer = load_tokenizer(str(model_dir))
    device = pick_device(device)
    model = auto_class.from_pretrained(model_dir, dtype=torch.float32 if device.type == "cpu" else "auto").to(device)
    model.eval()
    return model, tokenizer, model_dir


def new_run_id() -> str:
    """A sortable, unique name for one training run: UTC time and a random suffix."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _symlink(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new link renamed over the old one)."""
    with replacing(link) as tmp:
        os.symlink(target, tmp)


def _adopt_legacy_pair(out: Path, run: str) -> None:
    """Move real tagger/ and classifier/ dirs (written before runs/ existed) into runs/ and link them.

    Not one atomic step: a kill in here leaves a model missing (predict says so), never a mixture.
    """
    legacy = [name for name in MODELS if (out / name).is_dir() and not (out / name).is_symlink()]
    if not legacy:
        return
    home = out / RUNS / f"before-{run}"
    home.mkdir(parents=True, exist_ok=True)
    for name in legacy:
        (out / name).rename(home / name)
    _symlink(f"{RUNS}/{home.name}", out / CURRENT)


def _stamp_run(model_dir: Path, run: str) -> None:
    from train.cards import write_json

    path = model_dir / "manifest.json"
    write_json(path, {**json.loads(path.read_text(encoding="utf-8")), "run": run})


def publish(stage: Path, out: Path, run: str) -> Path:
    """Make the staged pair ``out``'s current pair; remove older runs; return the run's dir."""
    for name in MODELS:
        if not (stage / name / "config.json").exists():
            raise InputError(f"{stage / name}: missing; the pair was not published")
        _stamp_run(stage / name, run)
    _adopt_legacy_pair(out, run)
    final = out / RUNS / run
    stage.rename(final)
    _symlink(f"{RUNS}/{run}", out / CURRENT)  # the one step that switches the pair
    for name in MODELS:  # fixed links: made once, never switched
        link = out / name
        if not (link.is_symlink() and os.readlink(link) == f"{CURRENT}/{name}"):
            _symlink(f"{CURRENT}/{name}", link)
    for old in (out / RUNS).iterdir():
        if old.name != run and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return final


def stage_name(pid: int) -> str:
    """The staging dir of the run owned by ``pid`` on this host (a temp name :func:`remove_leftovers` knows)."""
    return f".stage.{pid}.{HOST_TAG}.tmp"


@contextmanager
def staged_pair(out: Path) -> Iterator[tuple[Path, str]]:
    """(staging dir, run id) to train both models into; published when the block succeeds.

    The staging name depends only on the owning process (torchrun's agent for all its
    ranks), so every rank of one run sees the same dir; only the main process publishes.
    What a failed or interrupted run staged is removed; a SIGKILLed run's is removed by
    the next run into ``out``.
    """
    runs = out / RUNS
    stage = runs / stage_name(owner_pid())
    run = new_run_id()
    if is_main_process():
        runs.mkdir(parents=True, exist_ok=True)
        remove_leftovers(runs)
        for name in (*MODELS, CURRENT):
            remove_leftovers(out, name)
    stage.mkdir(parents=True, exist_ok=True)
    try:
        yield stage, run
        if is_main_process():
            publish(stage, out, run)
    finally:
        if is_main_process() and stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def _run_of(model_dir: Path) -> str | None:
    try:
        return json.loads((model_dir / "manifest.json").read_text(encoding="utf-8")).get("run")
    except (OSError, ValueError, AttributeError):
        return None


def current(models_dir: Path) -> Path:
    """The dir holding the pair in use: ``current`` read once, or ``models_dir`` itself (a pair put there by hand)."""
    link = models_dir / CURRENT
    return Path(os.path.realpath(link)) if link.is_symlink() else models_dir


def pair_dirs(models_dir: str | Path) -> tuple[Path, Path]:
    """(tagger dir, classifier dir) of one training run, resolved once.

    ``current`` is read once, so a run published meanwhile cannot split the pair; a
    tagger and a classifier whose manifests name different runs are refused.
    """
    models_dir = Path(models_dir)
    base = current(models_dir)
    tagger, classifier = base / "tagger", base / "classifier"
    for d in (tagger, classifier):
        if not d.is_dir():
            raise InputError(f"{models_dir / d.name}: no trained model here (run `make train` or pass --models DIR)")
    runs = _run_of(tagger), _run_of(classifier)
    if None not in runs and runs[0] != runs[1]:
        raise InputError(
            f"{models_dir}: the tagger (run {runs[0]}) and the classifier (run {runs[1]}) come from different "
            "training runs; train again or restore a complete pair"
        )
    return tagger, classifier
