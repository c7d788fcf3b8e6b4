from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection
from hypothesis import HealthCheck, settings

from accounts.models import Account, Module, Role, User
from audit import triggers
from tests.factories import AccountFactory, MembershipFactory, UserFactory

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("default")

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def require_postgres() -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) unless the suite runs on PostgreSQL."""
    if connection.vendor != "postgresql":
        message = "needs PostgreSQL: run with DATABASE_URL=postgres://..."
        if REQUIRE_SERVICES:
            pytest.fail(message + " (REQUIRE_SERVICES=1)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's, plus one step before it drops the test database: on PostgreSQL, end
    the sessions other code left on it (a test running an event loop, as Playwright's sync API
    does, gets a connection of its own that nothing closes), or DROP DATABASE fails with
    "is being accessed by other users" now and then, depending on the garbage collector."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True, scope="session")
def _flush_around_audit_triggers(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Transactional tests empty every table between tests; the append-only triggers would
    refuse that for the audit table, so the test flush (and only it) lifts them around itself."""
    # Patched on the class, not on ``connection.ops``: a test that runs an event loop in its
    # thread (Playwright's sync API) gets a connection object of its own.
    operations = type(connection.ops)
    original = operations.sql_flush

    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        statements = original(self, style, tables, **kwargs)
        if triggers.TABLE not in tables:
            return statements
        vendor = self.connection.vendor
        return [*triggers.drop_sql(vendor), *statements, *triggers.install_sql(vendor)]

    # A live server may still be writing a response's after-the-answer work (lastAccessAt,
    # the usage buffer's flush) when the test ends; PostgreSQL can then pick the flush's
    # TRUNCATE as a deadlock's victim. The flush is tried again: the server's write is done.
    original_execute = operations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: Any) -> None:
        for attempt in range(5):
            try:
                original_execute(self, sql_list)
                return
            except OperationalError as exc:
                if "deadlock" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2)

    operations.sql_flush = sql_flush  # type: ignore[method-assign]
    operations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    operations.sql_flush = original  # type: ignore[method-assign]
    operations.execute_sql_flush = original_execute  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fresh_usage_buffers() -> Iterator[None]:
    """The usage buffer (issue 17) and the blocked-use memory are per process: a token id a
    test made may be another test's, so each starts empty and ends empty."""
    from apitokens import blocking, usage

    usage.reset()
    blocking.forget()
    yield
    usage.reset()
    blocking.forget()


@pytest.fixture(autouse=True)
def _module_catalogue(request: pytest.FixtureRequest) -> None:
    """Transactional tests flush every table afterwards, the module catalogue (seeded by a data
    migration) included; put it back before each one."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction", False)
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    catalogue = importlib.import_module("accounts.migrations.0002_module_catalogue")
    for public_id, name, code, account_types, description in catalogue.CATALOGUE:
        Module.objects.update_or_create(
            public_id=public_id,
            defaults={
                "name": name,
                "code": code,
                "account_types": account_types,
                "description": description,
            },
        )


# --- Personas: alice administers Acme, bob is a member there, charlie administers Globex,
# --- olivia is an operator. -------------------------------------------------------------------


@pytest.fixture
def acme(db: None) -> Account:
    return AccountFactory(name="Acme")


@pytest.fixture
def globex(db: None) -> Account:
    return AccountFactory(name="Globex", vendor=True)


@pytest.fixture
def ops_account(db: None) -> Account:
    return AccountFactory(name="SoftwareOne Operations", operations=True)


@pytest.fixture
def alice(acme: Account) -> User:
    user = UserFactory(email="alice@acme.test", name="Alice Admin")
    MembershipFactory(user=user, account=acme, role=Role.ADMINISTRATOR)
    return user


@pytest.fixture
def bob(acme: Account) -> User:
    user = UserFactory(email="bob@acme.test", name="Bob Member")
    MembershipFactory(user=user, account=acme, role=Role.MEMBER)
    return user


@pytest.fixture
def charlie(globex: Account) -> User:
    user = UserFactory(email="charlie@globex.test", name="Charlie Outsider")
    MembershipFactory(user=user, account=globex, role=Role.ADMINISTRATOR)
    return user


@pytest.fixture
def olivia(ops_account: Account) -> User:
    user = UserFactory(email="olivia@swo.test", name="Olivia Operator")
    MembershipFactory(user=user, account=ops_account, role=Role.ADMINISTRATOR)
    return user
