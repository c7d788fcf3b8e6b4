"""The parts of the benchmark that run inside Django, one child process each:

    python -m benchmarks.inprocess fixtures --account ACC-… --admin USR-… --out FILE
    python -m benchmarks.inprocess write-counter install|read
    python -m benchmarks.inprocess scale --account ACC-… --admin USR-… --credentials FILE

``scale`` measures the API and the pages at scale through Django's test client in this process:
the time of a request is what the whole WSGI application takes, every middleware included,
without a network or a server process in the way ("server time"). Pages are signed in with
``force_login`` (a real session row, the real middleware). The number of queries of each
request is counted in a separate pass, so that counting never slows the timed one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import django

# Audit page depths measured (page 1 is the newest); "page 5,000" is the deep page.
AUDIT_DEPTHS = (1, 10, 100, 1000, 5000)
AUDIT_PER_PAGE = 25


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess")
    sub = parser.add_subparsers(dest="command", required=True)
    fixtures = sub.add_parser("fixtures", help="credentials for every authentication variant")
    fixtures.add_argument("--account", required=True)
    fixtures.add_argument("--admin", required=True)
    fixtures.add_argument("--out", type=Path, required=True)
    fixtures.add_argument("--last-access-tokens", type=int, default=4)
    path = sub.add_parser("auth-path", help="CPU of the Bearer middleware alone, in-process")
    path.add_argument("--credentials", type=Path, required=True)
    path.add_argument("--number", type=int, default=1000)
    counter = sub.add_parser("write-counter", help="count lastAccessAt writes with a trigger")
    counter.add_argument("action", choices=("install", "read"))
    scale = sub.add_parser("scale", help="API and pages at scale")
    scale.add_argument("--account", required=True)
    scale.add_argument("--admin", required=True)
    scale.add_argument("--credentials", type=Path, required=True)
    scale.add_argument("--samples", type=int, default=100, help="timed requests per API case")
    scale.add_argument("--page-samples", type=int, default=20, help="timed requests per page")
    args = parser.parse_args(argv)
    django.setup()
    if args.command == "fixtures":
        result: Any = make_fixtures(
            account_id=args.account,
            admin_id=args.admin,
            out=args.out,
            last_access_tokens=args.last_access_tokens,
        )
    elif args.command == "auth-path":
        credentials = json.loads(args.credentials.read_text())
        result = measure_auth_path(credentials["headers"]["ours"], number=args.number)
    elif args.command == "write-counter":
        result = install_write_counter() if args.action == "install" else read_write_counter()
    else:
        result = measure_scale(
            account_id=args.account,
            admin_id=args.admin,
            credentials=json.loads(args.credentials.read_text()),
            samples=args.samples,
            page_samples=args.page_samples,
        )
    json.dump(result, sys.stdout, indent=2, default=str)


# --- Credentials ---------------------------------------------------------------------------


def make_fixtures(
    *, account_id: str, admin_id: str, out: Path, last_access_tokens: int
) -> dict[str, Any]:
    """One credential per variant, made the way each library's documentation makes them, and
    our own tokens through the product's service. Written to ``out`` (0600), never printed."""
    from django.db import transaction
    from knox.models import AuthToken
    from rest_framework.authtoken.models import Token
    from rest_framework_api_key.models import APIKey

    from accounts.models import Account, Module, User
    from accounts.services import actor_for_user
    from apitokens import services

    account = Account.objects.get(public_id=account_id)
    admin = User.objects.get(public_id=admin_id)
    actor = actor_for_user(admin, account)
    access = list(Module.objects.filter(code="access-management"))

    def token(name: str, modules: list[Any], ranges: tuple[str, ...] = ()) -> tuple[str, str]:
        with transaction.atomic():
            created = services.create_token(
                account=account, name=name, modules=modules, allowed_ips=ranges, actor=actor
            )
        return created.token.public_id, created.value

    ours_id, ours = token("Bench authentication", [])
    # 19 ranges that do not match, then the loopback wrk calls from: the whole list is tested.
    fence = (*(f"10.{n}.0.0/16" for n in range(10)), *(f"2001:db8:{n}::/48" for n in range(9)))
    _, fenced = token("Bench fenced", [], (*fence, "127.0.0.0/8"))
    api_id, api_value = token("Bench API client", access)
    last_access = [token(f"Bench lastAccessAt {n}", []) for n in range(1, last_access_tokens + 1)]
    drf_token, _ = Token.objects.get_or_create(user=admin)
    _, knox_token = AuthToken.objects.create(user=admin)
    _, api_key = APIKey.objects.create_key(name="bench")
    credentials = {
        "headers": {
            "ours": f"Authorization: Bearer {ours}",
            "ours_fenced": f"Authorization: Bearer {fenced}",
            "drf_token": f"Authorization: Token {drf_token.key}",
            "knox": f"Authorization: Token {knox_token}",
            "api_key": f"Authorization: Api-Key {api_key}",
        },
        "ours_id": ours_id,
        "api": {"id": api_id, "value": api_value},
        "last_access": [{"id": public_id, "value": value} for public_id, value in last_access],
    }
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials, handle)
    return {"written": str(out), "last_access_tokens": [t for t, _ in last_access]}


# --- The authentication path alone ------------------------------------------------------------


def measure_auth_path(header: str, *, number: int) -> dict[str, Any]:
    """The product's ``BearerAuthMiddleware`` wrapped around the trivial view, called directly
    with a request for ``/public/`` (authenticated) and one outside it (passed through):
    process CPU per call, the fastest of seven repeats of ``number`` calls each. The fastest
    repeat is the one the rest of the machine disturbed least."""
    from django.test import RequestFactory

    from apitokens.middleware import BearerAuthMiddleware
    from benchmarks.views import ok
    from tokens_admin.requests import AppRequest

    factory = RequestFactory()
    middleware = BearerAuthMiddleware(ok)
    value = header.split(": ", 1)[1]

    def cpu_per_call(path: str, authorization: str | None) -> float:
        headers = {"x-forwarded-proto": "https"}
        if authorization:
            headers["authorization"] = authorization
        best = float("inf")
        for _ in range(7):
            requests = [cast(AppRequest, factory.get(path, headers=headers)) for _ in range(number)]
            for request in requests:
                # (RequestContextMiddleware's, which runs first)
                request.client_ip = "127.0.0.1"
                request.trace_id = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
            started = time.process_time()
            for request in requests:
                if middleware(request).status_code != 200:
                    raise RuntimeError(f"{path} did not answer 200")
            best = min(best, (time.process_time() - started) / number)
        return best * 1e6

    cpu_per_call("/public/bench/ok", value)  # warm up (imports, the first connection)
    floor = cpu_per_call("/bench/plain", None)
    ours = cpu_per_call("/public/bench/ok", value)
    return {
        "method": "BearerAuthMiddleware(view) called in-process, process CPU per call, "
        f"fastest of 7 repeats of {number:,} calls",
        "pass_through_us": round(floor, 1),
        "authenticated_us": round(ours, 1),
        "added_us": round(ours - floor, 1),
    }


# --- Counting lastAccessAt writes -----------------------------------------------------------

_COUNTER_SQL = {
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS bench_last_access_write ("
        "id INTEGER PRIMARY KEY, token_id INTEGER NOT NULL, written_at TEXT)",
        "CREATE TRIGGER IF NOT EXISTS bench_last_access_write AFTER UPDATE OF last_access_at "
        "ON apitokens_apitoken BEGIN INSERT INTO bench_last_access_write (token_id, written_at) "
        "VALUES (NEW.id, NEW.last_access_at); END",
    ],
    "postgresql": [
        "CREATE TABLE IF NOT EXISTS bench_last_access_write ("
        "id bigserial PRIMARY KEY, token_id bigint NOT NULL, written_at timestamptz)",
        "CREATE OR REPLACE FUNCTION bench_last_access_write() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN INSERT INTO bench_last_access_write (token_id, written_at) "
        "VALUES (NEW.id, NEW.last_access_at); RETURN NEW; END $$",
        "DROP TRIGGER IF EXISTS bench_last_access_write ON apitokens_apitoken",
        "CREATE TRIGGER bench_last_access_write AFTER UPDATE OF last_access_at "
        "ON apitokens_apitoken FOR EACH ROW EXECUTE FUNCTION bench_last_access_write()",
    ],
}


def install_write_counter() -> dict[str, Any]:
    """Instrument the throwaway benchmark database: every row UPDATE that sets lastAccessAt
    leaves a row behind (an UPDATE whose condition matches no row leaves nothing)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in _COUNTER_SQL[connection.vendor]:
            cursor.execute(statement)
    return {"installed": connection.vendor}


def read_write_counter() -> dict[str, Any]:
    from django.db import connection

    from apitokens.models import ApiToken

    with connection.cursor() as cursor:
        cursor.execute("SELECT token_id, written_at FROM bench_last_access_write ORDER BY id")
        rows = cursor.fetchall()
    ids = dict(ApiToken.objects.filter(pk__in={r[0] for r in rows}).values_list("pk", "public_id"))
    writes: dict[str, list[str]] = {}
    for pk, written_at in rows:
        writes.setdefault(ids.get(pk, str(pk)), []).append(str(written_at))
    return {"writes": writes}


# --- API and pages at scale ----------------------------------------------------------------


def summary(times_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(times_ms)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "max_ms": round(ordered[-1], 2),
    }


class Case:
    """One kind of request, timed ``samples`` times, its queries counted ``counted`` times."""

    def __init__(
        self,
        name: str,
        send: Callable[[int], Any],
        check: Callable[[Any], str | None],
    ) -> None:
        self.name = name
        self.send = send
        self.check = check

    def run(self, samples: int, counted: int, warmup: int = 3) -> dict[str, Any]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for n in range(warmup):
            self._checked(self.send(n))
        times, cpu = [], []
        for n in range(samples):
            started, cpu_started = time.perf_counter(), time.process_time()
            response = self.send(warmup + n)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            self._checked(response)
        counts = []
        for n in range(counted):
            with CaptureQueriesContext(connection) as captured:
                self._checked(self.send(warmup + samples + n))
            counts.append(len(captured))
        return {
            "name": self.name,
            **summary(times),
            # This process's CPU time (with SQLite's own work, without PostgreSQL's): what the
            # request costs, whatever else the shared machine is doing.
            "cpu_p95_ms": summary(cpu)["p95_ms"],
            "queries": sorted(set(counts)),
        }

    def _checked(self, response: Any) -> None:
        problem = self.check(response)
        if problem:
            raise RuntimeError(f"{self.name}: {problem}")


def _status(expected: int, marker: str | None = None, rows: int | None = None) -> Any:
    def check(response: Any) -> str | None:
        if response.status_code != expected:
            return f"status {response.status_code}: {response.content[:300]!r}"
        if marker is not None and rows is not None:
            found = response.content.decode().count(marker)
            if found != rows:
                return f"{found} rows instead of {rows}"
        return None

    return check


def measure_scale(
    *,
    account_id: str,
    admin_id: str,
    credentials: dict[str, Any],
    samples: int,
    page_samples: int,
) -> dict[str, Any]:
    from django.test import Client

    from accounts.models import Account, User
    from apitokens.models import ApiToken, TokenStatus
    from audit.models import AuditRecord
    from audit.views import _cursor_of

    rng = random.Random(5)
    account = Account.objects.get(public_id=account_id)
    admin = User.objects.get(public_id=admin_id)
    visible = list(
        ApiToken.objects.filter(account=account)
        .exclude(status=TokenStatus.DELETED)
        .values_list("public_id", flat=True)
    )
    picks = rng.sample(visible, min(len(visible), 500))

    def pick(n: int) -> str:
        return picks[n % len(picks)]

    api = Client()
    bearer = {"authorization": f"Bearer {credentials['api']['value']}"}

    def api_get(url: str) -> Any:
        return api.get(url, secure=True, headers=bearer)

    base = "/public/v1"
    api_cases = [
        Case(
            "tokens.list eq(status,Active) order=-audit.created.at limit=100",
            lambda n: api_get(
                f"{base}/accounts/api-tokens?eq(status,Active)&order=-audit.created.at&limit=100"
            ),
            _status(200),
        ),
        Case(
            "tokens.list ilike(name,*sync*) order=name limit=100 select=+modules",
            lambda n: api_get(
                f"{base}/accounts/api-tokens?ilike(name,*sync*)&order=name&limit=100"
                "&select=+modules"
            ),
            _status(200),
        ),
        Case(
            "tokens.get",
            lambda n: api_get(f"{base}/accounts/api-tokens/{pick(n)}"),
            _status(200),
        ),
        Case(
            "tokens.create",
            lambda n: api.post(
                f"{base}/accounts/api-tokens",
                data=json.dumps({"name": f"Bench created {n}", "modules": [{"id": "MOD-1756"}]}),
                content_type="application/json",
                secure=True,
                headers=bearer,
            ),
            _status(201),
        ),
        Case(
            "audit.records eq(object.id,TKN-…) limit=100",
            lambda n: api_get(f"{base}/audit/records?eq(object.id,{pick(n)})&limit=100"),
            _status(200),
        ),
    ]
    counted = 4
    api_results = [case.run(samples, counted) for case in api_cases]

    pages = Client()
    pages.force_login(admin)

    def page(url: str) -> Any:
        return pages.get(url, secure=True)

    def fixed(url: str) -> Callable[[int], Any]:
        return lambda n: page(url)

    list_cases = []
    for query in (
        "",
        "?sort=name",
        "?sort=-name",
        "?sort=id",
        "?sort=modules",
        "?sort=-modules",
        "?sort=created_by",
        "?sort=created",
        "?sort=last_access",
        "?sort=-last_access",
        "?sort=status",
        "?status=Active&sort=-created",
        "?status=Disabled&sort=name&per_page=50",
        "?q=sync&sort=-last_access&per_page=25",
        "?q=TKN-1&per_page=50",
        "?per_page=50&page=100",
    ):
        list_cases.append(
            Case(
                f"token list {query or '(default)'}",
                fixed(f"/settings/api-tokens/{query}"),
                _status(200),
            )
        )
    tab_cases = [
        Case(
            f"details tab {tab or 'general'}",
            _tab(page, pick, tab),
            _status(200),
        )
        for tab in ("", "modules/", "details/", "audit/")
    ]
    records = AuditRecord.objects.filter(account_id=account.public_id).order_by("-timestamp", "-id")
    total = records.count()
    audit_cases = []
    depths = []
    for depth in AUDIT_DEPTHS:
        offset = (depth - 1) * AUDIT_PER_PAGE
        if depth > 1 and offset >= total:
            continue
        # Page N is what page N-1 links to: the cursor of the last row it shows (keyset paging).
        query = "" if depth == 1 else f"?after={_cursor_of(records[offset - 1])}"
        expected = min(AUDIT_PER_PAGE, total - offset)
        depths.append(depth)
        audit_cases.append(
            Case(
                f"audit trail page {depth:,}",
                fixed(f"/settings/audit-trail/{query}"),
                _status(200, 'id="record-AUD-', expected),
            )
        )
    audit_cases.append(
        Case(
            "audit trail filtered by object",
            lambda n: page(f"/settings/audit-trail/?object={pick(n)}"),
            _status(200),
        )
    )
    audit_cases.append(
        Case(
            "audit trail filtered by event and date",
            lambda n: page(
                "/settings/audit-trail/?event=platform.accounts.api_token.updated"
                f"&from={time.strftime('%Y-%m-%d', time.gmtime(time.time() - 86400 * 3))}"
            ),
            _status(200),
        )
    )
    page_results = [case.run(page_samples, 2) for case in [*list_cases, *tab_cases, *audit_cases]]
    return {
        "tokens_in_account": ApiToken.objects.filter(account=account).count(),
        "audit_records_in_account": total,
        "api": api_results,
        "pages": page_results,
        "audit_depths": depths,
    }


def _tab(page: Callable[[str], Any], pick: Callable[[int], str], tab: str) -> Callable[[int], Any]:
    return lambda n: page(f"/settings/api-tokens/{pick(n)}/{tab}")


if __name__ == "__main__":
    main()
