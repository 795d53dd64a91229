"""Input paths in, outputs out: directory expansion, and writes that never leave a half-written file."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

from train.errors import InputError

# The checkout (or installed tree) this package belongs to: the project's own files
# (configs/, labels/, models/) are found from here, never from the working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


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


STDOUT = "-"


def _is_stream(path: Path) -> bool:
    """A device, FIFO or socket, also behind a link (``/dev/stdout`` -> a pipe or tty): written to
    as it is, never replaced by a file. Anything under /dev or /proc counts too: ``/dev/stdout``
    redirected to a file must write into that open file, not rename a new one over it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return True
    return str(path).startswith(("/dev/", "/proc/"))


def _target(path: Path) -> Path:
    """Where writing ``path`` lands: a symlink's final target (which may not exist yet), else ``path``."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_output(path: str | Path, *, directory: bool = False, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse, before any work, an output that cannot be written or would destroy something.

    The output's directory must exist (a typo there is an error, not a new tree) and take
    new files (tried, not guessed from mode bits: root and read-only mounts differ);
    ``path`` must not be one of ``inputs``. A file output must not be a directory; a
    ``directory`` output (a dir to create, or to fill or replace) must not be a file.
    A symlink is checked at its target; ``-`` (stdout), a device or a FIFO only has to be
    writable, since :func:`output_file` streams to it.
    """
    path = Path(path)
    if not directory and str(path) == STDOUT:
        return path
    if not directory and _is_stream(path):
        if not os.access(path, os.W_OK):
            raise InputError(f"{path}: not writable")
        return path
    target = _target(path)
    parent = target.parent
    if not parent.exists():
        raise InputError(f"{path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{path}: {parent} is not a directory")
    if directory and target.exists() and not target.is_dir():
        raise InputError(f"{path}: exists and is not a directory")
    if not directory and target.is_dir():
        raise InputError(f"{path}: is a directory; give a file name")
    for p in inputs:
        if target.exists() and Path(p).exists() and os.path.samefile(target, p):
            raise InputError(f"{path}: is also an input; refusing to overwrite it")
    where = target if directory and target.is_dir() else parent
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=where)
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {where} ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)
    return path


# Temporary names carry the writer's process id and host, so a later run can tell the
# leftovers of a killed writer (pid gone on this host) from the files of one still running
# beside it, here or on another host sharing the directory.
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<tag>[^.]*)\.(?:tmp|old)$")
HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def is_main_process() -> bool:
    """True on the process that writes outputs (rank 0 under torchrun/accelerate, or alone)."""
    return int(os.environ.get("RANK", "0")) == 0


def owner_pid() -> int:
    """The process that owns this run's temporary names: torchrun's agent for all its ranks, else this one."""
    return os.getppid() if "TORCHELASTIC_RUN_ID" in os.environ else os.getpid()


def temp_name(path: Path, kind: str = "tmp") -> str:
    """``.NAME.PID.HOSTRANDOM.tmp``: hidden, beside ``path``, recognisable by :func:`remove_leftovers`."""
    return f".{path.name}.{owner_pid()}.{HOST_TAG}{secrets.token_hex(4)}.{kind}"


def remove_leftovers(directory: Path, name: str | None = None) -> list[Path]:
    """Remove what killed writers left in ``directory``: temp files and dirs of dead processes,
    those of ``name`` only when it is given.

    SIGKILL leaves no chance to clean up; the next run into the same place does it.
    """
    removed = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m or (name is not None and m["name"] != name) or not m["tag"].startswith(HOST_TAG):
            continue
        if _pid_alive(int(m["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temp name beside ``path`` to create a file or a link at; renamed over ``path`` only
    if the block succeeds, removed otherwise (and by the next writer if this one is killed)."""
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path.parent, path.name)
    tmp = path.parent / temp_name(path)
    try:
        yield tmp
        with _writing(path):
            os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    with replacing(path) as tmp:
        with _writing(path):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask gives the usual mode
            os.close(fd)
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh


@contextmanager
def output_file(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """The one rule every command writes its ``-o`` output by.

    A regular file (or a new name) is replaced atomically: readers see the old content or
    the new, never a part. A symlink is written through: its target is replaced atomically
    and the link stays a link. ``-`` is stdout, and a device, FIFO or socket is opened and
    streamed to as it is (``-o /dev/null`` must not turn the device node into a file).
    """
    path = Path(path)
    binary = "b" in mode
    if str(path) == STDOUT:
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    if _is_stream(path):
        with _writing(path):
            fh = open(path, mode, encoding=None if binary else encoding)
        with fh:
            yield fh
        return
    with atomic_write(_target(path), mode, encoding) as fh:
        yield fh


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temp name; swap it in for ``path`` only if the block succeeds."""
    path = Path(path)
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path.parent, path.name)
        tmp = path.parent / temp_name(path)
        tmp.mkdir(mode=0o777)
    try:
        yield tmp
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: exists and is not a directory")  # a file is never swapped out
        with _writing(path):
            if path.exists():
                old = path.parent / temp_name(path, "old")
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
