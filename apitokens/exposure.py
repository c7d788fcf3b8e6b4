"""Leaks: a token value seen where it must not be (issue 18 grows this module)."""

from __future__ import annotations

from typing import Final

from django.db import transaction

from apitokens.describe import actor_for_token, token_ref
from apitokens.models import ApiToken
from audit.recorder import record
from audit.types import RequestContext

EVENT_EXPOSED: Final = "platform.accounts.api_token.exposed"


def record_exposure(*, token: ApiToken, request: RequestContext | None = None) -> None:
    """A valid value arrived over plain HTTP: it must be treated as leaked."""
    with transaction.atomic():
        record(
            event=EVENT_EXPOSED,
            obj=token_ref(token),
            actor=actor_for_token(token),
            account_id=token.account.public_id,
            summary=f"API token {token.name} ({token.public_id}) was sent over plain HTTP",
            details="A valid value of this token arrived over plain HTTP "
            f"{(request or RequestContext()).where()}: it crossed the network unencrypted and "
            "must be treated as leaked. The request was refused; rotate the value.",
            request=request,
        )
