"""A real server for tests: gunicorn over HTTPS with a throwaway certificate, serving the
same test database the test process writes to (so tests create data, the server reads it)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from tokens_admin.tls import write_certificate

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LiveServer:
    url: str
    cafile: Path
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """The URL of the database this test process uses (the test database)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


@contextmanager
def https_server(tmp: Path, **env: str) -> Iterator[LiveServer]:
    with live_server(tmp, **env) as server:
        yield server


@contextmanager
def live_server(
    tmp: Path, *, tls: bool = True, args: Sequence[str] = (), **env: str
) -> Iterator[LiveServer]:
    """gunicorn with the project's gunicorn.conf.py (as make run starts it) on a free port of
    127.0.0.1, over HTTPS with a throwaway certificate or, ``tls=False``, plain HTTP as behind a
    TLS proxy; ``env`` and ``args`` (more gunicorn flags) on top."""
    cert, key = write_certificate(tmp)
    port = free_port()
    log = tmp / "server.log"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tokens_admin.settings",
        "PORT": str(port),
        "WORKERS": "2",
        "TLS_CERTFILE": str(cert) if tls else "",
        "TLS_KEYFILE": str(key) if tls else "",
        **env,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(gunicorn), "--config", str(ROOT / "gunicorn.conf.py"), *args, "tokens_admin.wsgi"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(cert)) if tls else None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", context=context, timeout=2):  # noqa: S310
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server did not start:\n{log.read_text(errors='replace')[-3000:]}"
                    ) from None
                time.sleep(0.2)
        yield LiveServer(url=url, cafile=cert, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
