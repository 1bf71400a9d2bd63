import importlib

import django.utils.timezone
from django.db import migrations, models

# The history's weekly chart counts a period's feedback by type and status. With those two in the
# newest-first index (INCLUDE, PostgreSQL), it counts from the index alone, where every row was read
# from the table (12 weeks at a million feedbacks: 116,000 rows, 3,300 pages). The plain created_at
# index goes: the newest-first one serves every created_at range as well. Built and dropped
# CONCURRENTLY on PostgreSQL, so feedback keeps arriving while a big table is indexed; SQLite gets
# the key columns only, and no table rebuild (which would drop the triggers of leads/0012).
NEW = {"feedback_newest_counted": '"created_at" DESC, "id" DESC) INCLUDE ("feedback_type", "status"'}
OLD = {"feedback_newest": '"created_at" DESC, "id" DESC', "feedback_feedback_created_at_52a67ed3": '"created_at"'}
TABLE = "feedback_feedback"

# The concurrent build (and rebuild of an index a failed one left INVALID) of the search indexes.
newest_first = importlib.import_module("feedbackportal.leads.migrations.0010_search_newest_first")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        newest_first._swap(schema_editor, NEW, OLD, table=TABLE)
        return
    schema_editor.execute(
        f'CREATE INDEX IF NOT EXISTS "feedback_newest_counted" ON "{TABLE}" ("created_at" DESC, "id" DESC)'
    )
    for name in OLD:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        newest_first._swap(schema_editor, OLD, NEW, table=TABLE)
        return
    for name, columns in OLD.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" ({columns})')
    schema_editor.execute('DROP INDEX IF EXISTS "feedback_newest_counted"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("feedback", "0010_feedback_undo")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="feedback", name="feedback_newest"),
                migrations.AlterField(
                    model_name="feedback",
                    name="created_at",
                    field=models.DateTimeField(default=django.utils.timezone.now),
                ),
                migrations.AddIndex(
                    model_name="feedback",
                    index=models.Index(
                        fields=["-created_at", "-id"],
                        include=("feedback_type", "status"),
                        name="feedback_newest_counted",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
