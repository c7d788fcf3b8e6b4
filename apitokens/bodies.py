"""The bodies of ``POST`` and ``PUT /public/v1/accounts/api-tokens``: their shape, declared
once for the parser and for ``openapi.json``. The rules of a name, a description and an icon
(required, length, characters, no token value inside) are ``rules.validate_fields``'s,
which the pages and the commands share; the schema only describes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, StrictStr

from apitokens import networks, rules
from tokens_admin.bodies import Body, Reference, text

# Letters and digits of any script, spaces and - . ' " ; not only spaces (rules.NAME_RE).
# Written without a lookahead (leading spaces, one non-space, then anything allowed): the same
# language, and generators such as Schemathesis draw from it many times faster.
NAME_PATTERN = r"^ *(?:[^\W_]|[\-.'\"])(?:[^\W_]|[ \-.'\"])*$"
ACCOUNT_ID_PATTERN = r"^ACC-[0-9]{4}-[0-9]{4}$"

Name = Annotated[
    StrictStr,
    text(documented={"pattern": NAME_PATTERN, "minLength": 1, "maxLength": rules.NAME_MAX}),
]
Description = Annotated[StrictStr | None, text(documented={"maxLength": rules.DESCRIPTION_MAX})]
Icon = Annotated[StrictStr | None, text(documented={"maxLength": rules.ICON_MAX})]


# An ISO-8601 date-time, UTC when it names no offset (parsed by the handler, which names the
# field in the one 400 with every other error).
ExpiresAt = Annotated[StrictStr | None, text(documented={"format": "date-time", "maxLength": 64})]


# A CIDR range or one address (apitokens.networks, which the service applies and which names
# every bad entry in one 400).
IpRange = Annotated[StrictStr, text(documented={"maxLength": networks.MAX_ENTRY})]
AllowedIps = Annotated[list[IpRange], Field(json_schema_extra={"maxItems": networks.MAX_RANGES})]


class ModuleRef(Reference):
    # Only the catalogue's ids exist; one in this shape that names no module is a 400 field
    # error of ``modules`` (no schema can list which exist).
    id: Annotated[StrictStr, text(documented={"pattern": r"^MOD-\d{4}$"})]


class AccountRef(Reference):
    id: Annotated[StrictStr, text(pattern=ACCOUNT_ID_PATTERN)]


class ApiTokenUpdate(Body):
    """Only the fields sent change; ``null`` clears a description or an icon. ``account``
    may be sent back unchanged (a client returning a token it read), never changed."""

    # Defaults from factories, not ``X | None``: an explicit null is refused where it means
    # nothing, and ``sent()`` tells an absent field from a default one.
    account: AccountRef = Field(default_factory=lambda: AccountRef.model_construct(id=""))
    name: Name = Field(default_factory=str)
    description: Description = None
    icon: Icon = None
    modules: list[ModuleRef] = Field(default_factory=list)
    # ``null`` (or absent on create): never expires, where the account's policy allows it.
    expiresAt: ExpiresAt = None
    # Where the token may be used from; empty: any address.
    allowedIps: AllowedIps = Field(default_factory=list)


class ApiTokenCreate(ApiTokenUpdate):
    """A new token; ``account`` defaults to the caller's. The name is required by the
    service's rules (so that one answer names every field at once)."""

    model_config = {**ApiTokenUpdate.model_config, "json_schema_extra": {"required": ["name"]}}


class RotateBody(Body):
    """``POST …/{id}/rotate``: how long the replaced value keeps working, in seconds (0: it
    stops at once, an emergency rotation; at most 7 days). The body may be left out."""

    gracePeriod: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 3600)] = 24 * 3600
