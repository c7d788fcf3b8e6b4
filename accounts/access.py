"""Who is signed in, which account they act on, and whether they may.

The current account lives in the session (``SESSION_ACCOUNT``). A user acts on an account they
are a member of; an Administrator of an Operations account (an operator) may act on any
account. Only Administrators of the current account (and operators) reach the token and audit
pages; everyone else gets the 403 page. Objects are always looked up inside the current
account, so an id of another account answers 404, as if it did not exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse

from accounts.models import Account, AccountType, Membership, Role, User
from accounts.services import actor_for_user
from audit.types import Actor

SESSION_ACCOUNT = "ui_account"
SESSION_AUTHENTICATED_AT = "ui_authenticated_at"


class AdminRequired(PermissionDenied):
    """Signed in, but not an Administrator of the current account."""


@dataclass(frozen=True, slots=True)
class Access:
    """Who acts, on which account, in which capacity."""

    user: User
    account: Account
    # The membership the user acts through: in ``account`` itself, or in their Operations
    # account when an operator acts on another account.
    home: Account
    role: str
    is_operator: bool

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMINISTRATOR or self.is_operator

    @property
    def visible_account_pk(self) -> int:
        """The pages show the current account's tokens only (``apitokens.selectors``)."""
        return self.account.pk

    @property
    def sees_deleted(self) -> bool:
        """Only Operations users see Deleted tokens (marked, read-only)."""
        return self.home.type == AccountType.OPERATIONS

    @property
    def actor(self) -> Actor:
        return actor_for_user(self.user, self.home)


# Resolved once per request (the header, the view and the context processor all ask); held
# beside the request rather than on it, so the request keeps its declared attributes.
_resolved: WeakKeyDictionary[HttpRequest, Access] = WeakKeyDictionary()


def memberships(user: User) -> list[Membership]:
    return list(
        Membership.objects.filter(user=user, account__status="Active")
        .select_related("account")
        .order_by("account__name")
    )


def operator_membership(found: list[Membership]) -> Membership | None:
    for membership in found:
        if (
            membership.account.type == AccountType.OPERATIONS
            and membership.role == Role.ADMINISTRATOR
        ):
            return membership
    return None


def resolve_access(request: HttpRequest) -> Access | None:
    """The signed-in user's access to the session's current account, or None if anonymous."""
    cached = _resolved.get(request)
    if cached is not None:
        return cached
    user = request.user
    if not user.is_authenticated or not isinstance(user, User):
        return None
    found = memberships(user)
    if not found:
        raise PermissionDenied("You are not a member of any active account.")
    wanted = request.session.get(SESSION_ACCOUNT)
    operator = operator_membership(found)
    access: Access | None = None
    for membership in found:
        if membership.account.public_id == wanted:
            access = Access(
                user=user,
                account=membership.account,
                home=membership.account,
                role=membership.role,
                is_operator=membership is operator,
            )
    if access is None and operator is not None and wanted:
        account = Account.objects.filter(public_id=wanted).first()
        if account is not None:
            access = Access(
                user=user,
                account=account,
                home=operator.account,
                role=operator.role,
                is_operator=True,
            )
    if access is None:
        first = operator or found[0]
        request.session[SESSION_ACCOUNT] = first.account.public_id
        access = Access(
            user=user,
            account=first.account,
            home=first.account,
            role=first.role,
            is_operator=first is operator,
        )
    _resolved[request] = access
    return access


def require_admin(request: HttpRequest) -> Access:
    """Access for the token and audit pages; the 403 page for anyone but an Administrator.

    Anonymous users never get here: the views are wrapped in ``login_required``.
    """
    access = resolve_access(request)
    if access is None:
        raise PermissionDenied("Sign in first.")
    if not access.is_admin:
        raise AdminRequired(
            f"Only Administrators of {access.account.name} can see API tokens and the audit trail."
        )
    return access


def forget_access(request: HttpRequest) -> None:
    """The current account changed: the next ``resolve_access`` reads it again."""
    _resolved.pop(request, None)


def landing_url(access: Access) -> str:
    """Where a user starts (after sign-in, a switch, or at ``/``): the token list for those who
    may see it; for everyone else the page that says what they may do, never a 403."""
    return reverse("ui:tokens") if access.is_admin else reverse("ui:account")


def mark_authenticated(request: HttpRequest) -> None:
    request.session[SESSION_AUTHENTICATED_AT] = time.time()


def recently_authenticated(request: HttpRequest) -> bool:
    """Did the user type their password within ``REVEAL_REAUTH_MINUTES``?"""
    at = request.session.get(SESSION_AUTHENTICATED_AT)
    if not isinstance(at, int | float):
        return False
    return time.time() - at <= settings.REVEAL_REAUTH_MINUTES * 60
