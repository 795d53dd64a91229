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
def _writing(path: Path) -> Iterator[None]:
    """An OS refusal to create or rename an output becomes one line naming the output."""
    try:
        yield
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a file; one InputError line naming it when it cannot be read."""
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def check_model_output(path: str | Path, command: str) -> Path:
    """``check_output`` for a model dir that ``command`` swaps out whole when it ends: it must
    be new, empty or a model dir (config.json), never a directory that holds something else."""
    path = check_output(path, directory=True)
    if path.is_dir() and any(path.iterdir()) and not (path / "config.json").exists():
        raise InputError(f"{path}: exists and is not a model dir (no config.json); {command} would replace it")
    return path


def check_output(path: str | Path, *, directory: bool = False, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse, before any work, an output that cannot be written or would destroy something.

    The output's directory must exist (a typo there is an error, not a new tree) and take
    new files (tried, not guessed from mode bits: root and read-only mounts differ);
    ``path`` must not be one of ``inputs``. A file output must not be a directory; a
    ``directory`` output (a dir to create, or to fill or replace) must not be a file.
    """
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise InputError(f"{path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{path}: {parent} is not a directory")
    if directory and path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory")
    if not directory and path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name")
    for p in inputs:
        if path.exists() and Path(p).exists() and os.path.samefile(path, p):
            raise InputError(f"{path}: is also an input; refusing to overwrite it")
    where = path if directory and path.is_dir() else parent
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=where)
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {where} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return path


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
        with _writing(path):
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temp name; swap it in for ``path`` only if the block succeeds."""
    path = Path(path)
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a directory")  # a file is never swapped out
        with _writing(path):
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
