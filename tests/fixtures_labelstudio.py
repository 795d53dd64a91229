"""Fixture: a real Label Studio server, started once per test session.

The server runs headless on loopback in a temporary data dir, with its admin user and
API token from the environment (shared/spec/LABEL_STUDIO.md). It costs ~30 s and
~400 MB, so there is exactly one per session. If it cannot start, the tests that need
it fail with the tail of its log: they are never skipped.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from label_studio_sdk import LabelStudio

BIN = Path(sys.executable).parent / "label-studio"
START_TIMEOUT_S = float(os.environ.get("LABEL_STUDIO_START_TIMEOUT", 180))  # ~33 s when idle
_STARTED = re.compile(r"Starting development server at (http://[^\s/]+)/")


@dataclass
class LabelStudioServer:
    url: str
    token: str
    username: str
    password: str
    client: LabelStudio
    pid: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return b'"UP"' in r.read()
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started: SIGTERM to its process group (its id is our child's PID)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def _start(data_dir: Path, token: str, username: str, password: str) -> tuple[subprocess.Popen, str, Path]:
    """Start one server and wait until /health says UP; return it with its real URL and log."""
    home = data_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        DJANGO_DB="sqlite",
        HOME=str(home),
        LABEL_STUDIO_USERNAME=username,
        LABEL_STUDIO_PASSWORD=password,
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        LATEST_VERSION_CHECK="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        COLLECT_ANALYTICS="false",
        # `serve` listens on loopback: let the server call an ML backend and its webhook there
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
    )
    port = free_port()
    log = data_dir / "server.log"
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            [str(BIN), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it reaches nothing else
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    url = None
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with status {proc.returncode}")
            if url is None:
                # The server silently moves to the next port if ours was taken: trust its log,
                # and never poll a port before it says it serves there (it may be someone else's).
                m = _STARTED.search(log.read_text(encoding="utf-8", errors="replace"))
                url = m.group(1) if m else None
            if url and _health(url):
                return proc, url, log
            time.sleep(1)
        raise RuntimeError(f"label-studio did not report UP within {START_TIMEOUT_S:.0f} s")
    except BaseException:
        _stop(proc)
        raise


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """A running Label Studio 1.23 with an admin user and a legacy API token (40 hex chars)."""
    token = secrets.token_hex(20)
    username, password = "admin@example.com", secrets.token_urlsafe(12)
    data_dir = tmp_path_factory.mktemp("labelstudio")
    started = time.monotonic()
    try:
        try:
            proc, url, log = _start(data_dir, token, username, password)
        except RuntimeError:
            # Another process may have taken the port between our pick and the server's bind.
            if "already in use" not in _tail(data_dir / "server.log", 5):
                raise
            proc, url, log = _start(data_dir, token, username, password)
    except Exception as exc:
        failure = f"Label Studio did not start ({exc}); last lines of {data_dir / 'server.log'}:\n"
    else:
        failure = ""
    if failure:
        pytest.fail(failure + _tail(data_dir / "server.log", 40), pytrace=False)
    try:
        print(f"\nLabel Studio up at {url} in {time.monotonic() - started:.0f} s", file=sys.stderr)
        client = LabelStudio(base_url=url, api_key=token)
        yield LabelStudioServer(url, token, username, password, client, proc.pid, log)
    finally:
        _stop(proc)
