from django.db import migrations, models


def own_extension_types(apps, schema_editor):
    """An ``extensions.*`` type recorded before ownership existed belongs to the account of
    its first record (the rule for new ones)."""
    EventType = apps.get_model("audit", "EventType")
    AuditRecord = apps.get_model("audit", "AuditRecord")
    for event_type in EventType.objects.filter(key__startswith="extensions."):
        first = (
            AuditRecord.objects.filter(event_id=event_type.pk)
            .order_by("timestamp", "id")
            .values_list("account_id", flat=True)
            .first()
        )
        if first:
            event_type.owner_account_id = first
            event_type.save(update_fields=["owner_account_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_account_object_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="eventtype",
            name="owner_account_id",
            field=models.CharField(blank=True, max_length=13),
        ),
        migrations.RunPython(own_extension_types, migrations.RunPython.noop),
    ]
