"""Accounts, users, memberships and which modules an account has. Each function is one
transaction that writes its own audit record."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.errors import AccountNotFound, ModuleNotApplicable, ModuleNotFound
from accounts.models import Account, AccountModule, AccountType, Membership, Module, Role, User
from audit.recorder import record
from audit.types import Actor, ActorType, ObjectRef, RequestContext
from tokens_admin.errors import ValidationFailed

ACCOUNT_NAME_MAX = 200
EVENT_SIGNED_IN = "platform.accounts.user.signed_in"
EVENT_SIGN_IN_FAILED = "platform.accounts.user.sign_in_failed"
EVENT_SIGNED_OUT = "platform.accounts.user.signed_out"
ANONYMOUS = Actor(id="ANONYMOUS", name="Anonymous", type=ActorType.SYSTEM)


def actor_for_user(user: User, account: Account | None = None) -> Actor:
    return Actor(
        id=user.public_id,
        name=user.name,
        type=ActorType.USER,
        account_id=account.public_id if account else None,
        account_name=account.name if account else None,
    )


def account_ref(account: Account) -> ObjectRef:
    return ObjectRef(id=account.public_id, name=account.name, object_type="Account")


def get_account(public_id: str) -> Account:
    account = Account.objects.filter(public_id=public_id).first()
    if account is None:
        raise AccountNotFound(f"Account {public_id} was not found.")
    return account


def resolve_modules(module_ids: Iterable[str]) -> list[Module]:
    wanted = list(dict.fromkeys(module_ids))
    found = {m.public_id: m for m in Module.objects.filter(public_id__in=wanted)}
    missing = [m for m in wanted if m not in found]
    if missing:
        raise ModuleNotFound(f"Unknown module: {', '.join(missing)}.")
    return [found[m] for m in wanted]


def create_account(
    *, name: str, type: str, actor: Actor, request: RequestContext | None = None
) -> Account:
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not name or len(name) > ACCOUNT_NAME_MAX:
        errors["name"] = [f"Name must be 1-{ACCOUNT_NAME_MAX} characters."]
    if type not in AccountType.values:
        errors["type"] = [f"Type must be one of {', '.join(AccountType.values)}."]
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        account = Account(name=name, type=type).insert()
        record(
            event="platform.accounts.account.created",
            obj=account_ref(account),
            actor=actor,
            account_id=account.public_id,
            summary=f"Account {account.name} ({account.type}) created",
            details=f"Account {account.name} ({account.public_id}), type {account.type}, "
            f"created by {actor.name} ({actor.id}).",
            documents={"account": {"id": account.public_id, "name": name, "type": type}},
            request=request,
        )
    return account


def enable_account_modules(
    *,
    account: Account,
    modules: Iterable[Module],
    actor: Actor,
    request: RequestContext | None = None,
) -> list[Module]:
    """Enable modules for an account; returns the ones that were not enabled before."""
    modules = list(modules)
    for module in modules:
        if not module.applies_to(account.type):
            raise ModuleNotApplicable(
                f"Module {module.public_id} ({module.name}) is not available to "
                f"{account.type} accounts."
            )
    added: list[Module] = []
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        have = set(AccountModule.objects.filter(account=locked).values_list("module_id", flat=True))
        for module in modules:
            if module.pk in have:
                continue
            AccountModule.objects.create(account=locked, module=module)
            have.add(module.pk)
            added.append(module)
            record(
                event="platform.accounts.account.module_enabled",
                obj=account_ref(locked),
                actor=actor,
                account_id=locked.public_id,
                summary=f"Module {module.name} ({module.public_id}) enabled for {locked.name}",
                details=f"Module {module.name} ({module.public_id}) enabled for account "
                f"{locked.name} ({locked.public_id}) by {actor.name} ({actor.id}); its API "
                "tokens may now be given it.",
                documents={"module": {"id": module.public_id, "name": module.name}},
                request=request,
            )
    return added


def _membership_details(
    user: User, account: Account, role: str, new_user: bool, role_changed: bool
) -> str:
    if new_user:
        what = f"New user {user.name} ({user.email}) added to {account.name} as {role}"
    elif role_changed:
        what = f"{user.name} ({user.email}) is now {role} of {account.name}"
    else:
        what = f"{user.name} ({user.email}) joined {account.name} as {role}"
    return f"{what} ({account.public_id})."


def _check_user_fields(*, email: str, name: str, role: str) -> None:
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except DjangoValidationError:
        errors["email"] = ["Enter a valid email address."]
    if not name or len(name) > 200:
        errors["name"] = ["Name must be 1-200 characters."]
    if role not in Role.values:
        errors["role"] = [f"Role must be one of {', '.join(Role.values)}."]
    if errors:
        raise ValidationFailed(errors)


def _new_user(*, email: str, name: str, password: str | None) -> User:
    if password is not None:
        try:
            validate_password(password, User(email=email, name=name))
        except DjangoValidationError as exc:
            raise ValidationFailed({"password": list(exc.messages)}) from None
    return User.objects.create_user(email=email, name=name, password=password)


def create_user(
    *,
    email: str,
    name: str,
    password: str | None,
    account: Account,
    role: str,
    actor: Actor,
    request: RequestContext | None = None,
) -> tuple[User, bool]:
    """Create a user and their membership, or add a membership to an existing user.

    Returns the user and whether the user is new.
    """
    email = email.strip().lower()
    name = name.strip()
    _check_user_fields(email=email, name=name, role=role)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(email=email).first()
        created = user is None
        if user is None:
            user = _new_user(email=email, name=name, password=password)
        membership, new_membership = Membership.objects.get_or_create(
            user=user, account=account, defaults={"role": role}
        )
        role_changed = not new_membership and membership.role != role
        if role_changed:
            membership.role = role
            membership.save(update_fields=["role"])
        if created or new_membership or role_changed:
            record(
                event="platform.accounts.user.membership_changed",
                obj=ObjectRef(id=user.public_id, name=user.name, object_type="User"),
                actor=actor,
                account_id=account.public_id,
                summary=f"{user.name} is {role} of {account.name}",
                details=_membership_details(user, account, role, created, role_changed),
                documents={
                    "user": {"id": user.public_id, "name": user.name, "email": user.email},
                    "membership": {"account": account.public_id, "role": role},
                    "newUser": created,
                },
                request=request,
            )
    return user, created


def user_ref(user: User) -> ObjectRef:
    return ObjectRef(id=user.public_id, name=user.name, object_type="User")


def record_sign_in(*, user: User, account: Account, request: RequestContext) -> None:
    with transaction.atomic():
        record(
            event=EVENT_SIGNED_IN,
            obj=user_ref(user),
            actor=actor_for_user(user, account),
            account_id=account.public_id,
            summary=f"{user.name} signed in",
            details=f"{user.name} ({user.email}) signed in to {account.name} {request.where()}.",
            request=request,
        )


def record_sign_in_failed(
    *, email: str, user: User | None, account: Account | None, request: RequestContext
) -> None:
    """A refused sign-in, on the user's home account when the email is someone's. Never the
    password: the details say only which email was tried, and from where."""
    obj = user_ref(user) if user else ObjectRef(id="UNKNOWN", name=email[:200], object_type="User")
    reason = "the password was wrong" if user else "no user has this email"
    with transaction.atomic():
        record(
            event=EVENT_SIGN_IN_FAILED,
            obj=obj,
            actor=ANONYMOUS,
            account_id=account.public_id if account else None,
            summary=f"Sign-in failed for {email[:200]}",
            details=f"Sign-in as {email[:200]} was refused {request.where()}: {reason}.",
            request=request,
        )


def record_sign_out(*, user: User, account: Account | None, request: RequestContext) -> None:
    with transaction.atomic():
        record(
            event=EVENT_SIGNED_OUT,
            obj=user_ref(user),
            actor=actor_for_user(user, account),
            account_id=account.public_id if account else None,
            summary=f"{user.name} signed out",
            details=f"{user.name} ({user.email}) signed out {request.where()}.",
            request=request,
        )
