# ImportRow.feedback becomes a real foreign key on the same column (feedback_id): the database gains
# the constraint and an index; the values stay.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('imports', '0002_imports_forget_missing_feedback'),
        ('feedback', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterField(
                    model_name='importrow',
                    name='feedback_id',
                    field=models.ForeignKey(blank=True, db_column='feedback_id', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='feedback.feedback'),
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name='importrow', name='feedback_id'),
                migrations.AddField(
                    model_name='importrow',
                    name='feedback',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='import_rows', to='feedback.feedback'),
                ),
            ],
        ),
    ]
