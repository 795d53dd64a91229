"""Text normalization shared by training and prediction.

Everything the models see goes through :func:`normalize`, and every normalized
character keeps the index of the original character it came from, so offsets on the
original text come from the map, never from re-searching strings.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from opencc import OpenCC

from train.errors import InputError
from train.files import read_bytes

MAX_CHUNK_CHARS = 400
# Why an article is skipped (the same words from every command that meets one).
EMPTY_ARTICLE = "no text left after normalization (empty, or boilerplate lines only); skipped"

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹ"
# A pinyin gloss: one lowercase syllable carrying a tone mark or ü, in ASCII or
# full-width parentheses, right after a CJK character: 標(biāo) -> 標.
_GLOSS = re.compile(rf"(?<=[{_CJK}])[(（]([a-z{_TONED}]*[{_TONED}][a-z{_TONED}]*)[)）]")
_DROP = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# What normalize changes: a gloss or an invisible character goes, a whitespace run
# becomes one space (\s is exactly str.isspace, U+3000 included).
_EDIT = re.compile(rf"(?P<gloss>{_GLOSS.pattern})|(?P<drop>[{_DROP}])|(?P<space>\s+)")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
# Full-width digits, letters, % and the decimal point become ASCII (1:1).
_HALF = {c: c - 0xFEE0 for c in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}
_HALF.update({ord("％"): ord("%"), ord("．"): ord(".")})
_SENTENCE_END = re.compile(r"[。！？；!?;…]+[”’」』)）]*")

# Lines that are page furniture, not article text. Checked on the normalized line.
_BOILERPLATE = [
    re.compile(p)
    for p in (
        r"版权|(?i:copyright|all rights reserved)|©",
        r"ICP|公网安备|许可证(编号|号)|备案号",
        r"^(新闻|服务|投诉|咨询|值班)?热线|举报(电话|邮箱)|联系电话[:：]",
        r"^[(（]?\s*(文章|稿件|新闻|信息)?来源[:：]",
        r"^(责任)?编辑[:：]|^(责编|审核|校对|监制|主编|值班编辑|编审)[:：]",
        r"^【[^】]{1,6}】",
        r"^(标签|关键词|分享到|扫一扫|上一篇|下一篇|相关新闻|相关阅读|推荐阅读|最新推荐|热门推荐)[:：]?",
        r"转载|未经(允许|授权|许可)",
        r"^\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(\s+\d{1,2}:\d{2}(:\d{2})?)?$",
        r"^(https?://|www\.)\S*$",
    )
]
_BOILERPLATE_MAX = 200  # longer lines are article text even if they mention 版权 or 转载
_MENU_MAX = 4  # a line this short with no punctuation or digit is a menu item


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


class _OffsetMap:
    """Normalized ``text`` with, for each of its characters, ``offsets``: its index in the original."""

    text: str
    offsets: array  # of int, one per character of text

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of the normalized text to the original text."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span [{start}, {end}) outside text of length {len(self.text)}")
        return self.offsets[start], self.offsets[end - 1] + 1


@dataclass(frozen=True)
class Normalized(_OffsetMap):
    """Normalized text plus, for each of its characters, the index in the original."""

    text: str
    offsets: array  # of int, one per character of text

    def __getitem__(self, item: slice) -> Normalized:
        return Normalized(self.text[item], self.offsets[item])

    def __len__(self) -> int:
        return len(self.text)


@dataclass(frozen=True)
class Paragraph(_OffsetMap):
    """One annotation/prediction unit: a paragraph (or chunk of one) of an article."""

    index: int
    text: str
    offsets: array  # int offsets into the article's original text
    original: str  # the paragraph as it was, before normalization

    @property
    def orig_start(self) -> int:
        return self.offsets[0]

    @property
    def orig_end(self) -> int:
        return self.offsets[-1] + 1


def _to_simplified(text: str, offsets: array) -> tuple[str, array]:
    """OpenCC t2s, keeping the offset map even where a conversion changes length.

    Runs of CJK characters are converted whole (phrase-level conversion needs
    context); a run whose length changes is converted character by character.
    """
    cc = _t2s()
    pieces: list[str] = []
    out = array("l")
    last = 0
    for m in _CJK_RUN.finditer(text):
        pieces.append(text[last : m.start()])
        out.extend(offsets[last : m.start()])
        run = m.group()
        converted = cc.convert(run)
        if len(converted) == len(run):
            pieces.append(converted)
            out.extend(offsets[m.start() : m.end()])
        else:
            for i, ch in enumerate(run):
                c = cc.convert(ch) or ch
                pieces.append(c)
                out.extend([offsets[m.start() + i]] * len(c))
        last = m.end()
    pieces.append(text[last:])
    out.extend(offsets[last:])
    return "".join(pieces), out


def normalize(original: str, base: int = 0) -> Normalized:
    """Normalize one piece of text (no line dropping, no splitting).

    Glosses removed, simplified script, full-width digits/letters/% to half-width,
    whitespace runs collapsed to one space and trimmed. ``base`` is added to every
    offset, so a slice of a larger text maps straight into that text.

    Works run by run with the map in an ``array`` (not a list of characters and
    ints): a 3 MB article on one line cost about 190 MB more that way.
    """
    pieces: list[str] = []
    offsets = array("l")
    last = 0
    space = False  # the text so far ends with a space
    for m in _EDIT.finditer(original):
        if m.start() > last:
            pieces.append(original[last : m.start()].translate(_HALF))
            offsets.extend(range(base + last, base + m.start()))
            space = False
        if m.lastgroup == "space" and not space:
            pieces.append(" ")
            offsets.append(base + m.start())
            space = True
        last = m.end()
    if last < len(original):
        pieces.append(original[last:].translate(_HALF))
        offsets.extend(range(base + last, base + len(original)))
    text, offsets = _to_simplified("".join(pieces), offsets)
    start = len(text) - len(text.lstrip(" "))
    end = len(text.rstrip(" "))
    return Normalized(text[start:end], offsets[start:end])


def is_boilerplate(line: str) -> bool:
    """True for page furniture: copyright, licences, hotlines, editors, menus, timestamps."""
    if len(line) <= _BOILERPLATE_MAX and any(p.search(line) for p in _BOILERPLATE):
        return True
    if len(line) <= _MENU_MAX and not re.search(r"[\d\W_]", line.replace(" ", "")):
        return True
    return False


def chunk(par: Normalized, max_chars: int = MAX_CHUNK_CHARS) -> list[Normalized]:
    """Split a long paragraph at sentence ends into pieces of at most ``max_chars``.

    A single sentence longer than the limit is cut at the limit.
    """
    if len(par) <= max_chars:
        return [par]
    ends = [m.end() for m in _SENTENCE_END.finditer(par.text)]
    bounds = sorted(set(e for e in ends if e < len(par)) | {len(par)})
    pieces: list[Normalized] = []
    start = 0
    last = 0
    for end in bounds:
        if end - start > max_chars and last > start:
            pieces.append(par[start:last])
            start = last
        while end - start > max_chars:
            pieces.append(par[start : start + max_chars])
            start += max_chars
        last = end
    if start < len(par):
        pieces.append(par[start:])
    return [_strip(p) for p in pieces if p.text.strip()]


def _strip(par: Normalized) -> Normalized:
    lead = len(par.text) - len(par.text.lstrip(" "))
    trail = len(par.text.rstrip(" "))
    return par[lead:trail]


def split_article(original: str, max_chars: int = MAX_CHUNK_CHARS) -> list[Paragraph]:
    """Normalize an article into paragraphs (one per non-boilerplate line, long ones chunked)."""
    paragraphs: list[Paragraph] = []
    for m in re.finditer(r"[^\n\r\u2028\u2029]+", original):
        line = normalize(m.group(), base=m.start())
        if not line.text or is_boilerplate(line.text):
            continue
        for piece in chunk(line, max_chars):
            start, end = piece.offsets[0], piece.offsets[-1] + 1
            paragraphs.append(
                Paragraph(len(paragraphs), piece.text, piece.offsets, original[start:end])
            )
    return paragraphs


def _first_bad_byte(data: bytes) -> str:
    """Where the text stops decoding, as "line L (byte B)": the furthest any candidate encoding got."""
    pos = 0
    for enc in ("utf-8", "gb18030", "big5"):
        try:
            data.decode(enc)
        except UnicodeDecodeError as exc:
            pos = max(pos, exc.start)
    line = data[:pos].count(b"\n") + 1
    return f"line {line} (byte {pos})"


def decode(data: bytes, source: str) -> str:
    """Decode an article's bytes: UTF-8 first, else the detected GB18030/Big5 (or Big5 variant) encoding.

    Never a non-Chinese code page: a damaged GBK file once came out as KOI8 or cp1250
    mojibake that predict and pretrain took for text; it is a one-line error now.
    """
    if not data.strip():
        raise InputError(f"{source}: file is empty")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{source}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16", "utf_8"]).best()
    if best is None:
        best = from_bytes(data, cp_isolation=["big5hkscs", "cp950"]).best()
    if best is None:
        raise InputError(f"{source}: {_first_bad_byte(data)}: cannot decode (not UTF-8, GB18030 or Big5 text)")
    text = str(best)
    if sum(ch == "\ufffd" for ch in text) > max(3, len(text) // 100):
        raise InputError(f"{source}: cannot decode (too many invalid bytes for {best.encoding})")
    return text


def read_article(path: str | Path) -> str:
    """Read one article file with its encoding detected; a one-line InputError on bad files."""
    return decode(read_bytes(path), str(path))
