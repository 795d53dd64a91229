"""Make train/e5_pieces.txt: which pieces of the e5 vocabulary the offline base keeps.

Kept (``train.encoder.kept_pieces``): the special pieces, every single-character piece, every
piece of CJK characters or of digits only, and every piece that the full tokenizer (and the
tagger's character pre-tokenization) uses on the normalized text of
seeds/ and of the public corpora in ../shared/corpora. Then measures, without recording
anything from it, how many paragraphs of ../shared/realdev tokenize differently with the
trimmed vocabulary than with the full one.

    .venv/bin/python benchmarks/e5_pieces.py [--corpora ../shared/corpora] [--realdev ../shared/realdev]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transformers import AutoTokenizer  # noqa: E402

from train.corpora import text_units  # noqa: E402
from train.dataset import split_tokens  # noqa: E402
from train.encoder import PIECES_FILE, build_base, kept_pieces, read_e5, wheel_file  # noqa: E402
from train.labelstudio import read_export  # noqa: E402
from train.text import split_article  # noqa: E402


def corpus_texts(corpora: Path) -> list[str]:
    texts = []
    for path in sorted(p for p in corpora.rglob("*") if p.is_file() and not p.name.lower().startswith(("readme", "source_readme", "class"))):
        try:
            texts += text_units(path)[1]
        except Exception as exc:  # a file the readers do not know: say so, go on
            print(f"skipped {path}: {exc}", file=sys.stderr)
    return texts


def seed_texts() -> list[str]:
    texts = [ex.text for f in sorted((ROOT / "seeds/annotations").glob("*.json")) for ex in read_export(f).examples]
    texts += [p.text for f in sorted((ROOT / "seeds/articles").glob("*.txt")) for p in split_article(f.read_text(encoding="utf-8"))]
    return texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--realdev", type=Path, default=ROOT.parent / "shared" / "realdev")
    args = ap.parse_args()
    e5 = read_e5(wheel_file())
    with tempfile.TemporaryDirectory() as tmp:
        build_base(Path(tmp) / "full", keep=[])
        full = AutoTokenizer.from_pretrained(Path(tmp) / "full")
        chars = split_tokens(AutoTokenizer.from_pretrained(Path(tmp) / "full"))
        texts = seed_texts() + corpus_texts(args.corpora)
        print(f"{len(texts)} texts, {sum(map(len, texts)):,} characters", file=sys.stderr)
        used: set[int] = set()
        for tok in (full, chars):
            for ids in tok(texts, add_special_tokens=False)["input_ids"]:
                used.update(ids)
        keep = kept_pieces(e5, used)
        header = [
            "# Pieces of multilingual-e5-small's XLM-R vocabulary kept by the offline base (train/encoder.py).",
            "# Made by benchmarks/e5_pieces.py: specials, every single-character piece, every piece of CJK",
            "# characters or of digits only, and the pieces the tokenizer uses on seeds/ and the public",
            f"# corpora ({len(texts):,} normalized texts). {len(keep):,} ids.",
        ]
        PIECES_FILE.write_text("\n".join(header + [str(i) for i in keep]) + "\n", encoding="utf-8")
        print(f"kept {len(keep):,} of {len(e5.pieces):,} pieces -> {PIECES_FILE}", file=sys.stderr)

        build_base(Path(tmp) / "trim", keep=keep)
        trims = {"full": AutoTokenizer.from_pretrained(Path(tmp) / "trim")}
        trims["chars"] = split_tokens(AutoTokenizer.from_pretrained(Path(tmp) / "trim"))
        report = {}
        for part in sorted(p for p in args.realdev.glob("*") if (p / "passages.jsonl").exists()):
            pars = []
            for line in (part / "passages.jsonl").read_text(encoding="utf-8").splitlines():
                pars += [p.text for p in split_article(json.loads(line)["text"])]
            for name, ref in (("full", full), ("chars", chars)):
                a = ref(pars, add_special_tokens=False)["input_ids"]
                b = trims[name](pars, add_special_tokens=False)["input_ids"]
                pa = [ref.convert_ids_to_tokens(x) for x in a]
                pb = [trims[name].convert_ids_to_tokens(x) for x in b]
                diff = [(x, y) for x, y in zip(pa, pb) if x != y]
                lost = Counter(t for x, y in diff for t in set(x) - set(y))
                kinds = Counter("latin/digits" if t.lstrip("\u2581").isascii() else "other" for t in lost.elements())
                report[f"{part.name}/{name}"] = {"paragraphs": len(pars), "different": len(diff), "pieces_split": dict(kinds)}
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
