from django.db import migrations

# Agents search by the start of a name, an email or an event id. On PostgreSQL a plain b-tree index
# cannot serve LIKE 'x%' (nor UPPER(x) LIKE, which istartswith uses) unless it is built with a
# pattern operator class; SQLite's own LIKE optimisation does not apply to Django's LIKE ... ESCAPE.
INDEXES = {
    "leads_lead_first_name_upper_like": '(UPPER("first_name")) text_pattern_ops',
    "leads_lead_last_name_upper_like": '(UPPER("last_name")) text_pattern_ops',
    "leads_lead_email_like": '"email" varchar_pattern_ops',
    "leads_lead_event_id_like": '"event_id" varchar_pattern_ops',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "leads_lead" ({expression})')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_import_heartbeat")]

    operations = [migrations.RunPython(create, drop)]
