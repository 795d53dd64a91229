"""Bad input to every command: one line naming file and place, exit 2, no traceback, nothing lost.

Each case runs the real command line in a subprocess, the way a user would. The output
checks come before models load or a server is asked, so no case needs either.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT

TALENT_TAGGER = [sys.executable, "-c", "from train.cli import main; main()"]
GOLD = ROOT / "seeds" / "annotations" / "seed_gold.json"
DOWN = "http://127.0.0.1:9"  # nothing listens on the discard port


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "LABEL_STUDIO_API_KEY"}
    return subprocess.run([*TALENT_TAGGER, *args], capture_output=True, text=True, timeout=120, env={**environ, **env})


def assert_one_line(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    for n in needles:
        assert n in proc.stderr, (n, proc.stderr)


@pytest.fixture
def article(tmp_path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text("济南市引进高层次人才3000人，给予每人50万元安家补贴。\n\n青岛市人社局发布公告。\n", encoding="utf-8")
    return path


def _writable(d: Path) -> bool:
    try:
        (d / ".probe").touch()
    except OSError:
        return False
    (d / ".probe").unlink()
    return True


@pytest.fixture
def readonly_dir(tmp_path):
    """A directory that refuses new files, for root too (mode bits, else chattr +i, else /sys)."""
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    immutable = _writable(d) and subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0
    if _writable(d):
        d = Path("/sys")
        if not d.is_dir() or _writable(d):
            pytest.skip("no directory here refuses new files")
    yield d
    if immutable:
        subprocess.run(["chattr", "-i", str(tmp_path / "ro")], check=True)
    (tmp_path / "ro").chmod(0o755)


def _commands(tmp_path: Path, article: Path) -> dict:
    models = str(tmp_path / "no-models")
    return {
        "tasks": lambda out: ["tasks", str(article), "-o", str(out)],
        "evaluate": lambda out: ["evaluate", "--data", str(GOLD), "--models", models, "-o", str(out)],
        "predict": lambda out: ["predict", str(article), "-o", str(out), "--models", models],
        "pull": lambda out: ["pull", "--url", DOWN, "--project", "1", "-o", str(out)],
        "train": lambda out: ["train", "--data", str(GOLD), "--out", str(out)],
        "pretrain": lambda out: ["pretrain", "--corpus", str(article), "--out", str(out)],
    }


ALL = ["tasks", "evaluate", "predict", "pull", "train", "pretrain"]
FILE_OUTPUTS = ["tasks", "evaluate", "predict", "pull"]


@pytest.mark.parametrize("command", ALL)
def test_output_in_a_missing_directory_is_refused_and_nothing_is_created(tmp_path, article, command):
    out = tmp_path / "typo" / "out.json"
    proc = run(*_commands(tmp_path, article)[command](out))
    assert_one_line(proc, str(out), f"directory {tmp_path / 'typo'} does not exist")
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("command", ALL)
def test_output_in_a_read_only_directory_is_one_line_before_any_work(tmp_path, article, readonly_dir, command):
    out = readonly_dir / "out.json"
    proc = run(*_commands(tmp_path, article)[command](out))
    assert_one_line(proc, str(out), "cannot write in")
    assert not out.exists()


@pytest.mark.parametrize("command", FILE_OUTPUTS)
def test_a_directory_as_the_output_file_is_refused(tmp_path, article, command):
    out = tmp_path / "taken"
    (out / "inside").mkdir(parents=True)
    proc = run(*_commands(tmp_path, article)[command](out))
    assert_one_line(proc, str(out), "is a directory")
    assert [p.name for p in out.iterdir()] == ["inside"]


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_an_existing_file_as_the_output_dir_is_left_alone(tmp_path, article, command):
    out = tmp_path / "notes.txt"
    out.write_text("keep me", encoding="utf-8")
    proc = run(*_commands(tmp_path, article)[command](out))
    assert_one_line(proc, str(out), "exists and is not a directory")
    assert out.read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["article.txt", "notes.txt"]


def test_pretrain_never_replaces_a_directory_that_is_not_a_model(tmp_path, article):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "mine.txt").write_text("keep me", encoding="utf-8")
    proc = run("pretrain", "--corpus", str(article), "--out", str(out))
    assert_one_line(proc, str(out), "not a model dir")
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("command", ["tasks", "predict", "evaluate"])
def test_an_input_is_never_overwritten_by_the_output(tmp_path, article, command):
    gold = tmp_path / "gold.json"
    gold.write_bytes(GOLD.read_bytes())
    target = gold if command == "evaluate" else article
    before = target.read_bytes()
    args = {
        "tasks": ["tasks", str(article), "-o", str(article)],
        "predict": ["predict", str(article), "-o", str(article), "--models", str(tmp_path / "no-models")],
        "evaluate": ["evaluate", "--data", str(gold), "-o", str(gold), "--models", str(tmp_path / "no-models")],
    }[command]
    assert_one_line(run(*args), str(target), "is also an input")
    assert target.read_bytes() == before


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_a_config_that_is_not_utf8_names_file_and_line(tmp_path, article, command):
    cfg = tmp_path / "gbk.yaml"
    cfg.write_bytes("# 配置\ntagger:\n  epochs: 3\n".encode("gbk"))
    out = tmp_path / "m"
    args = ["--data", str(GOLD)] if command == "train" else ["--corpus", str(article)]
    assert_one_line(run(command, "--config", str(cfg), *args, "--out", str(out)), f"{cfg}: line 1: not UTF-8")
    assert not out.exists()


@pytest.mark.parametrize("url", ["http://[::1", "http://", "localhost:8080"])
def test_a_malformed_server_url_is_one_line(tmp_path, url):
    out = tmp_path / "export.json"
    proc = run("pull", "--url", url, "--project", "1", "-o", str(out), LABEL_STUDIO_API_KEY="0" * 40)
    assert_one_line(proc, url, "not a Label Studio URL")
    assert not out.exists()


DEVICES = ["gpu9", "cuda:x"] + ([] if torch.cuda.is_available() else ["cuda"])


@pytest.mark.parametrize("device", DEVICES)
def test_a_device_this_machine_lacks_is_one_line(tmp_path, article, device):
    out = tmp_path / "pred.jsonl"
    proc = run("predict", str(article), "-o", str(out), "--models", str(tmp_path / "no-models"), "--device", device)
    assert_one_line(proc, f"--device {device}")
    assert not out.exists()


def predict_jsonl(tmp_path: Path, lines: str) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """predict on a .jsonl input holding ``lines``: (input, output path, the finished process)."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "pred.jsonl"
    inp.write_text(lines, encoding="utf-8")
    return inp, out, run("predict", str(inp), "-o", str(out), "--models", str(tmp_path / "no-models"))


def test_a_jsonl_id_that_is_an_object_names_file_and_line(tmp_path):
    inp, out, proc = predict_jsonl(tmp_path, '{"id": "a", "text": "济南引进人才"}\n{"id": {"x": 1}, "text": "青岛引进人才"}\n')
    assert_one_line(proc, f"{inp}: line 2", '"id"')
    assert not out.exists()


def test_an_article_id_given_twice_names_both_places(tmp_path):
    """Two records with one id could not be told apart in the output or in Label Studio."""
    lines = '{"id": "a", "text": "济南引进人才"}\n{"id": "b", "text": "青岛"}\n{"id": "a", "text": "烟台引进人才"}\n'
    inp, out, proc = predict_jsonl(tmp_path, lines)
    assert_one_line(proc, f"{inp}: line 3", "'a'", f"{inp}: line 1")
    assert not out.exists()
    for d in ("x", "y"):  # the same file name in two dirs: the same id
        (tmp_path / d).mkdir()
        (tmp_path / d / "news.txt").write_text("济南引进人才3000人。", encoding="utf-8")
    proc = run("predict", str(tmp_path / "x"), str(tmp_path / "y"), "-o", str(out), "--models", str(tmp_path / "no-models"))
    assert_one_line(proc, str(tmp_path / "y" / "news.txt"), "'news'", str(tmp_path / "x" / "news.txt"))
    assert not out.exists()


def test_stats_of_an_empty_export_is_one_line(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]", encoding="utf-8")
    assert_one_line(run("stats", str(path)), f"{path}: no tasks")
