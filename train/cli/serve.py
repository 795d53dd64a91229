"""`talent-tagger serve`: the models as a Label Studio ML backend."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import typer

from train.cli._app import app
from train.files import PROJECT_ROOT

log = logging.getLogger(__name__)


@app.command()
def serve(
    models: Path = typer.Option(PROJECT_ROOT / "models", "--models", show_default="the project's models/", help="Directory holding tagger/ and classifier/."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; the default takes connections from this machine only."),
    port: int = typer.Option(9090, "--port", help="Port to listen on."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, ... (default: CUDA if available)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Paragraphs per model batch."),
) -> None:
    """Answer Label Studio's ML backend requests (/health, /setup, /predict, /webhook) with the models' predictions."""
    from train.serve import load_backend, make_server

    backend = load_backend(models, device=device, batch_size=batch_size)
    server = make_server(backend, host, port)
    if not _loopback(host):
        log.warning("listening on %s: anyone who can reach this address can use the models (there is no authentication)", host)
    log.info("serving %s at http://%s:%d (connect it in the project's Settings > Model; Ctrl-C to stop)", backend.models.version, host, server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
