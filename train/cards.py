"""What a trained model dir says about itself: manifest, metrics, training curves, model card."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

from train.files import PROJECT_ROOT
from train.labelstudio import LABEL_CONFIG

PACKAGES = ("torch", "transformers", "datasets", "accelerate", "tokenizers", "seqeval", "numpy", "talent-policy-tagger")
CURVES = "training_curves.png"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_hash(paths: Iterable[str | Path]) -> dict[str, Any]:
    """One sha256 over the input exports (order-independent) and each file's own."""
    files = {str(p): sha256_file(p) for p in paths}
    combined = hashlib.sha256("".join(sorted(files.values())).encode()).hexdigest()
    return {"sha256": combined, "files": files}


def git_sha() -> str | None:
    """The project's commit, with ``-dirty`` when the tree has changes; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def project_relative(path: str) -> str:
    """A path inside the project as relative to its root (model cards name no machine paths); others as given."""
    try:
        return str(Path(path).relative_to(PROJECT_ROOT)) if Path(path).is_absolute() else path
    except ValueError:
        return path


def _base_hash(base_model: str) -> str | None:
    """sha256 of a local base's weights (None for a hub id)."""
    for root in (Path(base_model), PROJECT_ROOT / base_model):
        if (root / "model.safetensors").exists():
            return sha256_file(root / "model.safetensors")
    return None


def manifest(
    kind: str, model_dir: Path, config: dict[str, Any], data_paths: Sequence[str | Path], base_model: str | None
) -> dict[str, Any]:
    """Provenance of a model dir; ``version`` names it (e.g. in Label Studio's model_version).

    ``base_model`` is None for a model trained from scratch.
    """
    now = dt.datetime.now(dt.timezone.utc)
    weights = model_dir / "model.safetensors"
    short = sha256_file(weights)[:8] if weights.exists() else "noweights"
    return {
        "version": f"{kind}-{now:%Y%m%d}-{short}",
        "kind": kind,
        "created_utc": now.isoformat(timespec="seconds"),
        "base_model": project_relative(base_model) if base_model else None,
        "base_model_sha256": _base_hash(base_model) if base_model else None,
        "data": data_hash(data_paths),
        "label_config_sha256": sha256_file(LABEL_CONFIG),
        "config": config,
        "packages": package_versions(),
        "git_sha": git_sha(),
    }


def share_permissions(directory: Path) -> None:
    """Give a finished model dir the usual permissions (temp dirs and some writers use owner-only)."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for f in directory.rglob("*"):
        f.chmod((0o777 if f.is_dir() else 0o666) & ~umask)


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def plot_curves(log_history: list[dict[str, Any]], path: Path, metric: str = "eval_f1") -> None:
    """Training and validation loss, and validation F1, against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["epoch"], h["loss"]) for h in log_history if "loss" in h and "epoch" in h]
    val = [(h["epoch"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    f1 = [(h["epoch"], h[metric]) for h in log_history if metric in h]
    macro = [(h["epoch"], h["eval_macro_f1"]) for h in log_history if "eval_macro_f1" in h]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    if train:
        ax1.plot(*zip(*train), label="training loss")
    if val:
        ax1.plot(*zip(*val), marker="o", label="validation loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    if f1:
        ax2.plot(*zip(*f1), marker="o", color="tab:green", label="micro F1")
    if macro:
        ax2.plot(*zip(*macro), marker=".", linestyle="--", color="tab:olive", label="macro F1")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation F1")
    ax2.set_ylim(0, 1)
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def scores_table_md(rows: dict[str, dict[str, Any]], first: str) -> str:
    """A markdown table of precision/recall/F1/support (and threshold where present)."""
    cols = ["precision", "recall", "f1", "support"]
    if any("threshold" in r for r in rows.values()):
        cols.append("threshold")
    lines = [f"| {first} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _negatives_line(data: dict[str, Any]) -> str:
    """The classifier's paragraphs of no class (``classifier.negatives``), when it trained with them."""
    if not data.get("negative_examples"):
        return ""
    return f"\nPlus {data['negative_examples']} training paragraphs of no class from `{project_relative(data['negatives'])}`."


def model_card(title: str, what: str, man: dict[str, Any], metrics: dict[str, Any], rows_key: str) -> str:
    """README.md of a model dir: what it is, how it was made, its validation figures."""
    val = metrics["validation"]
    rows = dict(val[rows_key])
    rows["micro avg"] = val["micro"]
    rows["macro avg"] = val["macro"]
    data = metrics["data"]
    training = metrics.get("training", {})
    shared = bool(metrics.get("shared_encoder"))
    shared_line = (
        "Encoder: shared with the other model of this run (`shared_encoder`): one fine-tuning trained both heads, "
        "and predict runs the encoder once for both.\n"
        if shared
        else ""
    )
    return f"""# {title}

Version `{man['version']}`, trained {man['created_utc']} from `{man['base_model']}`.

{what}

## Data

Label Studio exports (sha256 `{man['data']['sha256'][:16]}…`): {data['train_examples']} training paragraphs
from {data['train_articles']} articles, {data['validation_examples']} validation paragraphs from
{data['validation_articles']} other articles (split by article, seed {man['config']['split']['seed']}).{_negatives_line(data)}

## Validation figures

{scores_table_md(rows, rows_key.replace('per_', ''))}

{metrics.get('note', '')}

Training: {training.get('epochs_run', '?')} epochs, best at epoch {training.get('best_epoch', '?')}
(early stopping on validation F1{', the mean of the entity and the class F1' if shared else ''}).
{shared_line}
![training curves]({CURVES})

## Files

`model.safetensors` and `config.json` (label maps in `id2label`), the tokenizer, `metrics.json`,
`manifest.json` (data and label-config hashes, config, package versions, git commit){', `thresholds.json`' if rows_key == 'per_class' else ''}.
Git commit: `{man['git_sha']}`.
"""
