"""`make bench QUICK=1` end to end with tiny sizes, so the benchmark code cannot rot.

It runs on the database this suite runs on (CI's SQLite run benches SQLite, its PostgreSQL run
benches PostgreSQL), writes to a temporary directory (never over the committed results), and
the result must be a complete, well-formed JSON document and report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import REQUIRE_SERVICES
from tests.live import ROOT

TINY = [
    "--tokens=60",
    "--audit-records=1500",
    "--rotate-tokens=150",
    "--seconds=1",
    "--rounds=1",
    "--last-access-seconds=2",
    "--samples=3",
    "--page-samples=2",
]


def _skip_or_fail(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(message + " (REQUIRE_SERVICES=1)")
    pytest.skip(message)


def _postgres_server_url() -> str:
    settings = connection.settings_dict
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/postgres"


def test_it_runs_the_quick_benchmark_and_writes_a_valid_result(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        _skip_or_fail("needs wrk (Debian: apt-get install wrk; .ci/run installs it)")
    if shutil.which("make") is None:
        _skip_or_fail("needs GNU make")
    vendor = connection.vendor
    out = tmp_path / "out"
    doc = tmp_path / "performance.md"
    args = [
        f"--databases={vendor}",
        f"--out={out}",
        f"--doc={doc}",
        f"--workdir={tmp_path}",
        *TINY,
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    if vendor == "postgresql":
        env["BENCH_POSTGRES_URL"] = _postgres_server_url()
    completed = subprocess.run(
        ["make", "--no-print-directory", "bench", "QUICK=1", f"BENCH_ARGS={' '.join(args)}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]

    [result_file] = list(out.glob("*-quick.json"))
    result = json.loads(result_file.read_text())
    assert result["mode"] == "quick"
    assert result["machine"]["cores"] >= 1
    data = result["databases"][vendor]
    variants = {row["variant"]: row for row in data["auth"]["variants"]}
    assert set(variants) == {
        "floor",
        "ours",
        "ours_fenced",
        "lean",
        "drf",
        "drf_token",
        "knox",
        "api_key",
    }
    assert variants["floor"]["throughput_vs_floor"]["median"] == 1.0
    assert all(row["requests_per_second"]["median"] > 0 for row in variants.values())
    assert len(data["api"]) == 5
    assert all(case["n"] == 3 and case["queries"] for case in data["api"])
    assert all(case["n"] == 2 and case["queries"] for case in data["pages"])
    assert {case["name"] for case in data["pages"]} >= {
        "details tab general",
        "details tab audit/",
        "audit trail page 1",
        "audit trail page 10",
    }
    writes = data["last_access"]["writes"]
    assert len(writes) == 4
    assert all(len(stamps) >= 1 for stamps in writes.values())
    assert data["export"]["records"] >= 1500
    assert data["rotation"]["tokens"] >= 150
    assert data["export"]["peak_rss_mb"] > 0
    assert result["targets"]
    assert {target["met"] for target in result["targets"]} <= {True, False, None}
    report = doc.read_text()
    assert report.startswith("# Performance")
    assert "Quick mode" in report
    assert "## Authentication overhead" in report
    # The committed results are never touched by a quick run.
    assert not list((ROOT / "benchmarks" / "results").glob("*-quick.json"))
