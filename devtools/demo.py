"""The demo data set used by ``make run`` (``manage.py seed_demo``).

Everything is created through the real services, so the demo audit trail is exactly what
production would write. Idempotent: an existing demo is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Account, AccountType, Module, Role, User
from accounts.services import actor_for_user, create_account, create_user, enable_account_modules
from apitokens import services
from apitokens.models import ApiToken, TokenStatus
from audit.types import Actor, RequestContext

# A published password for the local demo only: seed_demo does not exist in production.
# (Not "tokens-admin-demo": UserAttributeSimilarityValidator refuses it for ops.admin@ and
# vendor.admin@demo.test, and the demo goes through the same create_user as everyone.)
DEMO_PASSWORD = "violet-harbor-demo"  # noqa: S105
DEMO_REQUEST = RequestContext(ip="127.0.0.1", user_agent="seed_demo", trace_id="")


@dataclass(frozen=True)
class DemoAccount:
    name: str
    type: str
    admin_email: str
    admin_name: str


DEMO_ACCOUNTS = (
    DemoAccount(
        "SoftwareOne Operations (demo)",
        AccountType.OPERATIONS,
        "ops.admin@demo.test",
        "Olivia Operator",
    ),
    DemoAccount(
        "Northwind Vendor (demo)", AccountType.VENDOR, "vendor.admin@demo.test", "Victor Vendor"
    ),
    DemoAccount(
        "Contoso Client (demo)", AccountType.CLIENT, "client.admin@demo.test", "Clara Client"
    ),
)
MEMBER_EMAIL = "client.member@demo.test"
SHOWCASE_TOKEN = "CI pipeline"  # noqa: S105 - a token name


class DemoMissing(Exception):
    """Part of the demo data was removed or changed by hand."""


@dataclass(frozen=True)
class DemoSummary:
    created: bool
    accounts: list[dict[str, str]]
    users: list[dict[str, str]]
    token_id: str


def _token(
    account: Account, actor: Actor, name: str, description: str, codes: list[str]
) -> ApiToken:
    modules = list(Module.objects.filter(code__in=codes))
    return services.create_token(
        account=account,
        name=name,
        description=description,
        modules=modules,
        actor=actor,
        request=DEMO_REQUEST,
    ).token


def _build() -> None:
    system = Actor.system()
    accounts: dict[str, tuple[Account, User]] = {}
    for spec in DEMO_ACCOUNTS:
        account = create_account(name=spec.name, type=spec.type, actor=system, request=DEMO_REQUEST)
        applicable = [m for m in Module.objects.all() if m.applies_to(account.type)]
        enable_account_modules(
            account=account, modules=applicable, actor=system, request=DEMO_REQUEST
        )
        admin, _ = create_user(
            email=spec.admin_email,
            name=spec.admin_name,
            password=DEMO_PASSWORD,
            account=account,
            role=Role.ADMINISTRATOR,
            actor=system,
            request=DEMO_REQUEST,
        )
        accounts[spec.type] = (account, admin)
    _build_client(*accounts[AccountType.CLIENT])
    _build_vendor(*accounts[AccountType.VENDOR])
    ops, olivia = accounts[AccountType.OPERATIONS]
    _token(
        ops,
        actor_for_user(olivia, ops),
        "Platform auditor",
        "Reads every account",
        ["platform-account-management", "access-management"],
    )


def _build_client(client: Account, clara: User) -> None:
    """Clara's account: a Member, and tokens whose trail shows every kind of change."""
    create_user(
        email=MEMBER_EMAIL,
        name="Max Member",
        password=DEMO_PASSWORD,
        account=client,
        role=Role.MEMBER,
        actor=Actor.system(),
        request=DEMO_REQUEST,
    )
    actor = actor_for_user(clara, client)
    showcase = _token(
        client,
        actor,
        SHOWCASE_TOKEN,
        "Deploys from the build server",
        ["access-management", "marketplace"],
    )
    crm = _token(client, actor, "CRM sync", "Nightly customer sync", ["account-management"])
    # Paused for a CRM upgrade and back on: the trail shows a round trip through Disabled.
    services.disable_token(token=crm, actor=actor, request=DEMO_REQUEST)
    services.enable_token(token=crm, actor=actor, request=DEMO_REQUEST)
    billing = _token(client, actor, "Billing export", "Monthly invoices to the ERP", ["billing"])
    services.update_token(
        token=billing,
        description="Monthly invoices to the ERP (v2)",
        actor=actor,
        request=DEMO_REQUEST,
    )
    old = _token(client, actor, "Old integration", "Replaced by CRM sync", ["helpdesk"])
    services.disable_token(token=old, actor=actor, request=DEMO_REQUEST)
    gone = _token(client, actor, "Leaked test key", "Found in a public repository", [])
    services.disable_token(token=gone, actor=actor, request=DEMO_REQUEST)
    services.delete_token(token=gone, actor=actor, request=DEMO_REQUEST)
    # An administrator looked at a value once: a reveal record in the trail, as in real use.
    services.reveal_value(token=showcase, actor=actor, request=DEMO_REQUEST)


def _build_vendor(vendor: Account, victor: User) -> None:
    vendor_actor = actor_for_user(victor, vendor)
    _token(
        vendor,
        vendor_actor,
        "Catalog publisher",
        "Publishes price lists",
        ["catalog-management", "access-management"],
    )
    _token(vendor, vendor_actor, "Extension runtime", "Runs the vendor extension", ["extensions"])


def seed() -> DemoSummary:
    """Create the demo data unless it is there already (then nothing at all is written)."""
    created = False
    client_admin = DEMO_ACCOUNTS[-1].admin_email
    with transaction.atomic():
        if not User.objects.filter(email=client_admin).exists():
            _build()
            created = True
    # Found through the admin's membership, not by name: an operator may have made another
    # account with the same name since.
    client = (
        Account.objects.filter(
            type=AccountType.CLIENT,
            memberships__user__email=client_admin,
            memberships__role=Role.ADMINISTRATOR,
        )
        .order_by("pk")
        .first()
    )
    if client is None:
        raise DemoMissing(
            f"{client_admin} exists but administers no Client account; "
            "the demo data was changed by hand."
        )
    showcase = _showcase(client)
    demo_accounts = Account.objects.filter(
        memberships__user__email__in=[d.admin_email for d in DEMO_ACCOUNTS],
        memberships__role=Role.ADMINISTRATOR,
    ).distinct()
    return DemoSummary(
        created=created,
        accounts=[
            {"id": a.public_id, "name": a.name, "type": a.type}
            for a in demo_accounts.order_by("type")
        ],
        users=[
            {"email": u.email, "name": u.name, "id": u.public_id}
            for u in User.objects.filter(
                email__in=[d.admin_email for d in DEMO_ACCOUNTS] + [MEMBER_EMAIL]
            ).order_by("email")
        ],
        token_id=showcase.public_id,
    )


def _showcase(client: Account) -> ApiToken:
    """The demo token to print: the showcase if still Active, else any Active one, else new."""
    showcase = ApiToken.objects.filter(
        account=client, name=SHOWCASE_TOKEN, status=TokenStatus.ACTIVE
    ).first()
    if showcase is None:
        showcase = (
            ApiToken.objects.filter(account=client, status=TokenStatus.ACTIVE)
            .order_by("pk")
            .first()
        )
    if showcase is None:  # someone disabled every demo token: make a fresh one
        showcase = services.create_token(
            account=client, name=SHOWCASE_TOKEN, actor=Actor.system(), request=DEMO_REQUEST
        ).token
    return showcase
