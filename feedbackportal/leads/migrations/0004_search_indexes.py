from django.db import migrations

# Agents search by the start of a name, an email or an event id. On PostgreSQL a plain b-tree index
# cannot serve LIKE 'x%' (nor UPPER(x) LIKE, which istartswith uses) unless it is built with a
# pattern operator class; SQLite's LIKE is case-insensitive and uses only a NOCASE index.
SQLITE_INDEXES = {
    "leads_lead_first_name_nocase": '"first_name" COLLATE NOCASE',
    "leads_lead_last_name_nocase": '"last_name" COLLATE NOCASE',
    "leads_lead_email_nocase": '"email" COLLATE NOCASE',
    "leads_lead_event_id_nocase": '"event_id" COLLATE NOCASE',
}
INDEXES = {
    "leads_lead_first_name_upper_like": '(UPPER("first_name")) text_pattern_ops',
    "leads_lead_last_name_upper_like": '(UPPER("last_name")) text_pattern_ops',
    "leads_lead_email_like": '"email" varchar_pattern_ops',
    "leads_lead_event_id_like": '"event_id" varchar_pattern_ops',
}


def _indexes(vendor: str) -> dict[str, str]:
    return {"postgresql": INDEXES, "sqlite": SQLITE_INDEXES}.get(vendor, {})


def create(apps, schema_editor):
    for name, expression in _indexes(schema_editor.connection.vendor).items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "leads_lead" ({expression})')


def drop(apps, schema_editor):
    for name in _indexes(schema_editor.connection.vendor):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_import_heartbeat")]

    operations = [migrations.RunPython(create, drop)]
