from __future__ import annotations

from typing import TYPE_CHECKING

from tokens_admin.errors import Conflict, NotFound, ValidationFailed

if TYPE_CHECKING:
    from apitokens.models import ApiToken


class TokenNotFound(NotFound):
    pass


class InvalidTransition(Conflict):
    """The token's current status does not allow the requested change (400, as SPEC 2 says
    the platform answers "Bad Request" naming the current status)."""

    status = 400

    def __init__(self, *, token_id: str, current: str, action: str) -> None:
        self.token_id = token_id
        self.current = current
        self.action = action
        super().__init__(f"API token {token_id} cannot be {action}: its status is {current}.")


class TokenDeleted(InvalidTransition):
    """Nothing leaves Deleted: no edit, no enable, no disable, no reveal."""


class TokenExpired(Conflict):
    """Enable (or rotate) a token past its expiry: it would still not authenticate."""

    def __init__(self, token_id: str, *, action: str = "enabled") -> None:
        super().__init__(
            f"API token {token_id} has expired and cannot be {action} until it has a new "
            "expiry: set expiresAt first."
        )


class AccountNotActive(Conflict):
    pass


class ModuleNotEnabled(ValidationFailed):
    """A module the account does not have: a field error for forms, 409 for the API (the
    request is valid; the account's current modules refuse it)."""

    status = 409

    def __init__(self, module_ids: list[str]) -> None:
        super().__init__({"modules": [f"Not enabled for this account: {', '.join(module_ids)}."]})
        self.message = f"Module(s) not enabled for this account: {', '.join(module_ids)}."


class AlreadyCreated(Conflict):
    """A create with a creation key (the Add wizard's nonce) that an earlier create used: the
    same wizard posted twice, at once or later. ``token`` is what the first one made."""

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        super().__init__(f"API token {token.public_id} was already created by this form.")
