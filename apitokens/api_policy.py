"""``/public/v1/accounts/api-token-policy`` (issue 16): the caller's account's token lifetime
policy; Operations with Platform Account Management name another account with
``?account.id=ACC-…``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from pydantic import Field, StrictBool, StrictInt

from accounts.errors import AccountNotFound
from accounts.models import Account
from apitokens import policy as policies
from apitokens.api import SCOPE
from apitokens.lifetime import MAX_LIFETIME_DAYS
from apitokens.models import ApiToken, TokenPolicy
from apitokens.rules import UNSET
from audit.types import Actor
from tokens_admin.api import Principal, drop_nulls, endpoint, iso, json_body, json_response
from tokens_admin.bodies import Body, parse
from tokens_admin.errors import ValidationFailed
from tokens_admin.requests import request_context

ACCOUNT_ID_RE = re.compile(r"^ACC-[0-9]{4}-[0-9]{4}$")


class TokenPolicyUpdate(Body):
    """Only the fields sent change. ``maxLifetimeDays`` ``null``: no maximum."""

    maxLifetimeDays: Annotated[StrictInt | None, Field(ge=1, le=MAX_LIFETIME_DAYS)] = None
    requireExpiry: StrictBool = False


def _account(request: HttpRequest, principal: Principal) -> Account:
    wanted = request.GET.get("account.id")
    if wanted is None or wanted == principal.account_id:
        return Account.objects.get(pk=principal.account_pk)
    if not ACCOUNT_ID_RE.fullmatch(wanted):
        raise ValidationFailed({"account.id": ["Must be an account id such as ACC-1234-5678."]})
    found = (
        Account.objects.filter(public_id=wanted).first() if principal.sees_all_accounts else None
    )
    if found is None:
        raise AccountNotFound(f"Account {wanted} was not found.")  # unknown and foreign alike
    return found


def _token_json(token: ApiToken) -> dict[str, Any]:
    return drop_nulls(
        {"id": token.public_id, "name": token.name, "expiresAt": iso(token.expires_at)}
    )


def policy_json(policy: TokenPolicy, account: Account) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account": {"id": account.public_id, "name": account.name},
        "maxLifetimeDays": policy.max_lifetime_days,
        "requireExpiry": policy.require_expiry,
    }
    if policy.updated_by_id:
        data["audit"] = {
            "updated": {
                "at": iso(policy.updated_at),
                "by": {"id": policy.updated_by_id, "name": policy.updated_by_name},
            }
        }
    return drop_nulls(data)


def get_policy(request: HttpRequest, principal: Principal) -> HttpResponse:
    account = _account(request, principal)
    return json_response(policy_json(policies.policy_of(account), account))


def put_policy(request: HttpRequest, principal: Principal) -> HttpResponse:
    account = _account(request, principal)
    body = parse(TokenPolicyUpdate, json_body(request))
    sent = body.sent()
    change = policies.update_policy(
        account=account,
        max_lifetime_days=body.maxLifetimeDays if "maxLifetimeDays" in sent else UNSET,
        require_expiry=body.requireExpiry if "requireExpiry" in sent else UNSET,
        actor=Actor.api_token(principal),
        request=request_context(request),
    )
    data = policy_json(change.policy, account)
    # What the new rules would refuse today; nothing was shortened (``manage.py accounts
    # policy … --apply`` does that).
    data["exceeding"] = [_token_json(t) for t in change.exceeding]
    return json_response(data)


policy_view = endpoint(SCOPE, GET=get_policy, PUT=put_policy)
