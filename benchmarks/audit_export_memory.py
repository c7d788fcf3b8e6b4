"""Peak memory of ``manage.py audit export`` over a million records (SPEC section 6: constant
memory for millions of records).

Run from the repository root:

    .venv/bin/python benchmarks/audit_export_memory.py [--records 1000000] [--keep]

It builds a throwaway SQLite database under /tmp (its own ``VAR_DIR`` and ``DATABASE_URL``, so
nothing in ``var/`` is touched), migrates it, seeds it with ``devtools.audit_seeding.seed_records``,
then runs the export once per format in a child process and records that child's peak RSS
(``os.wait4`` gives the resource usage of exactly one child), wall time and output size. A run
that exports nothing gives the baseline: what Python + Django + the command cost before the
first row. Results go to ``benchmarks/results/audit-export-memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "audit-export-memory.json"
TARGET_PEAK_RSS_MB = 150
CHAINS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and exports")
    parser.add_argument("--result", type=Path, default=RESULT)
    sub = parser.add_subparsers(dest="mode")
    seed = sub.add_parser("seed", help="(internal) seed the database named by DATABASE_URL")
    seed.add_argument("--records", type=int, required=True, dest="seed_records")
    args = parser.parse_args()
    if args.mode == "seed":
        seed_here(args.seed_records)
    else:
        run(args.records, keep=args.keep, result=args.result)


def run(records: int, *, keep: bool, result: Path) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ta-audit-bench-", dir="/tmp"))
    env = {
        **os.environ,
        "VAR_DIR": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "APP_ENV": "development",
        "DEBUG": "0",
    }
    try:
        say(f"workdir {workdir}")
        child([sys.executable, manage(), "migrate", "--noinput", "-v", "0"], env)
        say(f"seeding {records:,} records over {CHAINS} chains")
        seeded = child([sys.executable, __file__, "seed", "--records", str(records)], env)
        say(f"  {seeded['seconds']:.1f} s, peak RSS {seeded['peak_rss_mb']:.1f} MB")
        db_bytes = (workdir / "bench.sqlite3").stat().st_size
        runs: dict[str, Any] = {}
        for name, argv, output in [
            ("baseline_empty_export", ["--account", "ACC-0000-0000"], workdir / "empty.jsonl"),
            ("jsonl", ["--format", "jsonl"], workdir / "export.jsonl"),
            ("csv", ["--format", "csv"], workdir / "export.csv"),
        ]:
            say(f"export {name}")
            measured = child(
                [sys.executable, manage(), "audit", "export", *argv, "--output", str(output)], env
            )
            measured["bytes"] = output.stat().st_size
            measured["lines"] = count_lines(output)
            runs[name] = measured
            say(
                f"  {measured['seconds']:.1f} s, peak RSS {measured['peak_rss_mb']:.1f} MB, "
                f"{measured['bytes']:,} bytes"
            )
        say("verify")
        runs["verify"] = child([sys.executable, manage(), "audit", "verify"], env)
        say(f"  {runs['verify']['seconds']:.1f} s, peak RSS {runs['verify']['peak_rss_mb']:.1f} MB")
        peak = max(runs["jsonl"]["peak_rss_mb"], runs["csv"]["peak_rss_mb"])
        report = {
            "benchmark": "audit export memory",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "records": records,
            "chains": CHAINS,
            "database": {"vendor": "sqlite", "sqlite": sqlite3.sqlite_version, "bytes": db_bytes},
            "seed": seeded,
            "exports": {key: runs[key] for key in ("jsonl", "csv")},
            "baseline_empty_export": runs["baseline_empty_export"],
            "verify": runs["verify"],
            "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
            "within_target": peak < TARGET_PEAK_RSS_MB,
            "host": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            "method": "peak RSS of the export child process from os.wait4 (ru_maxrss); "
            "wall time around the child; SQLite database under /tmp, seeded with "
            "devtools.audit_seeding.seed_records in batches of 5000",
        }
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_text(json.dumps(report, indent=2) + "\n")
        say(f"wrote {result}")
        print(json.dumps(report["exports"], indent=2))
    finally:
        if keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def child(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``argv``; return its wall time, peak RSS and (if it printed JSON) what it printed."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE)  # noqa: S603 - our own argv
    assert process.stdout is not None
    printed = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit status {process.returncode}")
    measured: dict[str, Any] = {}
    if printed.strip().startswith(b"{"):
        measured.update(json.loads(printed))
    measured["seconds"] = round(seconds, 2)
    # ru_maxrss is in KiB on Linux.
    measured["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    return measured


def seed_here(records: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tokens_admin.settings")
    import django

    django.setup()
    from devtools.audit_seeding import seed_records

    chains = [f"ACC-9000-{n:04d}" for n in range(1, CHAINS + 1)]
    started = time.perf_counter()

    def progress(done: int) -> None:
        if done % 100_000 == 0 or done == records:
            rate = done / (time.perf_counter() - started)
            say(f"  {done:,} records ({rate:,.0f}/s)")

    seed_records(count=records, chains=chains, on_batch=progress)
    print(json.dumps({"records_per_second": round(records / (time.perf_counter() - started))}))


def manage() -> str:
    return str(ROOT / "manage.py")


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return lines


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
