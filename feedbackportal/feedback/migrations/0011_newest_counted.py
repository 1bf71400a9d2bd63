import django.utils.timezone
from django.db import migrations, models

# The history's weekly chart counts a period's feedback by type and status. With those two in the
# newest-first index (INCLUDE, PostgreSQL), it counts from the index alone, where every row was read
# from the table (12 weeks at a million feedbacks: 116,000 rows, 3,300 pages). The plain created_at
# index goes: the newest-first one serves every created_at range as well. Built and dropped
# CONCURRENTLY on PostgreSQL, so feedback keeps arriving while a big table is indexed; SQLite gets
# the key columns only, and no table rebuild (which would drop the triggers of leads/0012).
NEW = "feedback_newest_counted"
OLD = ("feedback_newest", "feedback_feedback_created_at_52a67ed3")
INVALID = "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s AND NOT i.indisvalid"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(INVALID, [NEW])
            if cursor.fetchone():  # a concurrent build that stopped half-way
                schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{NEW}"')
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{NEW}" ON "feedback_feedback" '
            '("created_at" DESC, "id" DESC) INCLUDE ("feedback_type", "status")'
        )
        for name in OLD:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    else:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{NEW}" ON "feedback_feedback" ("created_at" DESC, "id" DESC)')
        for name in OLD:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def backwards(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f'CREATE INDEX {concurrently}IF NOT EXISTS "{OLD[0]}" ON "feedback_feedback" ("created_at" DESC, "id" DESC)'
    )
    schema_editor.execute(f'CREATE INDEX {concurrently}IF NOT EXISTS "{OLD[1]}" ON "feedback_feedback" ("created_at")')
    schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{NEW}"')


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
                        fields=["-created_at", "-id"], include=("feedback_type", "status"), name=NEW
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
