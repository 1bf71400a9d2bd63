import importlib

from django.db import migrations

# "The last four digits of your number": a phone fragment was found through the trigram index of
# 0007, each of its matches read from the table to test it and sort by received_at (the last 4
# digits match about 700 leads at a million, some 1,000 pages: 15-28 ms when they are not cached).
# The numbers that end with the digits typed rank first among partial matches, and they are read
# from this index alone: the reversed number, whose start is the number's end, with received_at and
# id to sort the newest (0.2 ms). phone_digits is INCLUDEd so PostgreSQL may read only the index: it
# does not see that REVERSE(phone_digits) is all a query needs of it. PostgreSQL only (EXPLAIN test
# in tests/leads/test_search_plans.py), built CONCURRENTLY as 0010's are.
PHONE_ENDS = {
    "leads_lead_phone_ends_newest": (
        '(REVERSE("phone_digits")) text_pattern_ops, "received_at", "id") INCLUDE ("phone_digits"'
    ),
}

newest_first = importlib.import_module("feedbackportal.leads.migrations.0010_search_newest_first")


def forwards(apps, schema_editor):
    newest_first._swap(schema_editor, PHONE_ENDS, {})


def backwards(apps, schema_editor):
    newest_first._swap(schema_editor, {}, PHONE_ENDS)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("leads", "0012_feedback_summary")]

    operations = [migrations.RunPython(forwards, backwards)]
