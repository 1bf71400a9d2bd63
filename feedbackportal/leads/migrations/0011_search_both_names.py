import importlib

from django.db import migrations

# "Smith, Jo" or "Jo Smith" matches leads whose last name starts SMITH and first name starts JO. The
# last name's index found the first half, and every such lead's row was read to test the second:
# at a million leads "Last17, First3" read 21,000 pages for 15,000 matches (140 ms). One index of
# both names answers both tests, and with received_at and id in it the page's newest are sorted from
# the index alone. The names themselves are INCLUDEd so PostgreSQL may read only the index: it does
# not see that UPPER(first_name) is all a query needs of first_name. PostgreSQL only (EXPLAIN test
# in tests/leads/test_search_plans.py), built CONCURRENTLY as 0010's are.
BOTH_NAMES = {
    "leads_lead_last_first_newest": (
        '(UPPER("last_name")) text_pattern_ops, (UPPER("first_name")) text_pattern_ops, "received_at", "id"'
        ' ) INCLUDE ("last_name", "first_name"'
    ),
}

newest_first = importlib.import_module("feedbackportal.leads.migrations.0010_search_newest_first")


def forwards(apps, schema_editor):
    newest_first._swap(schema_editor, BOTH_NAMES, {})


def backwards(apps, schema_editor):
    newest_first._swap(schema_editor, {}, BOTH_NAMES)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("leads", "0010_search_newest_first")]

    operations = [migrations.RunPython(forwards, backwards)]
