"""``make bench``: every measurement of issue 5, end to end, on SQLite and PostgreSQL.

    python -m benchmarks.run [--quick] [--databases sqlite,postgresql] [--out DIR] [--doc FILE]

Per database: a throwaway database (a SQLite file in a temporary directory, or a PostgreSQL
database created and dropped on the server of ``BENCH_POSTGRES_URL``), migrated, filled with
``manage.py bench_seed``; then the authentication overhead and lastAccessAt writes against
gunicorn, the API and the pages at scale in-process, and the peak memory of the audit export
and of key rotation. The full run writes ``benchmarks/results/<date>-<host>.json`` and
``docs/performance.md``; ``--quick`` (small data, short runs; what CI runs) writes both under
``$VAR_DIR/bench-quick/`` instead, so it never overwrites the committed results.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import auth, memory, report
from benchmarks.harness import (
    PYTHON,
    ROOT,
    BenchError,
    Database,
    child_json,
    create_database,
    drop_database,
    gunicorn,
    manage,
    postgres_database,
    postgres_reachable,
    postgres_version,
    say,
    sqlite_database,
    sqlite_version,
    wrk_path,
)
from benchmarks.variants import VARIANTS

BENCH_LIBRARIES = ("rest_framework", "knox", "rest_framework_api_key")
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
VENDORS = ("sqlite", "postgresql")
# lastAccessAt on the databases after the first: long enough to show the rule holds.
SHORT_LAST_ACCESS_SECONDS = 10


@dataclass(frozen=True)
class Sizes:
    tokens: int
    audit_records: int
    rotate_tokens: int
    seconds: float
    rounds: int
    last_access_seconds: float
    samples: int
    page_samples: int
    last_access_tokens: int = 4


FULL = Sizes(
    tokens=10_000,
    audit_records=1_000_000,
    rotate_tokens=100_000,
    seconds=10,
    rounds=3,
    last_access_seconds=60,
    samples=100,
    page_samples=20,
)
QUICK = Sizes(
    tokens=300,
    audit_records=20_000,
    rotate_tokens=2_000,
    seconds=2,
    rounds=2,
    last_access_seconds=5,
    samples=20,
    page_samples=5,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small data, short runs (CI)")
    parser.add_argument(
        "--databases",
        default=",".join(VENDORS),
        help="comma-separated: sqlite, postgresql (default: both)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL server where databases may be created (BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", ""),
        help="REDIS_URL for the PostgreSQL run (BENCH_REDIS_URL; default: none)",
    )
    parser.add_argument("--out", type=Path, help="directory of the JSON result")
    parser.add_argument("--doc", type=Path, help="the Markdown report to write")
    parser.add_argument("--workdir", type=Path, help="where the data sets go (default: a tmp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    for name in Sizes.__dataclass_fields__:
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, dest=f"size_{name}")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    overrides = {
        name: (type(getattr(sizes, name))(value))
        for name in Sizes.__dataclass_fields__
        if (value := getattr(args, f"size_{name}")) is not None
    }
    sizes = replace(sizes, **overrides)
    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var")
    out = args.out or (var_dir / "bench-quick" if args.quick else ROOT / "benchmarks" / "results")
    doc = args.doc or (
        out / "performance-quick.md" if args.quick else ROOT / "docs" / "performance.md"
    )
    vendors = [v.strip() for v in args.databases.split(",") if v.strip()]
    unknown = sorted(set(vendors) - set(VENDORS))
    if unknown or not vendors:
        parser.error(f"--databases takes {', '.join(VENDORS)}")
    try:
        path = run(
            sizes=sizes,
            quick=args.quick,
            vendors=vendors,
            postgres_url=args.postgres_url,
            redis_url=args.redis_url,
            out=out,
            doc=doc,
            workdir=args.workdir,
            keep=args.keep,
        )
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def preflight() -> None:
    if wrk_path() is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    missing = [name for name in BENCH_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        raise BenchError(
            f"the bench extra is not installed ({', '.join(missing)} missing): run `make bench`, "
            "which installs it"
        )


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def run(
    *,
    sizes: Sizes,
    quick: bool,
    vendors: list[str],
    postgres_url: str,
    redis_url: str,
    out: Path,
    doc: Path,
    workdir: Path | None,
    keep: bool,
) -> Path:
    preflight()
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="tokens-admin-bench-", dir=workdir))
    old_key, new_key = f"bench1:{_key()}", f"bench2:{_key()}"
    base_env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "PYTHONPATH": str(ROOT),
        "VAR_DIR": str(work / "var"),
        "APP_ENV": "development",
        "DEBUG": "0",
        "TRUSTED_PROXY": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_PEPPER": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEYS": old_key,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        # Failed authentications never happen here; a high limit keeps a mistake visible
        # as 401s instead of 429s.
        "API_AUTH_FAILURE_LIMIT": "1000",
    }
    results: dict[str, Any] = {
        "benchmark": "tokens-admin issue 5",
        "mode": "quick" if quick else "full",
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sizes": asdict(sizes),
        "databases": {},
        "skipped": {},
    }
    say(f"work directory {work} ({'quick' if quick else 'full'} run)")
    try:
        targets: list[tuple[str, Database, dict[str, str]]] = []
        for vendor in vendors:
            if vendor == "postgresql":
                why = postgres_reachable(postgres_url)
                if why is not None:
                    if os.environ.get("REQUIRE_SERVICES") == "1":
                        raise BenchError(f"PostgreSQL is not reachable at {postgres_url}: {why}")
                    say(f"PostgreSQL skipped: {why}")
                    results["skipped"]["postgresql"] = f"not reachable ({why})"
                    continue
                results["machine"]["postgresql"] = postgres_version(postgres_url)
                database = postgres_database(postgres_url)
            else:
                database = sqlite_database(work)
            env = dict(base_env, DATABASE_URL=database.url)
            if vendor == "postgresql" and redis_url:
                env["REDIS_URL"] = redis_url
            targets.append((vendor, database, env))
        try:
            measure_all(targets, work, results, sizes=sizes, new_key=new_key, old_key=old_key)
        finally:
            for _, database, _ in targets:
                drop_database(database)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"kept {work}")
    finished = time.time()
    results["finished_at"] = datetime.fromtimestamp(finished, UTC).isoformat(timespec="seconds")
    results["seconds"] = round(finished - started, 1)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["targets"] = report.evaluate(results)
    out.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname()) or "host"
    stamp = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d")
    path = out / f"{stamp}-{host}{'-quick' if quick else ''}.json"
    # Full runs only, by date (other results live here too: audit-export-memory.json).
    earlier = sorted(
        p
        for p in out.glob("*.json")
        if re.match(r"\d{4}-\d{2}-\d{2}-", p.name) and not p.stem.endswith("-quick") and p != path
    )
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    doc.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(earlier[-1].read_text()) if earlier and not quick else None
    doc.write_text(
        report.markdown(
            results,
            result_path=_relative(path),
            previous=previous,
            previous_path=_relative(earlier[-1]) if previous is not None else "",
        )
    )
    say(f"wrote {path} and {doc} in {results['seconds']:.0f} s")
    for line in report.summary_lines(results):
        say(line)
    return path


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _parallel(jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent jobs (each mostly a child process) at once; re-raise the first error."""
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def prepare(database: Database, env: dict[str, str], work: Path, *, sizes: Sizes) -> dict[str, Any]:
    """Create, migrate and fill one database: the benchmark account, the extra tokens key
    rotation goes over (in a second account), and a credential per authentication variant."""
    label = database.label
    create_database(database)
    say(
        f"{label}: migrate, bench_seed --tokens {sizes.tokens:,} "
        f"--audit-records {sizes.audit_records:,}"
    )
    manage(env, "migrate", "--no-input", "-v", "0")
    seeded = manage(
        env,
        "bench_seed",
        "--tokens",
        str(sizes.tokens),
        "--audit-records",
        str(sizes.audit_records),
        "--json",
    )
    seed = json.loads(seeded.stdout)
    seed["peak_rss_mb"] = seeded.peak_rss_mb
    say(f"{label}: seeded in {seed['seconds']['total']} s (tokens {seed['seconds']['tokens']} s)")
    extra = sizes.rotate_tokens - sizes.tokens
    if extra > 0:
        more = manage(env, "bench_seed", "--tokens", str(extra), "--json")
        seed["rotation_tokens"] = json.loads(more.stdout)
        say(f"{label}: {extra:,} more tokens (another account) for key rotation")
    credentials_path = work / f"credentials-{database.vendor}.json"
    child_json(
        env,
        "benchmarks.inprocess",
        "fixtures",
        "--account",
        seed["account"],
        "--admin",
        seed["admin"],
        "--out",
        str(credentials_path),
        "--last-access-tokens",
        str(sizes.last_access_tokens),
    )
    return {"seed": seed, "credentials": credentials_path}


def measure_all(
    targets: list[tuple[str, Database, dict[str, str]]],
    work: Path,
    results: dict[str, Any],
    *,
    sizes: Sizes,
    new_key: str,
    old_key: str,
) -> None:
    """Prepare every database at once (the seeding is long and nothing is timed then), time
    each one alone, then measure memory (which the load of another process does not change)
    at once again."""

    def preparing(database: Database, env: dict[str, str]) -> Callable[[], Any]:
        return lambda: prepare(database, env, work, sizes=sizes)

    prepared = _parallel({vendor: preparing(database, env) for vendor, database, env in targets})
    # Write the bulk loads out to disk now, or the first timed request that syncs pays.
    os.sync()
    for index, (vendor, database, env) in enumerate(targets):
        data = results["databases"][vendor] = {
            "seed": prepared[vendor]["seed"],
            "redis": bool(env.get("REDIS_URL")),
        }
        # The full 60 s lastAccessAt run on the first database (the fastest); a short one on
        # the others.
        last_access_seconds = (
            sizes.last_access_seconds
            if index == 0
            else min(sizes.last_access_seconds, SHORT_LAST_ACCESS_SECONDS)
        )
        data.update(
            measure_timed(
                database,
                env,
                work,
                seed=data["seed"],
                credentials_path=prepared[vendor]["credentials"],
                sizes=sizes,
                last_access_seconds=last_access_seconds,
            )
        )
    # Memory: the export where its code differs most (PostgreSQL streams through a server-side
    # cursor inside a transaction), key rotation on the first database; both on the only one.
    vendors = [vendor for vendor, _, _ in targets]
    envs = {vendor: env for vendor, _, env in targets}
    exporter = "postgresql" if "postgresql" in vendors else vendors[0]
    rotator = vendors[0]
    jobs: dict[str, Callable[[], Any]] = {
        "export": lambda: memory.measure_export(
            envs[exporter], expected_records=sizes.audit_records
        ),
    }
    rotation_env = dict(envs[rotator], TOKEN_ENCRYPTION_KEYS=f"{new_key},{old_key}")
    jobs["rotation"] = lambda: memory.measure_rotation(
        rotation_env, expected_tokens=sizes.rotate_tokens
    )
    say(f"memory: audit export on {exporter}, keys rotate on {rotator} (at once)")
    measured = _parallel(jobs) if exporter != rotator else {k: j() for k, j in jobs.items()}
    results["databases"][exporter]["export"] = measured["export"]
    results["databases"][rotator]["rotation"] = measured["rotation"]


def measure_timed(
    database: Database,
    env: dict[str, str],
    work: Path,
    *,
    seed: dict[str, Any],
    credentials_path: Path,
    sizes: Sizes,
    last_access_seconds: float,
) -> dict[str, Any]:
    label = database.label
    result: dict[str, Any] = {}
    credentials = json.loads(credentials_path.read_text())
    with gunicorn(env, work) as server:
        say(f"{label}: authentication overhead, {sizes.rounds} rounds × {len(VARIANTS)} variants")
        result["auth"] = auth.measure_auth(
            server, credentials["headers"], seconds=sizes.seconds, rounds=sizes.rounds
        )
        child_json(env, "benchmarks.inprocess", "write-counter", "install")
        say(f"{label}: lastAccessAt writes during {last_access_seconds:g} s of load")
        last_access = auth.measure_last_access(
            server,
            [token["value"] for token in credentials["last_access"]],
            work / "last-access.lua",
            seconds=last_access_seconds,
        )
    result["auth"]["path"] = child_json(
        env, "benchmarks.inprocess", "auth-path", "--credentials", str(credentials_path)
    )
    writes = child_json(env, "benchmarks.inprocess", "write-counter", "read")["writes"]
    last_access["writes"] = {
        token["id"]: writes.get(token["id"], []) for token in credentials["last_access"]
    }
    result["last_access"] = last_access
    say(f"{label}: API and pages at scale (in-process)")
    scale = child_json(
        dict(env, DJANGO_SETTINGS_MODULE="tokens_admin.settings"),
        "benchmarks.inprocess",
        "scale",
        "--account",
        seed["account"],
        "--admin",
        seed["admin"],
        "--credentials",
        str(credentials_path),
        "--samples",
        str(sizes.samples),
        "--page-samples",
        str(sizes.page_samples),
    )
    result["api"] = scale["api"]
    result["pages"] = scale["pages"]
    result["audit_depths"] = scale["audit_depths"]
    result["data"] = {
        "tokens_in_account": scale["tokens_in_account"],
        "audit_records_in_account": scale["audit_records_in_account"],
    }
    return result


def machine() -> dict[str, Any]:
    import django

    facts: dict[str, Any] = {
        "host": socket.gethostname(),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": _memory_gb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite_version(),
        "gunicorn": _version([str(Path(PYTHON).with_name("gunicorn")), "--version"]),
        "wrk": _version([wrk_path() or "wrk", "-v"]),
        "load_average_start": list(os.getloadavg()),
    }
    return facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(argv: list[str]) -> str:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    except OSError:
        return "unknown"
    text = (completed.stdout or completed.stderr).strip().splitlines()
    return text[0] if text else "unknown"


if __name__ == "__main__":
    sys.exit(main())
