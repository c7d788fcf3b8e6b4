"""Targets of issue 5 checked against a result, and the result as ``docs/performance.md``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

AUTH_CPU_US = 150
AUTH_THROUGHPUT = 0.85
AUTH_VS_BEST_LIBRARY = 2.0
API_P95_MS = 25
PAGE_P95_MS = 100
PEAK_RSS_MB = 150
DEEP_PAGE_RATIO = 2.0
FULL_RUN_MINUTES = 15
LAST_ACCESS_WINDOW = timedelta(minutes=1)

LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Why a target can read as missed although the product meets it, by target id.
CAVEATS = {
    "run.duration": "the data sets are generated on every run; most of the time is seeding "
    "a million audit records per database and the 60 s lastAccessAt run",
}


def _target(
    target_id: str,
    database: str | None,
    what: str,
    measured: Any,
    limit: str,
    met: bool | None,
    note: str = "",
) -> dict[str, Any]:
    return {
        "id": target_id,
        "database": database,
        "what": what,
        "measured": measured,
        "limit": limit,
        "met": met,
        "note": note,
    }


def _writes_in_window(stamps: list[str]) -> int:
    moments = sorted(datetime.fromisoformat(stamp) for stamp in stamps)
    most = 0
    for index, start in enumerate(moments):
        inside = sum(1 for moment in moments[index:] if moment - start < LAST_ACCESS_WINDOW)
        most = max(most, inside)
    return most


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue against this result: met (True/False) or only reported."""
    targets: list[dict[str, Any]] = []
    quick = results["mode"] == "quick"
    for vendor, data in results["databases"].items():
        rows = {row["variant"]: row for row in data["auth"]["variants"]}
        ours = rows["ours"]
        enforced = vendor == "sqlite"
        added = ours["cpu_us_added_over_floor"]["median"]
        path = data["auth"].get("path")
        reasons = []
        if lean := rows.get("lean"):
            reasons.append(
                "the lean reference (one indexed SELECT and an HMAC compare, nothing else) "
                f"adds {lean['cpu_us_added_over_floor']['median']:+.0f} µs and reaches "
                f"{lean['throughput_vs_floor']['median']:.2f}× in the same rounds"
            )
        if path:
            reasons.append(
                f"the authentication path alone measures {path['added_us']:+.0f} µs "
                "in-process (fastest of 7 repeats); under gunicorn the same code runs "
                "cache-cold between the rest of the stack"
            )
        loaded = "; ".join(reasons)
        ratio = ours["throughput_vs_floor"]["median"]
        best = data["auth"]["ours_vs_best_library"]["median"]
        targets += [
            _target(
                "auth.cpu",
                vendor,
                "Bearer middleware: server CPU added per request over the floor",
                f"{added:+.0f} µs",
                f"≤ {AUTH_CPU_US} µs",
                added <= AUTH_CPU_US if enforced else None,
                loaded if enforced else "reported only (the target is on SQLite)",
            ),
            _target(
                "auth.throughput",
                vendor,
                "Bearer middleware: throughput × the floor",
                f"{ratio:.2f}×",
                f"≥ {AUTH_THROUGHPUT}×",
                ratio >= AUTH_THROUGHPUT if enforced else None,
                loaded if enforced else "reported only (the target is on SQLite)",
            ),
            _target(
                "auth.libraries",
                vendor,
                "Bearer middleware: throughput × the best of DRF token, knox, api-key",
                f"{best:.2f}×",
                f"≥ {AUTH_VS_BEST_LIBRARY}×",
                best >= AUTH_VS_BEST_LIBRARY if enforced else None,
                loaded if enforced else "reported only (the target is on SQLite)",
            ),
        ]
        for kind, cases, limit in (
            ("api", data["api"], API_P95_MS),
            ("pages", data["pages"], PAGE_P95_MS),
        ):
            for case in cases:
                met = case["p95_ms"] < limit and len(case["queries"]) == 1
                targets.append(
                    _target(
                        f"{kind}.p95",
                        vendor,
                        f"{'API' if kind == 'api' else 'page'} {case['name']}: p95 server time, "
                        "queries",
                        f"{case['p95_ms']:.1f} ms, {_queries(case)}",
                        f"< {limit} ms, constant",
                        met,
                        "" if met else _time_note(vendor, case, limit),
                    )
                )
        audit_pages = {
            int(case["name"].rsplit(" ", 1)[1].replace(",", "")): case
            for case in data["pages"]
            if case["name"].startswith("audit trail page ")
        }
        cursor_pages = sorted(depth for depth in audit_pages if depth > 1)
        if len(cursor_pages) > 1:
            # Page 1 has no cursor (a different query); the shallowest cursor page is the base.
            shallow, deepest = cursor_pages[0], cursor_pages[-1]
            base = audit_pages[shallow]["p50_ms"]
            ratio_deep = audit_pages[deepest]["p50_ms"] / base if base else 0.0
            targets.append(
                _target(
                    "pages.deep",
                    vendor,
                    f"audit trail page {deepest:,} against page {shallow:,} (median time)",
                    f"{ratio_deep:.2f}×",
                    f"≤ {DEEP_PAGE_RATIO}× (not linear in depth: {deepest // shallow:,}× deeper)",
                    ratio_deep <= DEEP_PAGE_RATIO,
                )
            )
        writes = data["last_access"]["writes"]
        most = max((_writes_in_window(stamps) for stamps in writes.values()), default=0)
        total = sum(len(stamps) for stamps in writes.values())
        targets.append(
            _target(
                "last_access",
                vendor,
                f"lastAccessAt writes per token per minute ({data['last_access']['requests']:,} "
                f"requests in {data['last_access']['seconds']:g} s, {len(writes)} tokens, "
                f"{total} writes)",
                f"{most}",
                "≤ 1",
                most <= 1 and all(writes.values()),
                "a shorter run (the 60 s run is on the first database)"
                if data["last_access"]["seconds"] < 59
                else "",
            )
        )
        for key, what in (("export", "audit export"), ("rotation", "keys rotate")):
            if key not in data:
                continue
            measured = data[key]
            count = measured.get("records", measured.get("tokens"))
            targets.append(
                _target(
                    f"memory.{key}",
                    vendor,
                    f"{what} over {count:,} {'records' if key == 'export' else 'tokens'}: peak RSS",
                    f"{measured['peak_rss_mb']:.0f} MB",
                    f"< {PEAK_RSS_MB} MB",
                    measured["peak_rss_mb"] < PEAK_RSS_MB,
                )
            )
    if not quick:
        minutes = results["seconds"] / 60
        targets.append(
            _target(
                "run.duration",
                None,
                "make bench, end to end",
                f"{minutes:.1f} min",
                f"< {FULL_RUN_MINUTES} min",
                minutes < FULL_RUN_MINUTES,
                CAVEATS["run.duration"],
            )
        )
    return targets


def _time_note(vendor: str, case: dict[str, Any], limit: float) -> str:
    cpu = case["cpu_p95_ms"]
    if cpu >= limit:
        return f"the request's own CPU p95 is {cpu:.1f} ms"
    waiting = (
        "waiting for a CPU on the shared machine"
        if vendor == "sqlite"
        else "PostgreSQL's own time and waiting for a CPU on the shared machine"
    )
    return f"the request's own CPU p95 is {cpu:.1f} ms; the rest is {waiting}"


def _queries(case: dict[str, Any]) -> str:
    counts = case["queries"]
    if len(counts) == 1:
        return f"{counts[0]} queries"
    return f"{min(counts)}–{max(counts)} queries"


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "reported"}[met]


def summary_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    missed = [t for t in results["targets"] if t["met"] is False]
    met = [t for t in results["targets"] if t["met"] is True]
    lines.append(f"{len(met)} targets met, {len(missed)} missed")
    for target in missed:
        lines.append(
            f"  missed: [{target['database'] or '-'}] {target['what']}: {target['measured']} "
            f"(limit {target['limit']})"
        )
    return lines


def _spread(value: dict[str, float], digits: int = 0, unit: str = "") -> str:
    fmt = f"{{:,.{digits}f}}"
    return (
        f"{fmt.format(value['median'])}{unit} ({fmt.format(value['min'])}–"
        f"{fmt.format(value['max'])})"
    )


def _signed(value: dict[str, float]) -> str:
    return f"{value['median']:+,.0f} µs ({value['min']:+,.0f} to {value['max']:+,.0f})"


def _auth_row(data: dict[str, Any], variant: str) -> dict[str, Any] | None:
    for row in data["auth"]["variants"]:
        if row["variant"] == variant:
            return dict(row)
    return None


def previous_lines(
    results: dict[str, Any], previous: dict[str, Any], previous_path: str
) -> list[str]:
    """The Bearer overhead of this run beside the previous full run's (``previous_path``):
    ours and the lean reference, so a change of the machine shows in the reference."""
    out = [
        "## Authentication against the previous full run",
        "",
        f"The previous run is `{previous_path}` ({previous['started_at']}). Server CPU added "
        "per request over the floor, medians [min–max]; the lean reference (one indexed "
        "SELECT and an HMAC compare) is the same code in both runs, so its move is the "
        "machine's.",
        "",
        "| database | tokens-admin then | now | lean reference then | now |",
        "|---|---|---|---|---|",
    ]
    for vendor, data in results["databases"].items():
        then = previous.get("databases", {}).get(vendor)
        if not then:
            continue
        cells = []
        for variant in ("ours", "lean"):
            before, after = _auth_row(then, variant), _auth_row(data, variant)
            for row in (before, after):
                cells.append(_signed(row["cpu_us_added_over_floor"]) if row else "—")
        out.append(f"| {LABELS[vendor]} | {' | '.join(cells)} |")
    return [*out, ""]


def markdown(
    results: dict[str, Any],
    *,
    result_path: str,
    previous: dict[str, Any] | None = None,
    previous_path: str = "",
) -> str:
    machine = results["machine"]
    quick = results["mode"] == "quick"
    out: list[str] = []
    add = out.append
    add("# Performance")
    add("")
    add(
        "Generated by `make bench` (`python -m benchmarks.run`"
        + (" --quick" if quick else "")
        + f") on {results['started_at']}; the raw numbers are in `{result_path}`. "
        "Do not edit by hand: run `make bench` again."
    )
    if quick:
        add("")
        add(
            "**Quick mode**: small data sets and short runs, to keep the benchmark code "
            "working (CI). The targets are about the full sizes; these numbers are not evidence."
        )
    add("")
    start, end = machine["load_average_start"], machine.get("load_average_end", [0, 0, 0])
    add(
        f"The machine is a small shared VM: absolute times drift between runs (other tenants, "
        f"and the benchmark's own server, wrk and client filling both cores; 1-minute load "
        f"average {start[0]:.1f} at the start and {end[0]:.1f} at the end, on "
        f"{machine['cores']} cores). That is why ratios are measured inside one round of "
        "interleaved runs and reported as medians with min–max."
    )
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    rows = [
        ("CPU", f"{machine['cpu']}, {machine['cores']} cores"),
        ("memory", f"{machine['memory_gb']} GB"),
        ("kernel", machine["kernel"]),
        ("Python", machine["python"]),
        ("Django", machine["django"]),
        ("SQLite", machine["sqlite"]),
        ("PostgreSQL", machine.get("postgresql", "not run")),
        ("gunicorn", machine["gunicorn"]),
        ("wrk", machine["wrk"]),
        ("run time", f"{results['seconds'] / 60:.1f} min"),
    ]
    for name, value in rows:
        add(f"| {name} | {value} |")
    for vendor, why in results.get("skipped", {}).items():
        add("")
        add(f"{LABELS[vendor]} was skipped: {why}.")
    add("")
    add("## Targets")
    add("")
    add("| target | database | measured | limit | |")
    add("|---|---|---|---|---|")
    for target in results["targets"]:
        note = f" — {target['note']}" if target["note"] and target["met"] is not True else ""
        add(
            f"| {target['what']} | {LABELS.get(target['database'] or '', '—')} | "
            f"{target['measured']} | {target['limit']} | {_mark(target['met'])}{note} |"
        )
    if previous is not None:
        add("")
        out.extend(previous_lines(results, previous, previous_path))
    sizes = results["sizes"]
    for vendor, data in results["databases"].items():
        label = LABELS[vendor]
        method = data["auth"]["method"]
        add("")
        add(f"## Authentication overhead — {label}")
        add("")
        add(
            f'One trivial view returning `{{"ok": true}}`, {method["server"]}; '
            f"{method['load']}, {method['rounds']} rounds, {method['order']}. "
            "Medians over the rounds, min–max in brackets; ratios and differences are taken "
            "inside each round."
            + (" Redis is the cache (the rate limiter's check)." if data.get("redis") else "")
        )
        add("")
        add("| variant | req/s | req/s × floor | server CPU per request | added over the floor |")
        add("|---|---|---|---|---|")
        for row in data["auth"]["variants"]:
            add(
                f"| {row['label']} | {_spread(row['requests_per_second'])} | "
                f"{_spread(row['throughput_vs_floor'], 2)} | "
                f"{_spread(row['cpu_us_per_request'], unit=' µs')} | "
                f"{_signed(row['cpu_us_added_over_floor'])} |"
            )
        add("")
        add(
            "tokens-admin against the best of the three libraries, in throughput: "
            f"{_spread(data['auth']['ours_vs_best_library'], 2)}×."
        )
        by_variant = {row["variant"]: row for row in data["auth"]["variants"]}
        if "ours_fenced" in by_variant:
            fenced = by_variant["ours_fenced"]["cpu_us_added_over_floor"]["median"]
            plain = by_variant["ours"]["cpu_us_added_over_floor"]["median"]
            add("")
            add(
                "A 20-range allowlist (issue 17; usage is counted for both rows): "
                f"**{fenced - plain:+.0f} µs** over the same token without one (target: "
                "within 15 µs on SQLite)."
            )
        path = data["auth"].get("path")
        if path:
            add("")
            add(
                f"The authentication path alone ({path['method']}): "
                f"{path['authenticated_us']:.0f} µs for an authenticated request against "
                f"{path['pass_through_us']:.0f} µs passed through, **{path['added_us']:+.0f} µs**."
            )
        seed = data["seed"]
        add("")
        add(f"## API and pages at scale — {label}")
        add("")
        add(
            f"{data['data']['tokens_in_account']:,} tokens in one account and "
            f"{data['data']['audit_records_in_account']:,} audit records in its chain, made by "
            f"`manage.py bench_seed` in {seed['seconds']['total']:.0f} s "
            f"({seed['seconds']['tokens']:.1f} s for the tokens). Server time of each request "
            "in-process (Django's test client: the whole WSGI application, every middleware, "
            "no network); "
            f"{sizes['samples']} timed requests per API case and {sizes['page_samples']} per "
            "page, after 3 warm-up requests; queries counted in a separate pass."
        )
        add("")
        add("| request | p50 | p95 | max | p95 CPU | queries |")
        add("|---|---|---|---|---|---|")
        for case in [*data["api"], *data["pages"]]:
            add(
                f"| {case['name']} | {case['p50_ms']:.1f} ms | {case['p95_ms']:.1f} ms | "
                f"{case['max_ms']:.1f} ms | {case['cpu_p95_ms']:.1f} ms | {_queries(case)} |"
            )
        last = data["last_access"]
        add("")
        add(f"## lastAccessAt — {label}")
        add("")
        add(
            f"{last['load']}: {last['requests']:,} authenticated requests in "
            f"{last['seconds']:g} s ({last['requests_per_second']:,.0f} req/s, the most this "
            "machine serves). Writes counted by an AFTER UPDATE trigger installed in the "
            "throwaway benchmark database only:"
        )
        add("")
        add("| token | writes | at |")
        add("|---|---|---|")
        for token_id, stamps in last["writes"].items():
            add(f"| {token_id} | {len(stamps)} | {', '.join(stamps)} |")
        memory_rows: list[str] = []
        if "export" in data:
            export = data["export"]
            memory_rows.append(
                f"| `{export['command']}` | {export['records']:,} records "
                f"({export['bytes'] / 1e6:,.0f} MB) | {export['seconds']:.0f} s | "
                f"{export['peak_rss_mb']:.0f} MB (empty export: "
                f"{export['baseline_peak_rss_mb']:.0f} MB) |"
            )
        if "rotation" in data:
            rotation = data["rotation"]
            memory_rows.append(
                f"| `{rotation['command']}` | {rotation['tokens']:,} tokens | "
                f"{rotation['seconds']:.0f} s | {rotation['peak_rss_mb']:.0f} MB |"
            )
        if memory_rows:
            add("")
            add(f"## Memory — {label}")
            add("")
            add("| command | rows | time | peak RSS |")
            add("|---|---|---|---|")
            out.extend(memory_rows)
    add("")
    add(METHOD)
    return "\n".join(out) + "\n"


METHOD = """## Method

- **One command.** `make bench` installs the `bench` extra (DRF, knox, api-key) into `.venv`
  once (stamped), then runs `python -m benchmarks.run`. `make bench QUICK=1` is the quick
  mode CI runs (small data, short runs; results under `$VAR_DIR/bench-quick/`, never over the
  committed ones). Every data set lives in a temporary directory or a throwaway PostgreSQL
  database that is dropped at the end.
- **Authentication overhead.** `benchmarks/settings.py` is the product's settings plus the
  three libraries' apps; `benchmarks/urls.py` mounts one view (`benchmarks/views.py`) outside
  `/public/` (the floor) and under `/public/` (behind the product's real
  `BearerAuthMiddleware`, nothing bypassed), and the same view as DRF views with no
  authentication, `TokenAuthentication`, knox and `HasAPIKey`. One gunicorn serves all six.
  Plain HTTP on 127.0.0.1 for every variant, with `X-Forwarded-Proto: https` sent by wrk and
  `TRUSTED_PROXY=1` — the shape of a production deployment behind a TLS proxy; TLS in gunicorn
  would add a handshake per request (sync workers do not keep connections alive) and drown
  the differences being measured. Server CPU per request is the workers' CPU time
  (`/proc/<pid>/schedstat`) over the run divided by the requests wrk completed.
- **API and pages at scale.** Measured in-process with Django's test client, so the time is
  the server's own (every middleware, the view, the template, the queries) with no network or
  client in it. API requests carry a Bearer token of the seeded account (Access Management);
  pages are signed in with `force_login` (a real session, the real middleware). The audit
  trail's deep pages are reached with the keyset cursor the page before links to
  (`?after=<timestamp>_<id>` of its last row), built from the row at that offset.
  The p95 is wall time; "p95 CPU" is the process's own CPU time (SQLite's work included,
  PostgreSQL's not), which the load of other processes does not inflate.
- **lastAccessAt.** wrk at full speed against the Bearer endpoint, cycling through four fresh
  tokens, for 60 s on the first database and 10 s on the second (5 s in quick mode); a
  trigger in the benchmark database records every row update that sets `last_access_at`.
- **Memory.** Peak RSS of each command's own process (`os.wait4`), the export streaming into
  a pipe that the benchmark only counts. The export runs on PostgreSQL (its server-side
  cursor path), key rotation on SQLite, at the same time (memory does not depend on load).
- **Order.** Both databases are created, migrated and seeded at the same time (nothing is
  timed then); then each is measured alone; then memory. The authentication path is also
  measured alone, in-process (the middleware around the view, fastest of 7 repeats).
"""


def main() -> None:
    """``python -m benchmarks.report RESULT.json DOC.md [PREVIOUS.json]``: the targets and the
    report again, from a result (after a change of the report's wording or of a target's
    rule), beside a previous full run's when given."""
    import json
    import sys
    from pathlib import Path

    result_path, doc_path = Path(sys.argv[1]), Path(sys.argv[2])
    results = json.loads(result_path.read_text())
    results["targets"] = evaluate(results)
    result_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    root = Path(__file__).resolve().parent.parent
    try:
        shown = str(result_path.resolve().relative_to(root))
    except ValueError:
        shown = str(result_path)
    previous = json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else None
    previous_shown = sys.argv[3] if len(sys.argv) > 3 else ""
    doc_path.write_text(
        markdown(results, result_path=shown, previous=previous, previous_path=previous_shown)
    )
    for line in summary_lines(results):
        print(line)


if __name__ == "__main__":
    main()
