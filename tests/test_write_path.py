"""Nothing lost under kills, links and odd outputs: the one output rule and the atomic model pair.

Kills are real: the command runs in a subprocess and gets SIGTERM or SIGKILL part-way;
afterwards the output is the old content or the new, never a mixture, and what a killed
run left behind is gone after the next run into the same place. Devices are stood in
for by a FIFO (the same code path: neither a regular file nor a directory), never the
real /dev.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from train.errors import InputError
from train.files import HOST_TAG, output_file, remove_leftovers, temp_name

TALENT_TAGGER = [sys.executable, "-c", "from train.cli import main; main()"]
ROOT = Path(__file__).resolve().parent.parent


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- the output rule


def test_a_regular_output_is_replaced_whole(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with output_file(out) as fh:
            fh.write("half")
            raise RuntimeError("the run fails part-way")
    assert out.read_text(encoding="utf-8") == "old\n" and _hidden(tmp_path) == []
    with output_file(out) as fh:
        fh.write("new\n")
    assert out.read_text(encoding="utf-8") == "new\n" and _hidden(tmp_path) == []


def test_a_symlink_output_is_written_through_to_its_target(tmp_path):
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "predictions.jsonl"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(Path("data") / "predictions.jsonl")
    with output_file(link) as fh:
        fh.write("new\n")
    assert link.is_symlink() and os.readlink(link) == str(Path("data") / "predictions.jsonl")
    assert target.read_text(encoding="utf-8") == "new\n"
    dangling = tmp_path / "next.jsonl"
    dangling.symlink_to(tmp_path / "data" / "not-yet.jsonl")
    with output_file(dangling) as fh:
        fh.write("created\n")
    assert dangling.is_symlink() and (tmp_path / "data" / "not-yet.jsonl").read_text(encoding="utf-8") == "created\n"


def _write_read(fifo: Path, output: Path, text: str) -> str:
    """Write ``text`` to ``output`` with output_file while a thread reads ``fifo``; what it read."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    with output_file(output) as fh:
        fh.write(text)
    reader.join(timeout=10)
    return "".join(got)


def test_a_fifo_output_is_streamed_to_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert _write_read(fifo, fifo, "line 1\nline 2\n") == "line 1\nline 2\n"
    assert fifo.is_fifo() and _hidden(tmp_path) == []


def test_a_link_to_a_fifo_is_streamed_through_like_dev_stdout_to_a_pipe(tmp_path):
    """/dev/stdout is a link to the process's pipe or terminal: write into it, replace nothing."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"
    link.symlink_to(fifo)
    assert _write_read(fifo, link, "through\n") == "through\n"
    assert link.is_symlink() and fifo.is_fifo() and _hidden(tmp_path) == []


def test_a_dead_writers_temp_file_is_removed_and_a_live_ones_kept(tmp_path):
    out = tmp_path / "out.jsonl"
    dead = tmp_path / f".out.jsonl.{_dead_pid()}.{HOST_TAG}0a1b2c3d.tmp"
    live = tmp_path / f".out.jsonl.{os.getpid()}.{HOST_TAG}0a1b2c3d.tmp"
    elsewhere = tmp_path / f".out.jsonl.{_dead_pid()}.ffffff0a1b2c3d.tmp"  # another host's writer: its pid means nothing here
    other = tmp_path / f".other.jsonl.{_dead_pid()}.{HOST_TAG}0a1b2c3d.tmp"
    for p in (dead, live, elsewhere, other):
        p.write_text("half", encoding="utf-8")
    with output_file(out) as fh:
        fh.write("new\n")
    assert not dead.exists() and live.exists() and elsewhere.exists() and other.exists()
    assert remove_leftovers(tmp_path) == [other]  # without a name: every dead writer's
    assert temp_name(out).startswith(f".out.jsonl.{os.getpid()}.")


def test_predict_writes_to_stdout_with_dash(tiny_models, seed_articles):
    from typer.testing import CliRunner

    from train.cli import app

    result = CliRunner().invoke(app, ["predict", str(seed_articles[0]), "-o", "-", "--models", str(tiny_models.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == [seed_articles[0].stem]
    assert "-: 1 articles" in result.stderr


# --------------------------------------------------------------------------- articles with nothing to read

BOILERPLATE_ONLY = "版权所有 © 2024 某某日报社\n京ICP备12345678号\n责任编辑：王某\n"


def test_an_article_of_boilerplate_only_is_skipped_with_a_warning(tiny_models, seed_articles, tmp_path):
    from typer.testing import CliRunner

    from train.cli import app

    empty = tmp_path / "footer_only.txt"
    empty.write_text(BOILERPLATE_ONLY, encoding="utf-8")
    out = tmp_path / "p.jsonl"
    inputs = [str(seed_articles[0]), str(empty)]
    result = CliRunner().invoke(app, ["predict", *inputs, "-o", str(out), "--models", str(tiny_models.root), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"warning: {empty}: no text left after normalization" in result.stderr
    assert "1 articles (1 skipped: nothing left after normalization)" in result.stderr
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == [seed_articles[0].stem]

    tasks = tmp_path / "tasks.json"
    result = CliRunner().invoke(app, ["tasks", *inputs, "-o", str(tasks)])
    assert result.exit_code == 0, result.output
    assert f"warning: {empty}: no text left after normalization" in result.stderr
    assert "(1 skipped: nothing left after normalization)" in result.stderr
    assert {t["data"]["article_id"] for t in json.loads(tasks.read_text(encoding="utf-8"))} == {seed_articles[0].stem}


def test_push_reads_past_a_record_without_paragraphs(tiny_models, seed_articles, tmp_path, caplog):
    from train.labelstudio import read_predictions
    from train.predict import run_predict

    out = tmp_path / "p.jsonl"
    run_predict([str(seed_articles[0])], out, models_dir=tiny_models.root, progress=False)
    good = out.read_text(encoding="utf-8")
    record = json.loads(good)
    empty = {**record, "id": "footer-only", "text": "", "paragraphs": [], "entities": [], "measures": {}}
    out.write_text(json.dumps(empty, ensure_ascii=False) + "\n" + good, encoding="utf-8")
    tasks = read_predictions(out)
    assert {t.data["article_id"] for t in tasks} == {record["id"]} and len(tasks) == len(record["paragraphs"])
    assert f"{out}:1: article footer-only: no text left after normalization" in caplog.text


# --------------------------------------------------------------------------- URLs carry no secrets


@pytest.mark.parametrize(
    "url", ["http://s3cr3t@127.0.0.1:8080", "http://admin:s3cr3t@127.0.0.1:8080", "http://127.0.0.1:8080/?token=s3cr3t", "http://127.0.0.1:8080/#s3cr3t"]
)
def test_a_url_with_credentials_is_refused_without_printing_them(url, tmp_path):
    proc = subprocess.run(
        [*TALENT_TAGGER, "pull", "--url", url, "--project", "1", "-o", str(tmp_path / "x.json")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "LABEL_STUDIO_API_KEY": "abc"},
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "s3cr3t" not in proc.stderr and "LABEL_STUDIO_API_KEY" in proc.stderr
    assert "***" in proc.stderr


@pytest.mark.labelstudio
def test_a_url_with_a_path_that_serves_a_page_says_so(labelstudio, tmp_path):
    proc = subprocess.run(
        [*TALENT_TAGGER, "pull", "--url", labelstudio.url + "/projects", "--project", "1", "-o", str(tmp_path / "x.json")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "LABEL_STUDIO_API_KEY": labelstudio.token},
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "doctype" not in proc.stderr.lower() and labelstudio.token not in proc.stderr
    assert "a web page, not the Label Studio API" in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- the model pair


def _fake_model(path: Path, run: str | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}", encoding="utf-8")
    (path / "manifest.json").write_text(json.dumps({"version": path.name, **({"run": run} if run else {})}), encoding="utf-8")
    return path


def test_publishing_a_pair_switches_one_link_and_keeps_one_run(tmp_path):
    from train.modeldir import pair_dirs, publish, stage_name

    out = tmp_path / "models"
    for run in ("r1", "r2"):
        stage = out / "runs" / stage_name(os.getpid())
        _fake_model(stage / "tagger"), _fake_model(stage / "classifier")
        publish(stage, out, run)
        assert os.readlink(out / "current") == f"runs/{run}"
        assert os.readlink(out / "tagger") == "current/tagger" and os.readlink(out / "classifier") == "current/classifier"
        assert sorted(p.name for p in (out / "runs").iterdir()) == [run]
        assert pair_dirs(out) == (out / "runs" / run / "tagger", out / "runs" / run / "classifier")
        assert json.loads((out / "tagger" / "manifest.json").read_text(encoding="utf-8"))["run"] == run


def test_a_pair_written_before_runs_existed_is_adopted(tmp_path):
    from train.modeldir import publish, stage_name

    out = tmp_path / "models"
    _fake_model(out / "tagger"), _fake_model(out / "classifier")
    (out / "e5").mkdir()  # other dirs beside the pair are left alone
    stage = out / "runs" / stage_name(os.getpid())
    _fake_model(stage / "tagger"), _fake_model(stage / "classifier")
    publish(stage, out, "r1")
    assert sorted(p.name for p in out.iterdir()) == ["classifier", "current", "e5", "runs", "tagger"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["r1"]


def test_predict_refuses_a_tagger_and_classifier_from_different_runs(tmp_path):
    from train.modeldir import pair_dirs

    _fake_model(tmp_path / "m" / "tagger", run="20261201-100000-aaaa")
    _fake_model(tmp_path / "m" / "classifier", run="20261203-100000-bbbb")
    with pytest.raises(InputError, match="come from different training runs"):
        pair_dirs(tmp_path / "m")


# --------------------------------------------------------------------------- real kills


def _kill_when(cmd: list[str], ready, sig: int, then: float = 0.0) -> subprocess.CompletedProcess:
    """Run ``cmd``; once ``ready(pid)`` holds (polled), wait ``then`` seconds and send ``sig``."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    while proc.poll() is None and not ready(proc.pid):
        time.sleep(0.02)
    time.sleep(then)
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.slow
def test_predict_killed_while_writing_leaves_the_old_output_whole(tiny_models, seed_articles, tmp_path):
    """Each kill lands while the temp output exists (the write phase), at a different depth into it."""
    article = tmp_path / "long.txt"
    article.write_text("".join(p.read_text(encoding="utf-8").replace("\n", "") for p in seed_articles) * 3, encoding="utf-8")
    out = tmp_path / "p.jsonl"
    cmd = [*TALENT_TAGGER, "predict", str(article), "-o", str(out), "--models", str(tiny_models.root), "--no-progress"]
    writing = lambda pid: any(tmp_path.glob(f".p.jsonl.{pid}.*.tmp"))  # noqa: E731
    for k, (sig, then) in enumerate([(signal.SIGTERM, 0.0), (signal.SIGTERM, 0.5), (signal.SIGKILL, 0.2)]):
        old = f"old output {k}\n"
        out.write_text(old, encoding="utf-8")
        proc = _kill_when(cmd, writing, sig, then)
        assert proc.returncode != 0, "the kill came after the run ended: the article is too short to test"
        assert out.read_text(encoding="utf-8") == old
        if sig == signal.SIGTERM:
            assert proc.returncode == 143 and proc.stderr.strip().splitlines()[-1] == "terminated", proc.stderr
            assert "Traceback" not in proc.stderr and _hidden(tmp_path) == [], "SIGTERM must remove the temp file"
        else:
            assert len(_hidden(tmp_path)) == 1  # what SIGKILL leaves ...
    subprocess.run(cmd, capture_output=True, timeout=300, cwd=ROOT, check=True)
    assert json.loads(out.read_text(encoding="utf-8"))["id"] == "long" and _hidden(tmp_path) == []  # ... the next run removes


@pytest.mark.slow
def test_train_killed_at_any_point_leaves_a_complete_pair(tiny_base, tiny_models, tmp_path):
    """Kills after the new tagger is staged (the classifier training) and while the tagger trains:
    the old pair stays whole, and the next complete run leaves nothing of the killed ones."""
    from fixtures_models import TINY_TRAIN_YAML, slice_exports

    from train.modeldir import pair_dirs, stage_name

    out = tmp_path / "models"
    shutil.copytree(tiny_models.root, out, symlinks=True)
    old_run = json.loads((out / "tagger" / "manifest.json").read_text(encoding="utf-8"))["run"]
    data = slice_exports(tmp_path / "slice.json", articles=4)
    config = tmp_path / "train.yaml"
    config.write_text(TINY_TRAIN_YAML.format(base=tiny_base).replace("epochs: 3", "epochs: 1"), encoding="utf-8")
    cmd = [*TALENT_TAGGER, "train", "--config", str(config), "--data", str(data), "--out", str(out)]
    staged = lambda pid: (out / "runs" / stage_name(pid) / "tagger").exists()  # noqa: E731
    training = lambda pid: (out / "runs" / stage_name(pid) / ".work-tagger").exists()  # noqa: E731
    for ready, sig in [(staged, signal.SIGKILL), (training, signal.SIGTERM)]:
        proc = _kill_when(cmd, ready, sig)
        assert proc.returncode != 0, "the kill came after the run ended"
        tagger, classifier = pair_dirs(out)  # a complete pair from one run, never a mixture
        for model in (tagger, classifier):
            assert json.loads((model / "manifest.json").read_text(encoding="utf-8"))["run"] == old_run
        if sig == signal.SIGTERM:
            assert proc.returncode == 143 and "Traceback" not in proc.stderr, proc.stderr
            assert [p.name for p in (out / "runs").iterdir()] == [old_run]  # its staging dir is gone
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["classifier", "current", "runs", "tagger"]
    new_run = os.readlink(out / "current").split("/")[-1]
    assert new_run != old_run and [p.name for p in (out / "runs").iterdir()] == [new_run]  # killed runs' debris gone


def test_a_sigterm_that_lands_in_a_finalizer_is_deferred_not_lost():
    """Python prints and ignores an exception raised in ``__del__`` (the garbage collector runs
    them anywhere): there the SIGTERM is raised again a moment later, outside it."""
    from train.cli import Terminated, _terminate

    saved = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGALRM, _terminate)

    class Finalized:
        def __del__(self):
            _terminate(signal.SIGTERM, sys._getframe())

    try:
        with pytest.raises(Terminated):
            Finalized()  # dropped at once: its __del__ takes the signal
            time.sleep(2)  # the deferred one arrives here
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
