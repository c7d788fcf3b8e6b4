"""``manage.py audit export|verify|checkpoint``: read the audit trail out, check its hash
chains, and sign their heads for safekeeping away from the database."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from audit import checkpoints, export
from audit.chain import PLATFORM_CHAIN, ChainReport, chains, verify_chain
from audit.checkpoints import CheckpointRefused, CheckpointResult
from tokens_admin.cli import ActionCommand, add_json_flag

EXPORT_HELP = """\
Stream audit records, oldest first (by timestamp, then id), in constant memory.
--since is inclusive and --until exclusive; both take an ISO 8601 date or date-time, and a
value without a time zone is UTC (--since 2026-11-01 --until 2026-12-01 is all of November).
CSV: one header row, documents as a JSON string, and any cell starting with = + - @ tab or CR
gets a leading apostrophe so a spreadsheet shows it instead of running it as a formula.
--output writes a temporary file next to F and renames it over F at the end (mode 0600),
so a failed export never leaves a partial file."""

CHECKPOINT_HELP = """\
Sign each chain's head (chain, last seq, last hash, record count, time) with a key derived
from AUDIT_CHAIN_KEY, one JSON object per chain. Printed as JSON Lines, or appended to F with
--output. Keep the file where the database's administrators cannot write (another host,
write-once storage): `audit verify --checkpoint F` then finds records cut from the end of a
chain, a chain deleted whole, or history rewritten before the checkpoint. Refuses (and writes
nothing) when a head does not match its records."""


class Command(ActionCommand):
    help = (
        "Export the audit trail (JSON Lines or CSV), verify its hash chains, or sign their heads."
    )

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
        verifier.add_argument(
            "--checkpoint",
            metavar="F",
            help="also check every checkpoint in this JSON Lines file (see `audit checkpoint`)",
        )
        add_json_flag(verifier)
        checkpointer = subparsers.add_parser(
            "checkpoint", help="sign each chain's head", description=CHECKPOINT_HELP
        )
        checkpointer.add_argument(
            "--account", metavar="ACC-…", help=f"only this account's chain (or {PLATFORM_CHAIN})"
        )
        checkpointer.add_argument(
            "--output", metavar="F", help="append to this JSON Lines file instead of stdout"
        )
        add_json_flag(checkpointer)

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
        account = check_account(options["account"])
        as_json = options["json"]
        reports: list[ChainReport] = []
        for key in chains(account):
            with export.read_transaction():  # streams the walk on PostgreSQL, see there
                report = verify_chain(key)
            reports.append(report)
            if not as_json:
                self.stdout.write(report_line(report))
        broken = [report for report in reports if report.first_break is not None]
        results = self.check_checkpoints(options["checkpoint"], account)
        failed = [result for result in results if result.problem is not None]
        if as_json:
            document: dict[str, Any] = {
                "ok": not broken and not failed,
                "chains": [report_dict(r) for r in reports],
            }
            if options["checkpoint"] is not None:
                document["checkpoints"] = [checkpoint_dict(r) for r in results]
            self.emit(options, document, "")
        else:
            self.write_verify_summary(reports, broken, options["checkpoint"], results, failed)
        if broken or failed:
            raise CommandError(failure_line(reports, broken, results, failed))

    def check_checkpoints(self, path: str | None, account: str | None) -> list[CheckpointResult]:
        if path is None:
            return []
        try:
            results = list(checkpoints.check_file(Path(path), chain=account))
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"cannot read {path}: not UTF-8 text") from None
        if not results:
            raise CommandError(
                f"{path} holds no checkpoints" + (f" of {account}" if account else "")
            )
        return results

    def write_verify_summary(
        self,
        reports: list[ChainReport],
        broken: list[ChainReport],
        path: str | None,
        results: list[CheckpointResult],
        failed: list[CheckpointResult],
    ) -> None:
        if not reports:
            self.stdout.write("No audit chains yet.")
        else:
            self.stdout.write(f"{len(reports)} chains verified, {len(broken)} broken.")
        if path is None:
            return
        # Only the failures: a checkpoint file grows by one line per chain and run.
        for result in failed:
            self.stdout.write(checkpoint_line(result))
        self.stdout.write(f"{len(results)} checkpoints checked, {len(failed)} broken.")

    # --- checkpoint -----------------------------------------------------------------------

    def handle_checkpoint(self, **options: Any) -> None:
        account = check_account(options["account"])
        taken: list[dict[str, Any]] = []
        try:
            for key in chains(account):
                with export.read_transaction():
                    taken.append(checkpoints.take(key))
        except CheckpointRefused as exc:
            raise CommandError(
                f"not signing {exc}; nothing written (run `manage.py audit verify`)"
            ) from None
        lines = [checkpoints.to_line(checkpoint) for checkpoint in taken]
        output = options["output"]
        if output not in (None, "-"):
            append_lines(Path(output), lines)
            text = f"Appended {len(lines)} checkpoints to {output}"
            self.emit(options, {"output": output, "checkpoints": taken}, text)
        elif options["json"]:
            self.emit(options, {"checkpoints": taken}, "")
        elif not lines:
            self.stderr.write("No audit chains yet.")
        else:
            for line in lines:
                self.stdout.write(line, ending="")


def check_account(account: str | None) -> str | None:
    if account is not None and account != PLATFORM_CHAIN:
        export.build_filter(account=account)  # the same id check as export
    return account


def append_lines(target: Path, lines: list[str]) -> None:
    """Append ``lines`` to ``target`` (created 0600) in one write, and sync it to disk.

    Appending, never rewriting: the file is a history, and write-once storage may allow
    nothing else.
    """
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None


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


def checkpoint_line(result: CheckpointResult) -> str:
    where = f"{result.chain}, seq {result.seq}" if result.chain is not None else "unreadable"
    state = "OK" if result.problem is None else f"BROKEN: {result.problem}"
    return f"checkpoint line {result.line} ({where}): {state}"


def checkpoint_dict(result: CheckpointResult) -> dict[str, Any]:
    return {
        "line": result.line,
        "chain": result.chain,
        "seq": result.seq,
        "at": result.at,
        "ok": result.problem is None,
        "problem": result.problem,
    }


def failure_line(
    reports: list[ChainReport],
    broken: list[ChainReport],
    results: list[CheckpointResult],
    failed: list[CheckpointResult],
) -> str:
    """The one line on stderr: how much is broken, and the first break."""
    parts = []
    if broken:
        parts.append(f"{len(broken)} of {len(reports)} chains")
    if failed:
        parts.append(f"{len(failed)} of {len(results)} checkpoints")
    first = report_line(broken[0]) if broken else checkpoint_line(failed[0])
    return f"audit trail broken in {' and '.join(parts)}; first: {first}"
