from __future__ import annotations

from tokens_admin.errors import Conflict, NotFound


class TokenNotFound(NotFound):
    pass


class InvalidTransition(Conflict):
    """The token's current status does not allow the requested change."""

    def __init__(self, *, token_id: str, current: str, action: str) -> None:
        self.token_id = token_id
        self.current = current
        self.action = action
        super().__init__(f"API token {token_id} cannot be {action}: its status is {current}.")


class TokenDeleted(InvalidTransition):
    """Nothing leaves Deleted: no edit, no enable, no disable, no reveal."""


class AccountNotActive(Conflict):
    pass
