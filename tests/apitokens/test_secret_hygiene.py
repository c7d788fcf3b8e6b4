"""A canary token's value, digest and ciphertext appear in no log line and no audit record."""

from __future__ import annotations

import json
import logging

import pytest
from django.core import serializers
from django.db import connection

from accounts.models import Module
from apitokens import exposure, services
from audit.models import AuditRecord
from audit.types import Actor, RequestContext
from tests.factories import TokenFactory


@pytest.fixture
def sql_logging():
    """Turn on Django's SQL debug logging, which interpolates every query parameter."""
    connection.force_debug_cursor = True
    try:
        yield
    finally:
        connection.force_debug_cursor = False


def test_it_keeps_the_value_digest_and_ciphertext_out_of_logs_and_audit(acme, caplog, sql_logging):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    actor = Actor.system()
    request = RequestContext(ip="192.0.2.1", user_agent="canary", trace_id="")
    token = TokenFactory(account=acme, name="Canary", modules=["MOD-1756"])
    value = token.plain_value
    services.update_token(
        token=token,
        description="rotated by the canary test",
        modules=list(Module.objects.filter(public_id="MOD-4525")),
        actor=actor,
        request=request,
    )
    services.reveal_value(token=token, actor=actor, request=request)
    services.disable_token(token=token, actor=actor, request=request)
    services.enable_token(token=token, actor=actor, request=request)
    exposure.record_exposure(token=token, request=request)
    services.delete_token(token=token, actor=actor, request=request)
    token.refresh_from_db()
    canaries = {
        "value": value,
        "secret part": value.rsplit(":", 1)[1],
        "digest": token.digest,
        "ciphertext": token.ciphertext.split(":", 1)[1],
    }

    sql_lines = [r for r in caplog.records if r.name == "django.db.backends"]
    assert sql_lines, "SQL debug logging should have produced records to scan"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for name, canary in canaries.items():
        assert canary not in logged, f"{name} leaked into the logs"

    audit_dump = serializers.serialize("json", AuditRecord.objects.all())
    assert json.loads(audit_dump)
    for name, canary in canaries.items():
        assert canary not in audit_dump, f"{name} leaked into the audit trail"
