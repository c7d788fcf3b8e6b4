"""The authorization matrix: every URL of the project (read from Django's URL resolver, so a
new URL without an expectation fails) x every method x every kind of caller x objects of
account A and of account B.

Callers: anonymous; bob (Member of A); alice (Administrator of A); charlie (Administrator of
B); olivia (operator, acting on A); API tokens of A with and without the module an endpoint
needs, a token of B (a Vendor), an Operations token with Platform Account Management, and one
without it (Access Management only: its own account, like any other account's token).

Each request runs in a transaction that is rolled back, so every cell starts from the same
data. Expected outcomes are derived from a few rules per route (below), written from SPEC
sections 2, 4.1, 4.4 and 5, not from what the code happens to answer. A canary string of
account B (a token name, a description, an audit summary) must appear in no response to a
caller of account A: pages, htmx fragments, exports and API lists with filters that name B.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image

from accounts.models import Account, Role, User
from apitokens import logos
from apitokens import middleware as bearer
from apitokens.models import ApiToken
from audit.models import AuditRecord, EventType
from audit.recorder import record
from audit.types import Actor, ObjectRef
from tests.factories import AccountFactory, MembershipFactory, TokenFactory, UserFactory
from tests.ui.conftest import SESSION_ACCOUNT, SESSION_AUTHENTICATED_AT

CANARY = "Zanzibar canary 7Q4K"  # only ever in account B's data
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Outcomes a response is classified into.
ALLOWED, LOGIN, UNAUTH, FORBIDDEN, MISSING, METHOD = (
    "allowed",
    "login",
    "401",
    "403",
    "404",
    "405",
)


@dataclass(frozen=True)
class Caller:
    name: str
    user: str | None = None  # a persona's key in World.users
    account: str | None = None  # the session's current account ("A" or "B")
    token: str | None = None  # a key in World.tokens

    @property
    def is_session(self) -> bool:
        return self.user is not None


CALLERS = (
    Caller("anonymous"),
    Caller("member of A", user="bob", account="A"),
    Caller("admin of A", user="alice", account="A"),
    Caller("admin of B", user="charlie", account="B"),
    Caller("operator on A", user="olivia", account="A"),
    Caller("token of A", token="a_full"),
    Caller("token of A without modules", token="a_none"),
    Caller("token of B", token="b_full"),
    Caller("operations token", token="ops"),
    Caller("operations token without PAM", token="ops_plain"),
)
# Callers who belong to account A: nothing of account B may reach them.
OF_ACCOUNT_A = {"member of A", "admin of A", "token of A", "token of A without modules"}
# Nor may it reach an Operations token without Platform Account Management.
BLIND_TO_B = OF_ACCOUNT_A | {"operations token without PAM"}


@dataclass
class World:
    accounts: dict[str, Account]
    users: dict[str, User]
    tokens: dict[str, ApiToken]
    objects: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """How one URL pattern is reached and who may use it.

    ``kind``: "page" (admin pages: sign-in required, Administrators of the current account),
    "picker" (operators only), "session" (any signed-in user), "open" (anyone),
    "api" (Bearer), "api-open" (no token needed).
    ``owner``: what the URL names ("token", "record", "logo", "module", "event-type") or None.
    ``scope``: for "api", who passes the endpoint's scope (a set of token keys), per method.
    """

    kind: str
    methods: tuple[str, ...]
    url: str
    owner: str | None = None
    scope: Callable[[str, str], bool] = lambda token, method: True
    htmx_only: bool = False
    # Signing out ends on the sign-in page: that redirect is the success, not a refusal.
    ends_at_sign_in: bool = False
    # What a token may do to itself whatever its modules.
    self_methods: tuple[str, ...] = ("GET",)


def any_token(token: str, method: str) -> bool:
    return True


def tokens_scope(token: str, method: str) -> bool:
    # Access Management (own account) or Platform Account Management (Operations).
    return token in ("a_full", "b_full", "ops", "ops_plain")


def writers_scope(token: str, method: str) -> bool:
    # Reading is for any token; writing audit records and event types is for Vendor and
    # Operations accounts only.
    return method == "GET" or token in ("b_full", "ops", "ops_plain")


def operations_scope(token: str, method: str) -> bool:
    return token in ("ops", "ops_plain")


T = "/settings/api-tokens/{token}/"
ROUTES: dict[str, Route] = {
    "healthz": Route("open", ("GET",), "/healthz"),
    "readyz": Route("open", ("GET",), "/readyz"),
    # Where a user starts: the token list, or for a Member the page that says what they may do.
    "ui:home": Route("session", ("GET",), "/"),
    "ui:sign_in": Route("open", ("GET", "POST"), "/signin/"),
    "ui:sign_out": Route("open", ("POST",), "/signout/", ends_at_sign_in=True),
    "ui:account": Route("session", ("GET",), "/account/"),
    "ui:switch_account": Route("session", ("POST",), "/account/switch/"),
    "ui:pick_account": Route("picker", ("GET",), "/account/pick/"),
    "ui:tokens": Route("page", ("GET",), "/settings/api-tokens/"),
    "ui:token_add": Route("page", ("GET", "POST"), "/settings/api-tokens/add/"),
    "ui:token_policy": Route("page", ("GET", "POST"), "/settings/api-tokens/policy/"),
    "ui:token_details": Route("page", ("GET",), T, "token"),
    "ui:token_modules": Route("page", ("GET",), T + "modules/", "token"),
    "ui:token_details_tab": Route("page", ("GET",), T + "details/", "token"),
    "ui:token_usage": Route("page", ("GET",), T + "usage/", "token"),
    "ui:token_audit": Route("page", ("GET",), T + "audit/", "token"),
    "ui:token_created": Route("page", ("GET",), T + "created/", "token"),
    "ui:token_edit": Route("page", ("GET", "POST"), T + "edit/", "token"),
    "ui:token_reveal": Route("page", ("POST",), T + "reveal/", "token"),
    "ui:token_hide": Route("page", ("GET",), T + "hide/", "token", htmx_only=True),
    "ui:token_rotate": Route("page", ("GET", "POST"), T + "rotate/", "token"),
    "ui:token_rotated": Route("page", ("GET",), T + "rotated/", "token"),
    "ui:token_action": Route("page", ("GET", "POST"), T + "disable/", "token"),
    "ui:audit": Route("page", ("GET",), "/settings/audit-trail/"),
    "ui:audit_download": Route("page", ("GET",), "/settings/audit-trail/download/?format=jsonl"),
    "ui:audit_record": Route("page", ("GET",), "/settings/audit-trail/{record}/", "record"),
    "ui:logo": Route("page", ("GET",), "{logo}", "logo"),
    "api-openapi": Route("api-open", ("GET",), "/public/v1/openapi.json"),
    "api-tokens": Route(
        "api", ("GET", "POST"), "/public/v1/accounts/api-tokens", None, tokens_scope
    ),
    "api-token": Route(
        "api",
        ("GET", "PUT", "DELETE"),
        "/public/v1/accounts/api-tokens/{token}",
        "token",
        tokens_scope,
    ),
    "api-token-enable": Route(
        "api", ("POST",), "/public/v1/accounts/api-tokens/{token}/enable", "token", tokens_scope
    ),
    "api-token-disable": Route(
        "api", ("POST",), "/public/v1/accounts/api-tokens/{token}/disable", "token", tokens_scope
    ),
    # Any token may rotate itself (tests/apitokens/test_value_rotation.py); others need the scope.
    "api-token-rotate": Route(
        "api",
        ("POST",),
        "/public/v1/accounts/api-tokens/{token}/rotate",
        "token",
        tokens_scope,
        self_methods=("POST",),
    ),
    # The caller's own account's policy (another's by ?account.id=: tests/apitokens/test_expiry.py).
    "api-token-policy": Route(
        "api", ("GET", "PUT"), "/public/v1/accounts/api-token-policy", None, tokens_scope
    ),
    "api-modules": Route("api", ("GET",), "/public/v1/accounts/modules", None, operations_scope),
    "api-module": Route(
        "api", ("GET",), "/public/v1/accounts/modules/MOD-1756", "module", operations_scope
    ),
    "api-audit-records": Route(
        "api", ("GET", "POST"), "/public/v1/audit/records", None, writers_scope
    ),
    "api-audit-record": Route(
        "api", ("GET",), "/public/v1/audit/records/{record}", "record", any_token
    ),
    "api-event-types": Route("api", ("GET",), "/public/v1/audit/event-types", None, any_token),
    "api-event-type": Route(
        "api",
        ("GET", "PUT"),
        "/public/v1/audit/event-types/{event_type}",
        "event-type",
        writers_scope,
    ),
    "api-unknown": Route("api", (), "/public/v1/no/such/resource"),
    "api-outside": Route("api", (), "/public/v2/no/such/resource"),
}


def route_names(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from route_names(entry.url_patterns, namespace)
        else:
            yield f"{prefix}{entry.name}" if entry.name else f"{prefix}<unnamed {entry.pattern}>"


def test_every_url_of_the_project_has_an_expectation() -> None:
    found = set(route_names(get_resolver().url_patterns))
    assert found == set(ROUTES), (
        f"URLs without an expectation: {sorted(found - set(ROUTES))}; "
        f"expectations without a URL: {sorted(set(ROUTES) - found)}"
    )


def expected(route: Route, caller: Caller, owner: str, method: str, world: World) -> str:
    """What SPEC says this caller gets for this method on this route and object owner."""
    if route.kind in ("api", "api-open"):
        if route.kind == "api-open":
            return ALLOWED if method in route.methods else METHOD
        if caller.token is None:  # browser sessions never authenticate API calls
            return UNAUTH
        if not route.methods:
            return MISSING
        if method not in route.methods:
            return METHOD
        # A token can always read itself (SPEC 4.4, and what `mpt-cli accounts add` needs).
        reads_itself = owner == "self" and method in route.self_methods
        if not route.scope(caller.token, method) and not reads_itself:
            return FORBIDDEN
        if route.owner == "event-type":
            return event_type_outcome(caller, owner, method)
        # Only Platform Account Management opens every account (SPEC 4.4).
        if caller.token == "ops" or owner in ("global", "none", "self"):
            return ALLOWED
        home = {"b_full": "B", "ops_plain": "ops"}.get(caller.token, "A")
        return ALLOWED if owner == home else MISSING
    if route.kind == "open":
        return ALLOWED if method in route.methods else METHOD
    if not caller.is_session:  # anonymous, and Bearer tokens: sign in first
        return LOGIN
    if method not in route.methods:
        return METHOD
    if route.kind == "session":
        return ALLOWED
    if route.kind == "picker":
        return ALLOWED if caller.user == "olivia" else FORBIDDEN
    if caller.user == "bob":
        return FORBIDDEN
    if owner not in ("none", caller.account):
        return MISSING
    return ALLOWED


def event_type_outcome(caller: Caller, owner: str, method: str) -> str:
    """Issue 13 item 7: a ``platform.*`` type ("global") is read by every token and edited by
    Operations tokens with Platform Account Management only; an ``extensions.*`` type recorded by B belongs to B, and only B and
    Operations see it (others get 404) or edit it."""
    if owner == "global":
        return ALLOWED if method == "GET" or caller.token == "ops" else FORBIDDEN
    # Seeing other accounts' extension types takes Platform Account Management.
    return ALLOWED if caller.token in ("ops", "b_full") else MISSING


def classify(response: Any, route: Route) -> str:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if status == 302 and response["Location"].startswith("/signin/") and not route.ends_at_sign_in:
        return LOGIN
    # htmx is sent to sign-in as a whole page (issue 15, item 4).
    if response.get("HX-Redirect", "").startswith("/signin/") and not route.ends_at_sign_in:
        return LOGIN
    return {401: UNAUTH, 403: FORBIDDEN, 404: MISSING, 405: METHOD}.get(status, ALLOWED)


def body_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
        for close in getattr(response, "_resource_closers", []):
            close()
        return content.decode(errors="replace")
    return response.content.decode(errors="replace")


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def world(db: None, settings: Any, tmp_path: Any) -> World:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    a = AccountFactory(name="Acme")
    b = AccountFactory(name="Globex", vendor=True)
    ops = AccountFactory(name="Operations", operations=True)
    users = {
        "alice": UserFactory(email="alice@acme.test", name="Alice"),
        "bob": UserFactory(email="bob@acme.test", name="Bob"),
        "charlie": UserFactory(email="charlie@globex.test", name="Charlie"),
        "olivia": UserFactory(email="olivia@ops.test", name="Olivia"),
    }
    MembershipFactory(user=users["alice"], account=a, role=Role.ADMINISTRATOR)
    MembershipFactory(user=users["bob"], account=a, role=Role.MEMBER)
    MembershipFactory(user=users["charlie"], account=b, role=Role.ADMINISTRATOR)
    MembershipFactory(user=users["olivia"], account=ops, role=Role.ADMINISTRATOR)
    tokens = {
        "a_full": TokenFactory(account=a, name="A robot", modules=["MOD-1756"]),
        "a_none": TokenFactory(account=a, name="A idle"),
        "b_full": TokenFactory(account=b, name="B robot", modules=["MOD-1756"]),
        "ops": TokenFactory(account=ops, name="Ops robot", modules=["MOD-6271"]),
        "ops_plain": TokenFactory(account=ops, name="Ops helper", modules=["MOD-1756"]),
    }
    target_a = TokenFactory(account=a, name="Target A", modules=["MOD-1756"])
    target_b = TokenFactory(
        account=b, name=CANARY, description=f"{CANARY} description", modules=["MOD-1756"]
    )
    with transaction.atomic():
        canary_record = record(
            event="extensions.canary.seen",
            obj=ObjectRef(id=target_b.public_id, name=CANARY, object_type="ApiToken"),
            actor=Actor.system(),
            account_id=b.public_id,
            summary=f"{CANARY} summary",
            details=f"{CANARY} details",
        )
    record_a = AuditRecord.objects.filter(account_id=a.public_id).first()
    assert record_a is not None
    event_type = EventType.objects.filter(key__startswith="platform.").order_by("pk").first()
    assert event_type is not None
    world = World(accounts={"A": a, "B": b, "ops": ops}, users=users, tokens=tokens)
    world.objects = {
        "token": {"A": target_a.public_id, "B": target_b.public_id},
        "record": {"A": record_a.public_id, "B": canary_record.public_id},
        "logo": {
            "A": logos.store(png(), "png", account_id=a.public_id),
            "B": logos.store(png(), "png", account_id=b.public_id),
        },
    }
    world.objects["event-type"] = {
        "global": event_type.public_id,
        "B": EventType.objects.get(key="extensions.canary.seen").public_id,
    }
    return world


def owners(route: Route) -> tuple[str, ...]:
    if route.owner in ("token", "record", "logo"):
        return ("A", "B", "self") if route.kind == "api" and route.owner == "token" else ("A", "B")
    if route.owner == "module":
        return ("global",)
    if route.owner == "event-type":
        return ("global", "B")
    return ("none",)


def url_for(route: Route, owner: str, caller: Caller, world: World) -> str:
    if owner == "self":
        assert caller.token is not None
        return route.url.format(token=world.tokens[caller.token].public_id)
    if route.owner in ("token", "record", "logo", "event-type"):
        value = world.objects[route.owner][owner]
        return route.url.format(**{route.owner.replace("-", "_"): value})
    return route.url


def client_for(caller: Caller, world: World, sessions: dict[str, str]) -> Client:
    client = Client()
    if caller.is_session:
        client.cookies["sessionid"] = sessions[caller.name]
    return client


def open_sessions(world: World) -> dict[str, str]:
    """One saved session per signed-in caller (recent sign-in, current account set)."""
    import time

    keys: dict[str, str] = {}
    for caller in CALLERS:
        if not caller.is_session:
            continue
        client = Client()
        client.force_login(world.users[caller.user or ""])
        session = client.session
        session[SESSION_ACCOUNT] = world.accounts[caller.account or "A"].public_id
        session[SESSION_AUTHENTICATED_AT] = time.time()
        session.save()
        keys[caller.name] = session.session_key or ""
    return keys


class Rollback(Exception):
    pass


def send(
    client: Client, caller: Caller, world: World, method: str, url: str, htmx: bool
) -> tuple[Any, str]:
    headers: dict[str, str] = {}
    if caller.token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[caller.token].plain_value}"
    if htmx:
        headers["HTTP_HX_REQUEST"] = "true"
    body = "{}" if method in ("POST", "PUT", "PATCH") and url.startswith("/public/") else None
    response: Any = None
    try:
        with transaction.atomic():
            if body is None:
                response = client.generic(method, url, secure=True, **headers)
            else:
                response = client.generic(
                    method, url, body, content_type="application/json", secure=True, **headers
                )
            text = body_of(response)
            raise Rollback
    except Rollback:
        pass
    return response, text


@pytest.fixture
def no_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of deliberately refused requests from one address are the point here."""
    monkeypatch.setattr(bearer.auth_failures, "limit", 10**9)


def test_the_matrix_has_no_mismatch_and_leaks_nothing_of_b_to_a(
    world: World, no_rate_limits: None
) -> None:
    sessions = open_sessions(world)
    mismatches: list[str] = []
    leaks: list[str] = []
    cells = 0
    for name, route in ROUTES.items():
        for caller in CALLERS:
            for owner in owners(route):
                if owner == "self" and caller.token is None:
                    continue
                url = url_for(route, owner, caller, world)
                for method in METHODS:
                    variants = [False, True] if route.kind not in ("api", "api-open") else [False]
                    for htmx in variants:
                        response, text = send(
                            client_for(caller, world, sessions), caller, world, method, url, htmx
                        )
                        cells += 1
                        want = expected(route, caller, owner, method, world)
                        if route.htmx_only and not htmx and want == ALLOWED:
                            want = MISSING  # a fragment-only URL answers 404 to a full page
                        got = classify(response, route)
                        if got != want:
                            mismatches.append(
                                f"{name} {method} {url} as {caller.name} ({owner}"
                                f"{', htmx' if htmx else ''}): expected {want}, got {got} "
                                f"({response.status_code})"
                            )
                        if caller.name in BLIND_TO_B and CANARY in text:
                            leaks.append(f"{name} {method} {url} as {caller.name}")
    assert cells > 1500
    assert mismatches == [], "\n".join(mismatches)
    assert leaks == [], "\n".join(leaks)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?account.id={b}",
        "?eq(account.id,{b})",
        "?ilike(name,*Zanzibar*)",
        "?or(eq(account.id,{a}),eq(account.id,{b}))",
        "?select=+modules,+audit&limit=100",
    ],
)
def test_no_token_list_or_filter_of_a_returns_b(
    world: World, no_rate_limits: None, query: str
) -> None:
    a, b = world.accounts["A"].public_id, world.accounts["B"].public_id
    for key in ("a_full",):
        client = Client()
        response = client.get(
            "/public/v1/accounts/api-tokens" + query.format(a=a, b=b),
            secure=True,
            HTTP_AUTHORIZATION=f"Bearer {world.tokens[key].plain_value}",
        )
        assert response.status_code == 200
        assert CANARY not in response.content.decode()
        assert all(t["account"]["id"] == a for t in response.json()["data"])


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?object.id={target}",
        "?eq(object.id,{target})",
        "?ilike(summary,*Zanzibar*)",
        "?event=extensions.canary.seen",
        "?limit=100&render()",
    ],
)
def test_no_audit_list_or_filter_of_a_returns_b(
    world: World, no_rate_limits: None, query: str
) -> None:
    target = world.objects["token"]["B"]
    for key in ("a_full", "a_none", "ops_plain"):
        response = Client().get(
            "/public/v1/audit/records" + query.format(target=target),
            secure=True,
            HTTP_AUTHORIZATION=f"Bearer {world.tokens[key].plain_value}",
        )
        assert response.status_code == 200, response.content
        assert CANARY not in response.content.decode()


@pytest.mark.parametrize(
    "query", ["", "?object={target}", "?event=extensions.canary.seen", "?format=csv"]
)
def test_no_audit_page_or_export_of_a_shows_b(world: World, query: str) -> None:
    sessions = open_sessions(world)
    target = world.objects["token"]["B"]
    for caller in CALLERS:
        if caller.name != "admin of A":
            continue
        client = client_for(caller, world, sessions)
        for path in ("/settings/audit-trail/", "/settings/audit-trail/download/"):
            response = client.get(path + query.format(target=target), secure=True)
            assert response.status_code == 200
            assert CANARY not in body_of(response)
