# The import_data permission now belongs to imports.ImportJob (its row is moved there by
# imports/0001_initial); Feedback no longer declares it.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('feedback', '0006_reports_indexes_and_reason_changes'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='feedback',
            options={'ordering': ['-created_at', '-id'], 'permissions': [('resolve_feedback', 'Can resend, confirm or cancel unconfirmed and failed feedback'), ('view_reports', 'Can see all feedback history, reports, the audit trail and exports')], 'verbose_name_plural': 'feedback'},
        ),
    ]
