"""Peak memory of the audit export and of key rotation (issue 5, target 5).

Each command runs as a child process of the benchmark; its peak RSS comes from ``os.wait4``
(the resources of exactly that child). The export's output goes through a pipe to the
benchmark, which only counts bytes and lines, so nothing the export writes stays in memory.
A run that exports nothing gives the baseline: what Python, Django and the command cost
before the first row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from benchmarks.harness import BenchError, manage, say


def measure_export(env: Mapping[str, str], *, expected_records: int) -> dict[str, Any]:
    baseline = manage(env, "audit", "export", "--account", "ACC-0000-0000", count_only=True)
    say(f"  baseline (empty export): peak RSS {baseline.peak_rss_mb} MB")
    export = manage(env, "audit", "export", "--format", "jsonl", count_only=True)
    if export.stdout_lines < expected_records:
        raise BenchError(
            f"the export wrote {export.stdout_lines} lines, expected {expected_records} or more"
        )
    say(
        f"  export of {export.stdout_lines:,} records: {export.seconds} s, "
        f"peak RSS {export.peak_rss_mb} MB"
    )
    return {
        "command": "manage.py audit export --format jsonl (stdout to a pipe)",
        "records": export.stdout_lines,
        "bytes": export.stdout_bytes,
        "seconds": export.seconds,
        "peak_rss_mb": export.peak_rss_mb,
        "baseline_peak_rss_mb": baseline.peak_rss_mb,
    }


def measure_rotation(env: Mapping[str, str], *, expected_tokens: int) -> dict[str, Any]:
    """``keys rotate`` with a new key in front of the one every value is sealed with."""
    rotated = manage(env, "keys", "rotate", "--json")
    report = json.loads(rotated.stdout)
    if report["failed"] or report["rotated"] < expected_tokens:
        raise BenchError(f"keys rotate did not rotate {expected_tokens} values: {report}")
    say(
        f"  keys rotate over {report['rotated']:,} tokens: {rotated.seconds} s, "
        f"peak RSS {rotated.peak_rss_mb} MB"
    )
    return {
        "command": "manage.py keys rotate --json",
        "tokens": report["rotated"],
        "seconds": rotated.seconds,
        "peak_rss_mb": rotated.peak_rss_mb,
    }
