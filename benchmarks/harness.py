"""Plumbing of the benchmark run: throwaway databases, child processes with their peak memory,
a gunicorn server with its workers' CPU time, and wrk."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Every request of every variant carries it: with TRUSTED_PROXY=1 the server takes the
# request as HTTPS, as it does behind the TLS proxy of a production deployment.
FORWARDED_PROTO = "X-Forwarded-Proto: https"


class BenchError(Exception):
    """The benchmark could not run; the message says what to fix."""


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- Databases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """One throwaway database: a SQLite file in the work directory, or a PostgreSQL database
    created on the server of ``admin_url`` and dropped afterwards."""

    vendor: str
    url: str
    name: str
    admin_url: str = ""

    @property
    def label(self) -> str:
        return "SQLite" if self.vendor == "sqlite" else "PostgreSQL"


def sqlite_database(workdir: Path) -> Database:
    path = workdir / "bench.sqlite3"
    return Database(vendor="sqlite", url=f"sqlite:///{path}", name=str(path))


def postgres_database(admin_url: str) -> Database:
    name = f"bench_{os.getpid()}_{int(time.time())}"
    base = admin_url.rsplit("/", 1)[0]
    return Database(vendor="postgresql", url=f"{base}/{name}", name=name, admin_url=admin_url)


def _postgres_admin(admin_url: str, statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        cursor = connection.execute(statement.encode())
        return list(cursor.fetchall()) if cursor.description else []


def postgres_version(admin_url: str) -> str:
    rows = _postgres_admin(admin_url, "SHOW server_version")
    return str(rows[0][0]).split()[0]


def postgres_reachable(admin_url: str) -> str | None:
    """None when PostgreSQL answers at ``admin_url``; otherwise why not."""
    try:
        postgres_version(admin_url)
    except Exception as exc:  # any driver or network error means "not available"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


def create_database(database: Database) -> None:
    if database.vendor == "postgresql":
        _postgres_admin(database.admin_url, f'CREATE DATABASE "{database.name}"')


def drop_database(database: Database) -> None:
    if database.vendor == "postgresql":
        _postgres_admin(
            database.admin_url, f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)'
        )
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(database.name + suffix).unlink(missing_ok=True)


def sqlite_version() -> str:
    return sqlite3.sqlite_version


# --- Child processes -------------------------------------------------------------------------


@dataclass
class Child:
    seconds: float
    peak_rss_mb: float
    stdout: str
    stdout_bytes: int = 0
    stdout_lines: int = 0


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    count_only: bool = False,
    timeout: float = 1800,
) -> Child:
    """Run ``argv`` to the end; its wall time and peak RSS (``os.wait4`` reports the resources
    of exactly this child). ``count_only`` counts stdout's bytes and lines instead of keeping
    them (a million-line export)."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own argv
        list(argv), env=dict(env), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    kept = bytearray()
    size = lines = 0
    errors: list[bytes] = []
    # stderr is drained by a thread so a chatty child can never block on a full pipe.
    stderr = process.stderr
    reader = threading.Thread(target=lambda: errors.append(_read_all(stderr)))
    reader.start()
    deadline = started + timeout
    while block := process.stdout.read(1 << 20):
        size += len(block)
        lines += block.count(b"\n")
        if not count_only:
            kept += block
        if time.perf_counter() > deadline:
            process.kill()
            break
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        tail = b"".join(errors).decode(errors="replace").strip()[-2000:]
        raise BenchError(f"{' '.join(argv[:4])} … failed (exit {process.returncode}):\n{tail}")
    return Child(
        seconds=round(seconds, 2),
        # ru_maxrss is in KiB on Linux.
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),
        stdout=kept.decode(),
        stdout_bytes=size,
        stdout_lines=lines,
    )


def _read_all(stream: IO[bytes]) -> bytes:
    data = stream.read()
    stream.close()
    return data


def manage(env: Mapping[str, str], *args: str, count_only: bool = False) -> Child:
    return run_child([PYTHON, str(ROOT / "manage.py"), *args], env, count_only=count_only)


def child_json(env: Mapping[str, str], module: str, *args: str) -> Any:
    """Run ``python -m <module> <args>`` and parse the one JSON document it prints."""
    return json.loads(run_child([PYTHON, "-m", module, *args], env).stdout)


# --- The server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    workers: list[int] = field(default_factory=list)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the children of the master process."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces and parentheses; fields follow the last ")".
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def cpu_ns(self) -> int:
        """CPU time of the workers so far, in nanoseconds (``/proc/<pid>/schedstat``)."""
        total = 0
        for pid in self.workers:
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        return total


@contextmanager
def gunicorn(env: Mapping[str, str], workdir: Path, *, workers: int = 2) -> Iterator[Server]:
    """gunicorn, sync workers, plain HTTP on 127.0.0.1 (the TLS proxy is simulated by the
    forwarded-proto header and ``TRUSTED_PROXY=1``)."""
    port = free_port()
    log = workdir / f"gunicorn-{port}.log"
    gunicorn_bin = str(Path(PYTHON).with_name("gunicorn"))
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own argv
            [
                gunicorn_bin,
                "tokens_admin.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--timeout",
                "120",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = http_get(f"{server.url}/healthz", {})
                if status == 200 and len(server.worker_pids()) == workers:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    f"gunicorn did not start:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.2)
        server.workers = server.worker_pids()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def http_get(url: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
    name, _, value = FORWARDED_PROTO.partition(": ")
    request = urllib.request.Request(url, headers={name: value, **headers})  # noqa: S310 - http://127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


# --- wrk ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    non_2xx: int
    socket_errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(output: str, percentile: str) -> float | None:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    return round(float(match.group(1)) * _UNITS[match.group(2)], 3) if match else None


def parse_wrk(output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if done is None or rate is None:
        raise BenchError(f"could not read wrk's output:\n{output}")
    seconds = float(done.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(done.group(1)),
        seconds=seconds,
        requests_per_second=float(rate.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        latency_p50_ms=_latency(output, "50"),
        latency_p99_ms=_latency(output, "99"),
    )


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk(
    url: str,
    *,
    headers: Sequence[str] = (),
    seconds: float,
    connections: int = 8,
    threads: int = 1,
    script: Path | None = None,
) -> WrkResult:
    binary = wrk_path()
    if binary is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    argv = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-H",
        FORWARDED_PROTO,
    ]
    for header in headers:
        argv += ["-H", header]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    completed = subprocess.run(  # noqa: S603 - our own argv
        argv, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"wrk failed: {completed.stderr.strip() or completed.stdout.strip()}")
    return parse_wrk(completed.stdout)
