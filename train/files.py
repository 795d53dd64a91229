"""Input paths in, outputs out: directory expansion, and writes that never leave a half-written file."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

from train.errors import InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temp name; swap it in for ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def expand_paths(
    paths: Iterable[str | Path],
    suffixes: Sequence[str],
    *,
    recursive: bool = True,
    hidden: bool = True,
    ignore_case: bool = False,
) -> list[Path]:
    """Files as given (whatever their name), and the files with one of ``suffixes`` in directories.

    The commands take files and directories alike; this is the one place that says what a
    directory stands for. Paths keep their order, each directory's files come sorted.
    ``recursive``: subdirectories too; ``hidden``: also names starting with "."; ``ignore_case``:
    ".TXT" matches ".txt". A missing path, a path that is neither a regular file nor a
    directory, or a directory without a matching file is a one-line InputError.
    """
    wanted = {s.lower() for s in suffixes} if ignore_case else set(suffixes)
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                f
                for f in (p.rglob("*") if recursive else p.iterdir())
                if f.is_file()
                and (f.suffix.lower() if ignore_case else f.suffix) in wanted
                and (hidden or not f.name.startswith("."))
            )
            if not found:
                where = "this directory or its subdirectories" if recursive else "this directory"
                raise InputError(f"{p}: no {'/'.join(suffixes)} files in {where}")
            out += found
        elif p.is_file():
            out.append(p)
        elif p.exists():
            raise InputError(f"{p}: not a regular file or directory")
        else:
            raise InputError(f"{p}: no such file or directory")
    return out
