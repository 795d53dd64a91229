"""CLUENER2020 benchmark: the tagger on a public NER set, pretrained base vs random init.

The corpus goes through the real import path: CLUENER JSONL -> Label Studio JSON
export (with a label config of CLUENER's ten types) -> ``read_export`` -> the same
``train_tagger`` that ``make train`` uses. Figures: seqeval strict IOB2 micro F1 on
CLUENER dev (its test set has no labels), with the tagger's Viterbi decoding and with
per-token argmax. Published: bert-base-chinese 79.4 (dev),
BiLSTM-CRF 70.0 (test).

The tagger is the one configs/train.yaml describes (its base, depth, token split and
learning rates); windows, batches and epochs are this benchmark's, for sentences.

    .venv/bin/python benchmarks/bench_cluener.py [--epochs 3] [--limit N] [--init pretrained random]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer  # noqa: E402

from train.config import TrainConfig, load_config  # noqa: E402
from train.corpora import LABEL_MAPS, mapped_examples, read_cluener, to_labelstudio_export  # noqa: E402
from train.labelstudio import load_schema, read_export  # noqa: E402
from train.runtime import resolve_base  # noqa: E402
from train.dataset import TrainingData  # noqa: E402
from train.tagger import Tagger, entity_report, train_tagger  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "cluener2020"
BUILD = ROOT / "build" / "cluener"
TYPES = sorted(LABEL_MAPS["cluener_full"])


def label_config() -> str:
    """A Label Studio config with CLUENER's ten span types (validated by load_schema)."""
    labels = "\n".join(f'    <Label value="{t}"/>' for t in TYPES)
    return f"""<View>
  <Labels name="label" toName="text">
{labels}
  </Labels>
  <Text name="text" value="$text" granularity="symbol"/>
  <Choices name="measure" toName="text" choice="multiple">
    <Choice value="NONE"/>
  </Choices>
</View>
"""


def export(split: str, limit: int | None) -> Path:
    """Write CLUENER ``split`` as a Label Studio JSON export; return its path."""
    records = list(read_cluener(CORPUS / f"{split}.jsonl"))[:limit]
    examples = mapped_examples(records, LABEL_MAPS["cluener_full"], f"cluener-{split}")
    path = BUILD / f"{split}.json"
    path.write_text(json.dumps(to_labelstudio_export(examples), ensure_ascii=False), encoding="utf-8")
    return path


def random_base(base: str, out: Path) -> str:
    """A randomly initialized encoder of the same shape as ``base`` (what pretraining is measured against)."""
    config = AutoConfig.from_pretrained(base)
    model = AutoModelForMaskedLM.from_config(config)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return str(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=None, help="the base encoder (default: configs/train.yaml's tagger base)")
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None, help="encoder learning rate (default: configs/train.yaml's)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N training sentences")
    ap.add_argument("--init", nargs="+", default=["pretrained", "random"], choices=["pretrained", "random"])
    args = ap.parse_args()

    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "label_config.xml").write_text(label_config(), encoding="utf-8")
    schema = load_schema(BUILD / "label_config.xml")
    train_path, dev_path = export("train", args.limit), export("dev", None)
    train = read_export(train_path, schema).examples
    dev = read_export(dev_path, schema).examples
    print(f"CLUENER via Label Studio exports: {len(train)} train, {len(dev)} dev sentences", file=sys.stderr)

    project = load_config().tagger
    base = resolve_base(args.base or project.base_model)
    results = {}
    for init in args.init:
        encoder = base if init == "pretrained" else random_base(base, BUILD / "random-base")
        config = TrainConfig.model_validate(
            {
                "tagger": {
                    "base_model": encoder,
                    "max_length": 128,
                    "stride": 32,
                    "epochs": args.epochs,
                    "max_steps": args.max_steps,
                    "batch_size": args.batch_size,
                    "eval_batch_size": 128,
                    "learning_rate": args.lr or project.learning_rate,
                    "head_learning_rate": project.head_learning_rate,
                    "token_split": project.token_split,
                    "layers": project.layers,
                    "early_stopping_patience": 2,
                    "logging_steps": 50,
                }
            }
        )
        started = time.perf_counter()
        info = {
            "benchmark": "cluener2020 (validation = CLUENER dev)",
            "train_examples": len(train),
            "train_articles": len(train),
            "validation_examples": len(dev),
            "validation_articles": len(dev),
        }
        metrics = train_tagger(TrainingData(train, dev, [train_path], info), config, BUILD / f"model-{init}", schema)
        # the same model with per-token argmax labels (what transformers' pipeline does)
        argmax = Tagger.load(BUILD / f"model-{init}" / "tagger", decoding="argmax")
        argmax_report = entity_report(dev, argmax.predict([ex.text for ex in dev], 128), argmax.labels)
        results[init] = {
            "dev_micro_f1": metrics["validation"]["micro"]["f1"],
            "dev_micro_f1_argmax": argmax_report["micro"]["f1"],
            "dev_macro_f1": metrics["validation"]["macro"]["f1"],
            "per_type_f1": {t: r["f1"] for t, r in metrics["validation"]["per_type"].items()},
            "epochs_run": metrics["training"]["epochs_run"],
            "minutes": round((time.perf_counter() - started) / 60, 1),
        }
        print(f"{init:>10}: dev micro F1 {results[init]['dev_micro_f1']:.4f} ({results[init]['minutes']} min)", file=sys.stderr)
    report = {"base": base, "layers": project.layers, "args": vars(args), "train_sentences": len(train), "dev_sentences": len(dev), "results": results}
    (BUILD / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
