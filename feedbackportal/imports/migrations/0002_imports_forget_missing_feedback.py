# ImportRow.feedback_id was a plain number; before it becomes a foreign key, a number that names no
# feedback (none should: feedback is never deleted) is cleared so the constraint can hold.

from django.db import migrations


def forget_missing_feedback(apps, schema_editor) -> None:
    ImportRow = apps.get_model("imports", "ImportRow")
    Feedback = apps.get_model("feedback", "Feedback")
    db = schema_editor.connection.alias
    rows = ImportRow.objects.using(db).exclude(feedback_id=None)
    rows.exclude(feedback_id__in=Feedback.objects.using(db).values("pk")).update(feedback_id=None)


class Migration(migrations.Migration):

    dependencies = [
        ('imports', '0001_initial'),
        ('feedback', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(forget_missing_feedback, migrations.RunPython.noop),
    ]
