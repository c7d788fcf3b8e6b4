"""factory-boy factories. Tokens are made through the real service, so digest, ciphertext and
audit records are exactly what production writes; traits apply real transitions."""

from __future__ import annotations

from typing import Any

import factory
from django.db import transaction

from accounts.models import Account, AccountModule, AccountType, Membership, Module, Role, User
from apitokens import services
from apitokens.models import ApiToken
from audit.types import Actor


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    type = AccountType.CLIENT

    class Params:
        operations = factory.Trait(type=AccountType.OPERATIONS)
        vendor = factory.Trait(type=AccountType.VENDOR)

    @classmethod
    def _create(cls, model_class: type[Account], *args: Any, **kwargs: Any) -> Account:
        modules = kwargs.pop("modules", None)
        account = model_class(*args, **kwargs).insert()
        wanted = (
            Module.objects.filter(public_id__in=modules)
            if modules is not None
            else Module.objects.all()
        )
        for module in wanted:
            if module.applies_to(account.type):
                AccountModule.objects.create(account=account, module=module)
        return account


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Sequence(lambda n: f"User {n}")
    password = "correct horse battery staple"

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        return User.objects.create_user(*args, **kwargs)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory)
    role = Role.ADMINISTRATOR


class TokenFactory(factory.Factory):
    """Creates a token through ``services.create_token``; ``token.plain_value`` holds the value."""

    class Meta:
        model = ApiToken

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Robot {n}")
    description = ""
    modules: list[str] = []
    status = "Active"

    class Params:
        disabled = factory.Trait(status="Disabled")
        deleted = factory.Trait(status="Deleted")

    @classmethod
    def _create(cls, model_class: type[ApiToken], *args: Any, **kwargs: Any) -> ApiToken:
        status = kwargs.pop("status")
        module_ids = kwargs.pop("modules")
        account = kwargs.pop("account")
        actor = kwargs.pop("actor", None) or Actor.system()
        with transaction.atomic():
            created = services.create_token(
                account=account,
                modules=list(Module.objects.filter(public_id__in=module_ids)),
                actor=actor,
                **kwargs,
            )
            token = created.token
            if status in ("Disabled", "Deleted"):
                target = services.TokenStatus(status)
                token = services.change_status(token=token, to=target, actor=actor)
        token.plain_value = created.value  # type: ignore[attr-defined]
        return token

    @classmethod
    def _build(cls, model_class: type[ApiToken], *args: Any, **kwargs: Any) -> ApiToken:
        raise NotImplementedError("tokens only exist through services.create_token")
