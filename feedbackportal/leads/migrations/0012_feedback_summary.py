from django.db import migrations, models, transaction

# Each lead's newest counted return (not cancelled or failed), accepted return and accepted
# conversion, kept by the database: a trigger on the feedback table sets them again for the lead
# (or both leads) a written feedback belongs to, on every insert, delete and update of its lead,
# type, status or date, whoever writes it (the worker's conditional updates, the sweeper, a
# manager, an import, the admin, SQL by hand). The rates' lead cohort reads them instead of
# looking each of its leads up among the feedback: at a million leads that pass took 290 ms, 60 ms
# from these (reports.selectors.cohort_cells; tests/reports/test_feedback_summary.py).
#
# The statuses are the rates' (reports.selectors.NOT_COUNTED, Status.ACCEPTED); the tests compare
# the two ways of counting over every status, so a change to either shows there. On SQLite a later
# migration that makes Django rebuild feedback_feedback (most AlterFields) drops these triggers with
# the old table: it must create them again (those tests fail until it does).
NEWEST = {
    "last_counted_return_at": "feedback_type = 'return' AND status NOT IN ('cancelled', 'failed')",
    "last_accepted_return_at": "feedback_type = 'return' AND status = 'accepted'",
    "last_accepted_conversion_at": "feedback_type = 'conversion' AND status = 'accepted'",
}
# SET clauses for the lead whose id is {lead}.
SUMMARY = ", ".join(
    f"{column} = (SELECT MAX(f.created_at) FROM feedback_feedback f WHERE f.lead_id = {{lead}} AND {kind})"
    for column, kind in NEWEST.items()
)


def _of(row: str) -> dict[str, str]:
    """NEWEST's conditions on a trigger's OLD or NEW row."""
    return {
        column: kind.replace("feedback_type", f"{row}.feedback_type").replace("status", f"{row}.status")
        for column, kind in NEWEST.items()
    }


def _raised(column: str, kind: str, created: str) -> str:
    """Whether a feedback of `kind` given at `created` is newer than the lead's `column`."""
    return f"({kind} AND ({column} IS NULL OR {column} < {created}))"


def _stale(summarized: str, *, kept: bool) -> str:
    """Whether the OLD row may have been the newest of a kind it no longer counts for (then that
    kind is read again from every feedback of the lead); `kept`: the row is still the same lead's."""
    tests = []
    for column, kind in _of("OLD").items():
        test = f"({kind} AND ({summarized}.{column} IS NULL OR OLD.created_at >= {summarized}.{column}))"
        if kept:
            test = f"({test} AND NOT ({_of('NEW')[column]} AND NEW.created_at >= OLD.created_at))"
        tests.append(test)
    return " OR ".join(tests)


# PostgreSQL: a new or changed feedback only raises the newest it counts for (its lead's other
# feedback unread: a lead with 100,000 feedbacks loads as fast as any). The lead's feedback is read
# again only when a row that may have been the newest of a kind stops counting for it, is moved or
# deleted. Either way the lead's row is locked first and what follows reads after the lock was
# granted, so two transactions changing two feedbacks of one lead see each other's change: the
# second waits for the first to commit. (A single UPDATE reading the feedback in its own FROM keeps
# the snapshot it began with, and could write back what the first had just replaced.)
POSTGRES = [
    f"""
    CREATE OR REPLACE FUNCTION leads_lead_summarize_feedback(lead bigint) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
        newest timestamptz[];
    BEGIN
        PERFORM 1 FROM leads_lead WHERE id = lead FOR NO KEY UPDATE;
        SELECT ARRAY[{", ".join(f"MAX(created_at) FILTER (WHERE {kind})" for kind in NEWEST.values())}]
            INTO newest FROM feedback_feedback WHERE lead_id = lead;
        -- Written only when it changes.
        UPDATE leads_lead SET ({", ".join(NEWEST)}) = (newest[1], newest[2], newest[3])
        WHERE id = lead AND ({", ".join(NEWEST)}) IS DISTINCT FROM (newest[1], newest[2], newest[3]);
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION leads_lead_raise_feedback(
        lead bigint, feedback_type text, status text, created timestamptz
    ) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM leads_lead WHERE id = lead FOR NO KEY UPDATE;
        UPDATE leads_lead SET {
        ", ".join(
            f"{column} = CASE WHEN {_raised(column, kind, 'created')} THEN created ELSE {column} END"
            for column, kind in NEWEST.items()
        )
    }
        WHERE id = lead AND ({" OR ".join(_raised(column, kind, "created") for column, kind in NEWEST.items())});
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION leads_lead_feedback_written() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        summarized record;
        stale boolean;
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            SELECT * INTO summarized FROM leads_lead WHERE id = OLD.lead_id FOR NO KEY UPDATE;
            IF TG_OP = 'UPDATE' AND NEW.lead_id = OLD.lead_id THEN
                stale := {_stale("summarized", kept=True)};
            ELSE
                stale := {_stale("summarized", kept=False)};
            END IF;
            IF stale THEN
                PERFORM leads_lead_summarize_feedback(OLD.lead_id);
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN NULL;
            END IF;
        END IF;
        PERFORM leads_lead_raise_feedback(NEW.lead_id, NEW.feedback_type, NEW.status, NEW.created_at);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER leads_lead_feedback_added_or_removed AFTER INSERT OR DELETE ON feedback_feedback
    FOR EACH ROW EXECUTE FUNCTION leads_lead_feedback_written()
    """,
    """
    CREATE TRIGGER leads_lead_feedback_changed AFTER UPDATE OF lead_id, feedback_type, status, created_at
    ON feedback_feedback FOR EACH ROW
    WHEN (OLD.lead_id IS DISTINCT FROM NEW.lead_id OR OLD.feedback_type IS DISTINCT FROM NEW.feedback_type
          OR OLD.status IS DISTINCT FROM NEW.status OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION leads_lead_feedback_written()
    """,
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS leads_lead_feedback_changed ON feedback_feedback",
    "DROP TRIGGER IF EXISTS leads_lead_feedback_added_or_removed ON feedback_feedback",
    "DROP FUNCTION IF EXISTS leads_lead_feedback_written()",
    "DROP FUNCTION IF EXISTS leads_lead_raise_feedback(bigint, text, text, timestamptz)",
    "DROP FUNCTION IF EXISTS leads_lead_summarize_feedback(bigint)",
]

# SQLite: one writer at a time. A new feedback raises the newest it counts for; a change or a
# delete sets the lead's summary again from its feedback.
SQLITE = [
    f"""
    CREATE TRIGGER leads_lead_feedback_added AFTER INSERT ON feedback_feedback BEGIN
        UPDATE leads_lead SET {
        ", ".join(
            f"{column} = CASE WHEN {_raised(column, kind, 'NEW.created_at')} THEN NEW.created_at ELSE {column} END"
            for column, kind in _of("NEW").items()
        )
    } WHERE id = NEW.lead_id;
    END
    """,
    f"""
    CREATE TRIGGER leads_lead_feedback_removed AFTER DELETE ON feedback_feedback BEGIN
        UPDATE leads_lead SET {SUMMARY.format(lead="leads_lead.id")} WHERE id = OLD.lead_id;
    END
    """,
    f"""
    CREATE TRIGGER leads_lead_feedback_changed AFTER UPDATE OF lead_id, feedback_type, status, created_at
    ON feedback_feedback BEGIN
        UPDATE leads_lead SET {SUMMARY.format(lead="leads_lead.id")} WHERE id IN (OLD.lead_id, NEW.lead_id);
    END
    """,
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS leads_lead_feedback_added",
    "DROP TRIGGER IF EXISTS leads_lead_feedback_removed",
    "DROP TRIGGER IF EXISTS leads_lead_feedback_changed",
]

BATCH = 20_000


def fill(connection) -> None:
    """Set every lead's summary from its feedback, a batch of leads per transaction (a million leads
    take minutes: intake and the worker go on meanwhile, their writes kept by the triggers). Each
    batch locks its leads before reading their feedback, as the trigger does. The bench loads
    feedback with the triggers off, then calls this."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Without statistics (a table just loaded) each lead's MAX() may be planned as a scan of
            # every feedback: the first 20,000 took minutes.
            cursor.execute("ANALYZE leads_lead")
            cursor.execute("ANALYZE feedback_feedback")
        cursor.execute("SELECT MIN(lead_id), MAX(lead_id) FROM feedback_feedback")
        first, last = cursor.fetchone()
    if first is None:
        return
    for start in range(first, last + 1, BATCH):
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            chosen = "id IN (SELECT lead_id FROM feedback_feedback WHERE lead_id >= %s AND lead_id < %s)"
            if connection.vendor == "postgresql":
                cursor.execute(f"SELECT 1 FROM leads_lead WHERE {chosen} ORDER BY id FOR NO KEY UPDATE", [start, start + BATCH])
            cursor.execute(
                f"UPDATE leads_lead SET {SUMMARY.format(lead='leads_lead.id')} WHERE {chosen}", [start, start + BATCH]
            )


def forwards(apps, schema_editor):
    statements = POSTGRES if schema_editor.connection.vendor == "postgresql" else SQLITE
    for statement in statements:
        schema_editor.execute(statement)
    fill(schema_editor.connection)


def backwards(apps, schema_editor):
    statements = POSTGRES_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    atomic = False  # the fill commits a batch at a time

    dependencies = [
        ("leads", "0011_search_both_names"),
        ("feedback", "0010_feedback_undo"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="last_counted_return_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="lead",
            name="last_accepted_return_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="lead",
            name="last_accepted_conversion_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.RunPython(forwards, backwards),
    ]
