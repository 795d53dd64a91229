"""Directory expansion shared by the commands (tasks, train/evaluate, predict, pretrain)."""

import os
import subprocess
import sys

import pytest

from train.errors import InputError
from train.files import expand_paths

TALENT_TAGGER = [sys.executable, "-c", "from train.cli import main; main()"]


@pytest.fixture
def tree(tmp_path):
    for rel in ["d/b.txt", "d/a.txt", "d/.hidden.txt", "d/C.TXT", "d/sub/c.txt", "d/e.json", "d/notes.md", "empty/readme.md", "deep/sub/x.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x", encoding="utf-8")
    return tmp_path


def names(paths, root):
    return [p.relative_to(root).as_posix() for p in paths]


def test_files_as_given_then_each_directory_sorted(tree):
    got = expand_paths([tree / "d/notes.md", tree / "d"], (".txt",))
    assert names(got, tree) == ["d/notes.md", "d/.hidden.txt", "d/a.txt", "d/b.txt", "d/sub/c.txt"]


def test_recursion_hidden_files_and_case_are_the_callers_choice(tree):
    assert names(expand_paths([tree / "d"], (".txt",), recursive=False), tree) == ["d/.hidden.txt", "d/a.txt", "d/b.txt"]
    got = expand_paths([tree / "d"], (".txt",), hidden=False, ignore_case=True)
    assert names(got, tree) == ["d/C.TXT", "d/a.txt", "d/b.txt", "d/sub/c.txt"]


@pytest.mark.parametrize(
    "rel, recursive, message",
    [
        ("nope", True, "nope: no such file or directory"),
        ("empty", True, "empty: no .txt/.jsonl files in this directory or its subdirectories"),
        ("deep", False, "deep: no .txt/.jsonl files in this directory$"),
    ],
)
def test_missing_path_or_directory_without_matches_is_a_one_line_error(tree, rel, recursive, message):
    with pytest.raises(InputError, match=message):
        expand_paths([tree / rel], (".txt", ".jsonl"), recursive=recursive)


def test_a_path_that_is_neither_file_nor_directory_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="fifo: not a regular file or directory"):
        expand_paths([fifo], (".txt",))


def test_train_data_directory_is_not_searched_recursively(tmp_path):
    (tmp_path / "exports" / "old").mkdir(parents=True)
    (tmp_path / "exports" / "old" / "a.json").write_text("[]", encoding="utf-8")
    run = subprocess.run([*TALENT_TAGGER, "train", "--data", str(tmp_path / "exports")], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == f"error: {tmp_path / 'exports'}: no .json files in this directory"


def test_atomic_dir_never_replaces_a_file(tmp_path):
    from train.files import atomic_dir

    path = tmp_path / "notes.txt"
    path.write_text("keep me", encoding="utf-8")
    with pytest.raises(InputError, match="notes.txt: exists and is not a directory"):
        with atomic_dir(path) as tmp:
            (tmp / "model.bin").write_bytes(b"x")
    assert path.read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_atomic_write_over_a_directory_is_one_line_and_leaves_no_temp(tmp_path):
    from train.files import atomic_write

    (tmp_path / "out" / "inside").mkdir(parents=True)
    with pytest.raises(InputError, match="out: cannot write"):
        with atomic_write(tmp_path / "out") as fh:
            fh.write("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
