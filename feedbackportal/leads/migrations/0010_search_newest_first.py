from django.db import migrations

# An agent's search reads the newest exact matches first (LeadQuerySet.ranked_search): "Smith" is
# found newest first straight from an index of (name, received_at, id), reading 26 entries however
# many Smiths there are, where an index of the name alone had every Smith's row read and sorted.
# The same indexes serve the prefix searches (their first column) and, for email, the equality of
# duplicates_of. PostgreSQL only (EXPLAIN tests in tests/leads/test_search_plans.py); built and
# dropped CONCURRENTLY, so leads keep arriving while a big table is indexed.
NEWEST_FIRST = {
    "leads_lead_first_name_newest": '(UPPER("first_name")) text_pattern_ops, "received_at", "id"',
    "leads_lead_last_name_newest": '(UPPER("last_name")) text_pattern_ops, "received_at", "id"',
    "leads_lead_email_newest": '"email" varchar_pattern_ops, "received_at", "id"',
}
REPLACED = {
    "leads_lead_first_name_upper_like": '(UPPER("first_name")) text_pattern_ops',
    "leads_lead_last_name_upper_like": '(UPPER("last_name")) text_pattern_ops',
    "leads_lead_email_like": '"email" varchar_pattern_ops',
}


# A concurrent build that failed (a deploy stopped half-way) leaves its index behind, INVALID and
# never used: IF NOT EXISTS would keep it. It is dropped and built again.
INVALID = "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s AND NOT i.indisvalid"


def _swap(schema_editor, create: dict[str, str], drop: dict[str, str], *, table: str = "leads_lead") -> None:
    """On PostgreSQL, build the `create` indexes of `table` (name: columns) CONCURRENTLY, then drop
    the `drop` ones (by name); feedback/0011 uses it too."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in create.items():
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(INVALID, [name])
            if cursor.fetchone():
                schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
        schema_editor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ({columns})')
    for name in drop:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def forwards(apps, schema_editor):
    _swap(schema_editor, NEWEST_FIRST, REPLACED)


def backwards(apps, schema_editor):
    _swap(schema_editor, REPLACED, NEWEST_FIRST)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("leads", "0009_recent_lead_views")]

    operations = [migrations.RunPython(forwards, backwards)]
