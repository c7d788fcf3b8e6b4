from __future__ import annotations

from tokens_admin.errors import Conflict, NotFound


class AccountNotFound(NotFound):
    pass


class UserNotFound(NotFound):
    pass


class ModuleNotFound(NotFound):
    pass


class ModuleNotApplicable(Conflict):
    """The module is not offered to accounts of this type."""
