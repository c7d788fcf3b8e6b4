"""Reads the pages share about accounts and their people."""

from __future__ import annotations

from accounts.models import Account, Role, User


def administrators_of(account: Account) -> list[User]:
    """The active Administrators of ``account``, by name: whom a Member asks for access."""
    return list(
        User.objects.filter(
            memberships__account=account,
            memberships__role=Role.ADMINISTRATOR,
            is_active=True,
        ).order_by("name", "email")
    )
