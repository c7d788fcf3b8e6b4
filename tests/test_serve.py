"""Serving as ``make run`` does it: gunicorn with the project's ``gunicorn.conf.py`` and the real
``tokens_admin.wsgi`` over HTTPS with a certificate from ``devcert``, against a freshly migrated
SQLite database in its own VAR_DIR."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
# The server gets its own database and secrets: nothing of the suite's configuration leaks in.
STRIPPED = {
    "DATABASE_URL",
    "REDIS_URL",
    "APP_ENV",
    "DEBUG",
    "SECRET_KEY",
    "TOKEN_PEPPER",
    "TOKEN_ENCRYPTION_KEYS",
    "AUDIT_CHAIN_KEY",
    "ALLOWED_HOSTS",
    "LOG_LEVEL",
    "TRUSTED_PROXY",
}


@dataclass(frozen=True)
class Server:
    port: int
    cafile: Path
    log: Path
    context: ssl.SSLContext

    def get(self, path: str, host: str = "localhost") -> tuple[int, Any, dict[str, Any]]:
        url = f"https://{host}:{self.port}{path}"
        with urllib.request.urlopen(url, context=self.context, timeout=10) as response:
            return response.status, response.headers, json.load(response)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    var_dir = tmp_path_factory.mktemp("serve-var")
    output = io.StringIO()
    call_command("devcert", "--dir", str(var_dir / "tls"), stdout=output)
    assert "wrote" in output.getvalue()
    cafile, keyfile = var_dir / "tls" / "cert.pem", var_dir / "tls" / "key.pem"

    env = {key: value for key, value in os.environ.items() if key not in STRIPPED}
    env.update(VAR_DIR=str(var_dir), LOG_FORMAT="json", PYTHONDONTWRITEBYTECODE="1")
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr

    port = free_port()
    log = var_dir / "server.log"
    env.update(PORT=str(port), WORKERS="2", TLS_CERTFILE=str(cafile), TLS_KEYFILE=str(keyfile))
    with log.open("wb") as sink:
        process = subprocess.Popen(
            # The project's configuration, as make run passes it: port, workers, TLS files.
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "tokens_admin.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    served = Server(
        port=port, cafile=cafile, log=log, context=ssl.create_default_context(cafile=str(cafile))
    )
    # try/finally around the wait too: a server that never becomes ready is still stopped.
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                served.get("/healthz", host="127.0.0.1")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"gunicorn did not serve:\n{log.read_text(errors='replace')[-3000:]}"
                    )
                time.sleep(0.2)
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_it_answers_healthz_over_https(server):
    status, headers, body = server.get("/healthz")

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body == {"status": "ok"}


def test_it_is_ready_against_the_migrated_database(server):
    status, _, body = server.get("/readyz")

    assert status == 200
    assert body == {"status": "ok", "database": "ok", "pendingMigrations": 0}


def test_it_serves_the_certificate_for_every_local_name(server):
    for host in ("localhost", "127.0.0.1"):
        assert server.get("/healthz", host=host)[0] == 200


def test_it_is_not_trusted_without_the_generated_certificate(server):
    # Verification on, no trusted certificates: the self-signed one must be refused.
    untrusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    with pytest.raises(urllib.error.URLError) as failure:
        urllib.request.urlopen(
            f"https://localhost:{server.port}/healthz", context=untrusting, timeout=10
        )

    assert isinstance(failure.value.reason, ssl.SSLCertVerificationError)


def test_it_logs_each_request_as_one_json_line_with_its_trace_id(server):
    _, headers, _ = server.get("/readyz")
    trace_id = headers["traceparent"]

    deadline = time.monotonic() + 10
    while True:
        request_lines = [
            json.loads(line)
            for line in server.log.read_text().splitlines()
            if line.startswith("{") and trace_id in line
        ]
        if request_lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    [line] = request_lines
    assert line["logger"] == "tokens_admin.request"
    assert line["trace_id"] == trace_id
    assert line["status"] == 200
    assert line["message"].startswith("GET /readyz 200 ")
