"""``manage.py audit export|verify``: read the audit trail out, and check its hash chains."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from audit import export
from audit.chain import PLATFORM_CHAIN, ChainReport, chains, verify_chain
from tokens_admin.cli import ActionCommand, add_json_flag

EXPORT_HELP = """\
Stream audit records, oldest first (by timestamp, then id), in constant memory.
--since is inclusive and --until exclusive; both take an ISO 8601 date or date-time, and a
value without a time zone is UTC (--since 2026-11-01 --until 2026-12-01 is all of November).
CSV: one header row, documents as a JSON string, and any cell starting with = + - @ tab or CR
gets a leading apostrophe so a spreadsheet shows it instead of running it as a formula.
--output writes a temporary file next to F and renames it over F at the end (mode 0600),
so a failed export never leaves a partial file."""


class Command(ActionCommand):
    help = "Export the audit trail (JSON Lines or CSV), or verify its hash chains."

    def add_actions(self, subparsers: Any) -> None:
        exporter = subparsers.add_parser(
            "export", help="stream records as JSON Lines or CSV", description=EXPORT_HELP
        )
        exporter.add_argument(
            "--format",
            choices=sorted(export.FORMATS),
            default="jsonl",
            help="jsonl (default: one JSON object per line) or csv",
        )
        exporter.add_argument("--account", metavar="ACC-…", help="only this account's records")
        exporter.add_argument("--since", metavar="T", help="from this instant (inclusive)")
        exporter.add_argument("--until", metavar="T", help="up to this instant (exclusive)")
        exporter.add_argument("--event", metavar="E", help="only this event key")
        exporter.add_argument(
            "--output", metavar="F", help="write to this file instead of stdout ('-' = stdout)"
        )
        verifier = subparsers.add_parser(
            "verify",
            help="walk every hash chain and name the first broken record",
            description="Walk every account's hash chain (or one with --account) and name the "
            "first broken record of each. Exits non-zero when any chain is broken.",
        )
        verifier.add_argument(
            "--account", metavar="ACC-…", help=f"only this account's chain (or {PLATFORM_CHAIN})"
        )
        add_json_flag(verifier)

    # --- export ---------------------------------------------------------------------------

    def handle_export(self, **options: Any) -> None:
        filters = export.build_filter(
            account=options["account"],
            since=options["since"],
            until=options["until"],
            event=options["event"],
        )
        output = options["output"]
        with closing(export.stream(filters, fmt=options["format"])) as lines:
            if output not in (None, "-"):
                written = write_replacing(Path(output), lines)
                records = written - 1 if options["format"] == "csv" else written
                self.stdout.write(f"Exported {records} records to {output}")
                return
            try:
                for line in lines:
                    self.stdout.write(line, ending="")
                self.stdout.flush()
            except OSError as exc:  # e.g. `| head` closed the pipe
                raise CommandError(f"cannot write to stdout: {exc.strerror or exc}") from None

    # --- verify ---------------------------------------------------------------------------

    def handle_verify(self, **options: Any) -> None:
        account = options["account"]
        if account is not None and account != PLATFORM_CHAIN:
            export.build_filter(account=account)  # the same id check as export
        as_json = options["json"]
        reports: list[ChainReport] = []
        for key in chains(account):
            with export.read_transaction():  # streams the walk on PostgreSQL, see there
                report = verify_chain(key)
            reports.append(report)
            if not as_json:
                self.stdout.write(report_line(report))
        broken = [report for report in reports if report.first_break is not None]
        if as_json:
            self.emit(options, {"ok": not broken, "chains": [report_dict(r) for r in reports]}, "")
        elif not reports:
            self.stdout.write("No audit chains yet.")
        else:
            self.stdout.write(f"{len(reports)} chains verified, {len(broken)} broken.")
        if broken:
            first = broken[0]
            raise CommandError(
                f"audit trail broken in {len(broken)} of {len(reports)} chains; "
                f"first: {report_line(first)}"
            )


def write_replacing(target: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` to a temporary file beside ``target``, then rename it over ``target``.

    Returns the number of lines written. Any failure removes the temporary file, so ``target``
    is either the complete new export or whatever it was before.
    """
    if target.is_dir():
        raise CommandError(f"cannot write {target}: it is a directory")
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed or removed
            "w",
            encoding="utf-8",
            newline="",
            dir=target.parent,
            prefix=f".{target.name}.",
            suffix=".part",
            delete=False,
        )
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    partial = Path(handle.name)
    count = 0
    try:
        with handle:
            for line in lines:
                handle.write(line)
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def report_line(report: ChainReport) -> str:
    problem = report.first_break
    if problem is None:
        line = f"{report.chain}: OK, {report.records} records"
        if report.unkeyed:
            # Plain SHA-256, from before AUDIT_CHAIN_KEY: only a checkpoint guards them.
            line += f", {report.unkeyed} of them unkeyed (before AUDIT_CHAIN_KEY)"
        return line
    where = problem.record_id or "missing record"
    return f"{report.chain}: BROKEN at {where} (seq {problem.seq}): {problem.reason}"


def report_dict(report: ChainReport) -> dict[str, Any]:
    problem = report.first_break
    return {
        "chain": report.chain,
        "records": report.records,
        "unkeyed": report.unkeyed,
        "ok": problem is None,
        "break": None
        if problem is None
        else {"recordId": problem.record_id, "seq": problem.seq, "reason": problem.reason},
    }
