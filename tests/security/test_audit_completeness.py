"""Issue 6 item 4: the audit trail is complete, whatever happens.

A hypothesis state machine drives random sequences of create, edit, enable, disable, delete,
reveal and copy through the real lifecycle services, including refused transitions (enable an
Active token, anything on a Deleted one), invalid input, and database errors injected in the
middle of a transaction: at the SQL level (the token write, the audit INSERT, the chain-head
UPDATE fail with ``OperationalError``) and after ``record()`` has already written its row. A
plain model says which records must exist; after every step the account's chain must equal the
model record for record (no missing, extra or reordered record, nothing for what rolled back)
and every token must equal its model. Each sequence ends with ``manage.py audit verify`` on its
chain.

Each sequence works in an account of its own, so it has a chain of its own and needs no
cleanup; everything is rolled back with the test's transaction at the end.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts.models import Module
from apitokens import rules, services
from apitokens.errors import InvalidTransition, ModuleNotEnabled, TokenDeleted
from apitokens.models import ApiToken, TokenStatus
from audit.models import AuditRecord
from audit.types import Actor, ActorType
from tests.factories import AccountFactory
from tokens_admin.errors import ValidationFailed

SEQUENCES = 300
STEPS = 10

# The modules a Client account gets from AccountFactory, and one it can never have.
CLIENT_MODULES = ("MOD-0478", "MOD-1425", "MOD-1756", "MOD-4525", "MOD-9042")
FOREIGN_MODULE = "MOD-8352"  # Catalog Management: Vendor and Operations only

VALID_NAMES = ("Robot", "CRM robot", 'O\'Brien "bot"', "Zoë-2.0", "روبوت", "Robot")
INVALID_NAMES = ("", "   ", "<b>bold</b>", "tab\there", "x" * 201, "{{ name }}", "rtl\u200fmark")
DESCRIPTIONS = ("", "Nightly export", "line one\r\nline two", "<script>x</script>", "{{ x }}")

# Where a fault can be injected: a write statement, matched on its SQL, that fails with the
# error a lost connection or a full disk would raise; or an error right after record() wrote.
SQL_FAULTS = {
    "token-write": re.compile(r'^\s*(INSERT INTO|UPDATE) "apitokens_apitoken"\s'),
    "audit-insert": re.compile(r'^\s*INSERT INTO "audit_auditrecord"\s'),
    "chain-update": re.compile(r'^\s*UPDATE "audit_auditchain"\s'),
}
AFTER_RECORD = "after-record"
FAULTS = (None, None, None, *SQL_FAULTS, AFTER_RECORD)

ALICE = Actor(id="USR-0000-0001", name="Alice Admin", type=ActorType.USER)
ACTORS = (Actor.system(), ALICE)
STATUS_SERVICES: dict[str, Callable[..., ApiToken]] = {
    TokenStatus.ACTIVE: services.enable_token,
    TokenStatus.DISABLED: services.disable_token,
    TokenStatus.DELETED: services.delete_token,
}


@dataclass(frozen=True)
class TokenModel:
    public_id: str
    name: str
    description: str
    modules: frozenset[str]
    status: str
    value: str


@dataclass(frozen=True)
class Expected:
    """What one audit record must say, reduced to what the model can predict."""

    event: str
    object_id: str
    actor_id: str
    facts: tuple[Any, ...]


@dataclass
class Stats:
    sequences: int = 0
    steps: int = 0
    records: int = 0
    refused: int = 0
    faults: int = 0
    mismatches: int = 0
    by_fault: dict[str, int] = field(default_factory=dict)


def facts_of(entry: AuditRecord) -> tuple[Any, ...]:
    """The model-comparable content of a stored record."""
    docs = entry.documents
    if entry.event_key == services.EVENT_CREATED:
        snap = docs["token"]
        return (
            snap["name"],
            snap["description"],
            frozenset(m["id"] for m in snap["modules"]),
            snap["status"],
        )
    if entry.event_key == services.EVENT_UPDATED:
        changes = []
        for name, change in sorted(docs["changes"].items()):
            before, after = change["before"], change["after"]
            if name == "modules":
                before, after = frozenset(before), frozenset(after)
            changes.append((name, before, after))
        return (tuple(changes), docs["token"]["name"], docs["token"]["status"])
    if entry.event_key == services.EVENT_STATUS_CHANGED:
        return (docs["status"]["from"], docs["status"]["to"], docs["token"]["status"])
    return ()


class Injector:
    """A database execute wrapper that fails the first statement matching ``fault``."""

    def __init__(self, fault: str | None) -> None:
        self.fault = fault
        self.fired = False

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        pattern = SQL_FAULTS.get(self.fault or "")
        if pattern is not None and not self.fired and pattern.match(sql):
            self.fired = True
            raise OperationalError(f"injected fault: {self.fault}")
        return execute(sql, params, many, context)


@contextmanager
def injected(fault: str | None) -> Iterator[Injector]:
    injector = Injector(fault)
    real_record = services.record

    def record_then_fail(**kwargs: Any) -> AuditRecord:
        real_record(**kwargs)  # the row is written inside the transaction...
        injector.fired = True
        raise OperationalError("injected fault: after the audit record")  # ...then it fails

    with connection.execute_wrapper(injector):
        if fault == AFTER_RECORD:
            with mock.patch.object(services, "record", record_then_fail):
                yield injector
        else:
            yield injector


class AuditMachine(RuleBasedStateMachine):
    stats: ClassVar[Stats] = Stats()

    def __init__(self) -> None:
        super().__init__()
        self.account = AccountFactory(name="Sequence")
        self.module_objects = {m.public_id: m for m in Module.objects.all()}
        enabled = set(self.account.accountmodule_set.values_list("module__public_id", flat=True))
        assert enabled == set(CLIENT_MODULES)
        self.tokens: list[TokenModel] = []
        self.expected: list[Expected] = []

    # --- helpers --------------------------------------------------------------------------

    def _modules(self, ids: frozenset[str]) -> list[Module]:
        return [self.module_objects[i] for i in sorted(ids)]

    def _run(
        self,
        fault: str | None,
        *,
        will_write: bool,
        writes_token: bool,
        refusal: type[Exception] | None,
        call: Callable[[], Any],
    ) -> Any:
        """Run ``call`` with ``fault`` armed; check it fails exactly when the model says so.

        Returns the result, or None when the call was refused or failed (and so must have
        changed nothing).
        """
        self.stats.steps += 1
        fires = will_write and fault is not None and (fault != "token-write" or writes_token)
        failure: Exception | None = None
        with injected(fault) as injector:
            try:
                result = call()
            except (OperationalError, ValidationFailed, InvalidTransition) as exc:
                failure = exc
        if isinstance(failure, OperationalError):
            assert fires, f"unexpected database error: {failure}"
            assert injector.fired
            assert "injected fault" in str(failure)
            self.stats.faults += 1
            self.stats.by_fault[str(fault)] = self.stats.by_fault.get(str(fault), 0) + 1
            return None
        if failure is not None:
            assert refusal is not None, f"refused unexpectedly: {failure!r}"
            assert type(failure) is refusal, f"expected {refusal.__name__}, got {failure!r}"
            assert not injector.fired
            self.stats.refused += 1
            return None
        assert refusal is None, f"expected {refusal} but the call succeeded"
        assert not fires, f"fault {fault} was armed on a write but nothing failed"
        return result

    def _pick(self, index: int) -> tuple[int, TokenModel]:
        position = index % len(self.tokens)
        return position, self.tokens[position]

    # --- rules ----------------------------------------------------------------------------

    @initialize(
        name=st.sampled_from(VALID_NAMES),
        modules=st.frozensets(st.sampled_from(CLIENT_MODULES)),
    )
    def first_token(self, name: str, modules: frozenset[str]) -> None:
        self.create(name, "", modules, None, ACTORS[0])

    @rule(
        name=st.sampled_from(VALID_NAMES + INVALID_NAMES),
        description=st.sampled_from(DESCRIPTIONS),
        modules=st.frozensets(st.sampled_from((*CLIENT_MODULES, FOREIGN_MODULE)), max_size=3),
        fault=st.sampled_from(FAULTS),
        actor=st.sampled_from(ACTORS),
    )
    def create(
        self,
        name: str,
        description: str,
        modules: frozenset[str],
        fault: str | None,
        actor: Actor,
    ) -> None:
        refusal: type[Exception] | None = None
        if rules.validate_fields(name=name, description=description):
            refusal = ValidationFailed
        elif FOREIGN_MODULE in modules:
            refusal = ModuleNotEnabled
        created = self._run(
            fault,
            will_write=refusal is None,
            writes_token=True,
            refusal=refusal,
            call=lambda: services.create_token(
                account=self.account,
                name=name,
                description=description,
                modules=self._modules(modules),
                actor=actor,
            ),
        )
        if created is None:
            return
        model = TokenModel(
            public_id=created.token.public_id,
            name=name,
            description=description,
            modules=modules,
            status=TokenStatus.ACTIVE,
            value=created.value,
        )
        self.tokens.append(model)
        self.expected.append(
            Expected(
                services.EVENT_CREATED,
                model.public_id,
                actor.id,
                (name, description, modules, TokenStatus.ACTIVE),
            )
        )

    @precondition(lambda self: self.tokens)
    @rule(
        index=st.integers(0, 1000),
        name=st.none() | st.sampled_from(VALID_NAMES + INVALID_NAMES[:3]),
        description=st.none() | st.sampled_from(DESCRIPTIONS),
        modules=st.none()
        | st.frozensets(st.sampled_from((*CLIENT_MODULES, FOREIGN_MODULE)), max_size=3),
        fault=st.sampled_from(FAULTS),
        actor=st.sampled_from(ACTORS),
    )
    def edit(
        self,
        index: int,
        name: str | None,
        description: str | None,
        modules: frozenset[str] | None,
        fault: str | None,
        actor: Actor,
    ) -> None:
        position, token = self._pick(index)
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = name
        if description is not None:
            fields["description"] = description
        # The service checks input first, then the status, then the modules.
        refusal: type[Exception] | None = None
        if rules.validate_fields(**fields):
            refusal = ValidationFailed
        elif token.status == TokenStatus.DELETED:
            refusal = TokenDeleted
        elif modules is not None and FOREIGN_MODULE in modules:
            refusal = ModuleNotEnabled
        if modules is not None:
            fields["modules"] = self._modules(modules)
        changes: list[tuple[str, Any, Any]] = []
        after = token
        for key in ("description", "modules", "name"):
            wanted = {"name": name, "description": description, "modules": modules}[key]
            if wanted is not None and getattr(token, key) != wanted:
                changes.append((key, getattr(token, key), wanted))
                after = replace(after, **{key: wanted})
        will_write = refusal is None and bool(changes)
        result = self._run(
            fault,
            will_write=will_write,
            writes_token=True,
            refusal=refusal,
            call=lambda: services.update_token(token=token.public_id, actor=actor, **fields),
        )
        if result is None or not changes:
            return
        self.tokens[position] = after
        self.expected.append(
            Expected(
                services.EVENT_UPDATED,
                token.public_id,
                actor.id,
                (tuple(changes), after.name, after.status),
            )
        )

    @precondition(lambda self: self.tokens)
    @rule(
        index=st.integers(0, 1000),
        to=st.sampled_from(list(STATUS_SERVICES)),
        fault=st.sampled_from(FAULTS),
        actor=st.sampled_from(ACTORS),
    )
    def change_status(self, index: int, to: str, fault: str | None, actor: Actor) -> None:
        position, token = self._pick(index)
        allowed = (token.status, to) in services.TRANSITIONS
        refusal: type[Exception] | None = None
        if not allowed:
            refusal = TokenDeleted if token.status == TokenStatus.DELETED else InvalidTransition
        service = STATUS_SERVICES[to]
        result = self._run(
            fault,
            will_write=allowed,
            writes_token=True,
            refusal=refusal,
            call=lambda: service(token=token.public_id, actor=actor),
        )
        if result is None:
            return
        self.tokens[position] = replace(token, status=to)
        self.expected.append(
            Expected(
                services.EVENT_STATUS_CHANGED,
                token.public_id,
                actor.id,
                (token.status, to, to),
            )
        )

    @precondition(lambda self: self.tokens)
    @rule(
        index=st.integers(0, 1000),
        copied=st.booleans(),
        fault=st.sampled_from(FAULTS),
        actor=st.sampled_from(ACTORS),
    )
    def reveal(self, index: int, copied: bool, fault: str | None, actor: Actor) -> None:
        _, token = self._pick(index)
        deleted = token.status == TokenStatus.DELETED
        value = self._run(
            fault,
            will_write=not deleted,
            writes_token=False,  # a reveal reads the token and writes only its record
            refusal=TokenDeleted if deleted else None,
            call=lambda: services.reveal_value(token=token.public_id, actor=actor, copied=copied),
        )
        if value is None:
            return
        assert value == token.value
        event = services.EVENT_VALUE_COPIED if copied else services.EVENT_VALUE_REVEALED
        self.expected.append(Expected(event, token.public_id, actor.id, ()))

    # --- what must hold after every step ---------------------------------------------------

    @invariant()
    def trail_equals_the_model(self) -> None:
        stored = [
            Expected(r.event_key, r.object_id, r.actor_id, facts_of(r))
            for r in AuditRecord.objects.filter(chain=self.account.public_id).order_by("seq")
        ]
        if stored != self.expected:
            self.stats.mismatches += 1
        assert stored == self.expected

    @invariant()
    def tokens_equal_the_model(self) -> None:
        rows = {
            t.public_id: t
            for t in ApiToken.objects.filter(account=self.account).prefetch_related("modules")
        }
        # Nothing half-written: no token row for a create that rolled back.
        assert set(rows) == {t.public_id for t in self.tokens}
        for model in self.tokens:
            row = rows[model.public_id]
            assert (row.name, row.description, row.status) == (
                model.name,
                model.description,
                model.status,
            )
            assert {m.public_id for m in row.modules.all()} == model.modules

    def teardown(self) -> None:
        out = io.StringIO()
        call_command("audit", "verify", "--account", self.account.public_id, "--json", stdout=out)
        verdict = json.loads(out.getvalue())
        assert verdict["ok"] is True, verdict
        assert verdict["chains"][0]["records"] == len(self.expected)
        self.stats.sequences += 1
        self.stats.records += len(self.expected)


@pytest.mark.django_db
def test_it_records_exactly_what_committed_over_300_random_sequences() -> None:
    stats = AuditMachine.stats = Stats()
    run_state_machine_as_test(
        AuditMachine,
        settings=settings(
            max_examples=SEQUENCES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
    print(f"audit completeness: {stats}")  # the figures docs/security.md quotes
    assert stats.sequences >= SEQUENCES
    assert stats.mismatches == 0
    # The run exercised what it claims to: every fault point fired and rolled back, and
    # refusals happened, many times over.
    assert set(stats.by_fault) == {*SQL_FAULTS, AFTER_RECORD}
    assert min(stats.by_fault.values()) >= 20
    assert stats.refused >= 100
