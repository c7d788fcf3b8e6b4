"""`make run` from this checkout: migrates, seeds, makes a certificate and serves HTTPS."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from apitokens.secrets import parse_value
from tests.live import ROOT, free_port


def test_make_run_serves_https_with_demo_data(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(VAR_DIR=str(tmp_path / "var"), PORT=str(port))
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        cert = tmp_path / "var" / "tls" / "cert.pem"
        deadline = time.monotonic() + 120
        body = None
        while body is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make run did not serve:\n{log.read_text(errors='replace')[-4000:]}")
            try:
                context = ssl.create_default_context(cafile=str(cert))
                with urllib.request.urlopen(
                    f"https://localhost:{port}/healthz", context=context, timeout=2
                ) as response:
                    assert response.status == 200
                    body = json.load(response)
            except (OSError, ssl.SSLError):
                time.sleep(0.5)
        assert body == {"status": "ok"}
        banner = log.read_text()
        assert f"https://localhost:{port}" in banner
        assert "client.admin@demo.test" in banner
        values = [word for word in banner.split() if word.startswith("idt:TKN-")]
        assert values
        assert parse_value(values[0]) is not None
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
