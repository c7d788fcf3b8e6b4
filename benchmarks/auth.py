"""Authentication overhead (issue 5, target 1) and lastAccessAt writes (target 4).

Seven variants of one trivial view returning ``{"ok": true}``, all served by one gunicorn (sync
workers ×2) with ``benchmarks.settings``. Each run is ``wrk -t1 -c8``; the variants are run
interleaved (A B C … A B C …) for several rounds, and before and after each run the workers'
CPU time is read from ``/proc/<pid>/schedstat``, so each run gives requests per second and
server CPU per request. Ratios and differences are taken inside a round, then the median over
rounds is reported with its min–max: on a shared machine absolute numbers drift, ratios of
neighbouring runs much less.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchError, Server, WrkResult, http_get, say, wrk
from benchmarks.variants import LIBRARIES, PATHS, VARIANTS, Variant


def _headers(variant: Variant, credentials: Mapping[str, str]) -> list[str]:
    return [credentials[variant.credential]] if variant.credential else []


def check_variants(server: Server, credentials: Mapping[str, str]) -> None:
    """Each variant answers 200 with the trivial body, or the run is meaningless."""
    for variant in VARIANTS:
        headers = dict(header.split(": ", 1) for header in _headers(variant, credentials))
        status, body = http_get(server.url + PATHS[variant.key], headers)
        if status != 200 or b'"ok"' not in body:
            raise BenchError(f"{variant.key} answered {status}: {body[:200]!r}")


def _run(
    server: Server, variant: Variant, credentials: Mapping[str, str], seconds: float
) -> dict[str, Any]:
    before = server.cpu_ns()
    result: WrkResult = wrk(
        server.url + PATHS[variant.key], headers=_headers(variant, credentials), seconds=seconds
    )
    cpu = server.cpu_ns() - before
    if result.non_2xx or result.requests == 0:
        raise BenchError(
            f"{variant.key}: {result.non_2xx} of {result.requests} responses were not 2xx"
        )
    return {
        "requests": result.requests,
        "requests_per_second": result.requests_per_second,
        "cpu_us_per_request": round(cpu / result.requests / 1000, 1),
        "latency_p50_ms": result.latency_p50_ms,
        "latency_p99_ms": result.latency_p99_ms,
        "socket_errors": result.socket_errors,
    }


def _spread(values: list[float], digits: int = 2) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def measure_auth(
    server: Server,
    credentials: Mapping[str, str],
    *,
    seconds: float,
    rounds: int,
    warmup_seconds: float = 1,
) -> dict[str, Any]:
    check_variants(server, credentials)
    say(f"  warm-up {warmup_seconds:g} s per variant")
    for variant in VARIANTS:
        _run(server, variant, credentials, warmup_seconds)
    runs: list[dict[str, dict[str, Any]]] = []
    for number in range(1, rounds + 1):
        this_round = {}
        for variant in VARIANTS:
            this_round[variant.key] = _run(server, variant, credentials, seconds)
        floor = this_round["floor"]
        say(
            f"  round {number}/{rounds}: "
            + ", ".join(
                f"{key} {run['requests_per_second'] / floor['requests_per_second']:.2f}×"
                f" {run['cpu_us_per_request'] - floor['cpu_us_per_request']:+.0f} µs"
                for key, run in this_round.items()
            )
        )
        runs.append(this_round)
    table = []
    for variant in VARIANTS:
        ratios = [
            r[variant.key]["requests_per_second"] / r["floor"]["requests_per_second"] for r in runs
        ]
        added = [
            r[variant.key]["cpu_us_per_request"] - r["floor"]["cpu_us_per_request"] for r in runs
        ]
        table.append(
            {
                "variant": variant.key,
                "label": variant.label,
                "requests_per_second": _spread(
                    [r[variant.key]["requests_per_second"] for r in runs], 0
                ),
                "throughput_vs_floor": _spread(ratios),
                "cpu_us_per_request": _spread(
                    [r[variant.key]["cpu_us_per_request"] for r in runs], 0
                ),
                "cpu_us_added_over_floor": _spread(added, 0),
            }
        )
    # Ours against the best library, inside each round.
    over_best = [
        r["ours"]["requests_per_second"] / max(r[key]["requests_per_second"] for key in LIBRARIES)
        for r in runs
    ]
    return {
        "method": {
            "server": "gunicorn, sync workers ×2, 127.0.0.1, plain HTTP with "
            "X-Forwarded-Proto: https and TRUSTED_PROXY=1 (all variants alike)",
            "load": f"wrk -t1 -c8 -d{seconds:g}s --latency",
            "rounds": rounds,
            "order": "interleaved: " + " ".join(v.key for v in VARIANTS) + ", repeated",
            "cpu": "utime+stime of both workers from /proc/<pid>/schedstat, before and after "
            "each run, divided by the requests wrk completed",
        },
        "variants": table,
        "ours_vs_best_library": _spread(over_best),
        "runs": runs,
    }


def write_lua(path: Path, tokens: list[str], target: str) -> None:
    """A wrk script that cycles through several tokens, one per request."""
    values = ", ".join(f'"{value}"' for value in tokens)
    path.write_text(
        f"local tokens = {{{values}}}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        f'  return wrk.format("GET", "{target}", {{["Authorization"] = "Bearer " .. '
        'tokens[(n % #tokens) + 1], ["X-Forwarded-Proto"] = "https"})\n'
        "end\n"
    )
    path.chmod(0o600)


def measure_last_access(
    server: Server, tokens: list[str], script: Path, *, seconds: float
) -> dict[str, Any]:
    write_lua(script, tokens, PATHS["ours"])
    result = wrk(server.url + PATHS["ours"], seconds=seconds, script=script)
    if result.non_2xx:
        raise BenchError(f"lastAccessAt run: {result.non_2xx} responses were not 2xx")
    return {
        "seconds": result.seconds,
        "requests": result.requests,
        "requests_per_second": result.requests_per_second,
        "tokens": len(tokens),
        "load": f"wrk -t1 -c8 -d{seconds:g}s, {len(tokens)} tokens in turn",
    }
