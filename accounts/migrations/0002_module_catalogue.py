"""The platform's module catalogue, with the fixed ids integrations rely on (SPEC section 1)."""

from django.db import migrations

CATALOGUE = [
    (
        "MOD-1756",
        "Access Management",
        "access-management",
        ["Client", "Vendor", "Operations"],
        "Manage users, user groups, API tokens and access to the account.",
    ),
    (
        "MOD-9042",
        "Account Management",
        "account-management",
        ["Client", "Vendor", "Operations"],
        "Manage the account's profile, buyers, sellers and licensees.",
    ),
    (
        "MOD-1425",
        "Marketplace",
        "marketplace",
        ["Client"],
        "Browse the catalog, place orders and manage agreements and subscriptions.",
    ),
    (
        "MOD-4525",
        "Billing",
        "billing",
        ["Client", "Vendor", "Operations"],
        "Work with statements, invoices, journals and credit memos.",
    ),
    (
        "MOD-8352",
        "Catalog Management",
        "catalog-management",
        ["Vendor", "Operations"],
        "Define products, items, price lists and listings.",
    ),
    (
        "MOD-8743",
        "Program Management",
        "program-management",
        ["Vendor", "Operations"],
        "Run programs, certificates and enrollments.",
    ),
    (
        "MOD-0478",
        "Helpdesk",
        "helpdesk",
        ["Client", "Vendor", "Operations"],
        "Open and follow support cases and chats.",
    ),
    (
        "MOD-1239",
        "Extensions",
        "extensions",
        ["Vendor", "Operations"],
        "Build and operate extensions that integrate with the platform.",
    ),
    (
        "MOD-6271",
        "Platform Account Management",
        "platform-account-management",
        ["Operations"],
        "Administer every account of the platform.",
    ),
]


def load(apps, schema_editor):
    Module = apps.get_model("accounts", "Module")
    for public_id, name, code, account_types, description in CATALOGUE:
        Module.objects.update_or_create(
            public_id=public_id,
            defaults={
                "name": name,
                "code": code,
                "account_types": account_types,
                "description": description,
            },
        )


def unload(apps, schema_editor):
    apps.get_model("accounts", "Module").objects.filter(
        public_id__in=[row[0] for row in CATALOGUE]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
