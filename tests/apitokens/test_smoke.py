from __future__ import annotations

from apitokens.models import TokenStatus
from audit.models import AuditRecord
from tests.factories import TokenFactory


def test_it_creates_tokens_through_the_service(acme):
    token = TokenFactory(account=acme, modules=["MOD-1756"])
    assert token.status == TokenStatus.ACTIVE
    assert token.plain_value.startswith(f"idt:{token.public_id}:")
    assert AuditRecord.objects.filter(object_id=token.public_id).count() == 1


def test_it_applies_traits(acme):
    assert TokenFactory(account=acme, disabled=True).status == TokenStatus.DISABLED
    assert TokenFactory(account=acme, deleted=True).status == TokenStatus.DELETED
