"""The Add wizard's Summary shows a new token's value once, to its creator (issue 15)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from django.utils import timezone

from apitokens.models import ApiToken, CreationKey, TokenStatus
from apitokens.services import decrypt_value
from audit.types import Actor

# How long after its create the wizard's Summary may still show a new value (its first GET
# follows the create's redirect at once; a page opened later points to the details page).
NEW_VALUE_WINDOW: Final = timedelta(minutes=10)


def claim_new_value(*, token: ApiToken, actor: Actor) -> str | None:
    """The value of a token the Add wizard just made, for its creator's Summary, to one call
    only: a conditional UPDATE claims it, so two requests at once cannot both show it. ``None``
    for anyone else, once shown, after ``NEW_VALUE_WINDOW``, or for a token made without a
    creation key. (No audit record: the value is shown as part of its create.)"""
    if (
        token.created_by_id != actor.id
        or token.status == TokenStatus.DELETED
        or token.created_at < timezone.now() - NEW_VALUE_WINDOW
    ):
        return None
    claimed = CreationKey.objects.filter(token=token, value_shown=False).update(value_shown=True)
    return decrypt_value(token) if claimed else None
