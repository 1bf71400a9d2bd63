# ImportJob and ImportRow, moved here from the leads app with their tables (leads_importjob,
# leads_importrow) and rows as they are: this only adds them to the imports app's state. Their
# content types follow them, and the import_data permission (on feedback.Feedback until now) moves to
# ImportJob keeping its row, so the groups and users that hold it keep it.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED_MODELS = ("importjob", "importrow")


def _move_permission(Permission, permission, content_type) -> None:
    same = Permission.objects.filter(content_type=content_type, codename=permission.codename).first()
    if same is None:
        permission.content_type = content_type
        permission.save(update_fields=["content_type"])
        return
    # Already made for the new place (a migrate that ran part-way): hand the holders over to it.
    for group in permission.group_set.all():
        group.permissions.add(same)
    for user in permission.user_set.all():
        user.user_permissions.add(same)
    permission.delete()


def _move(apps, schema_editor, *, from_app: str, to_app: str, import_data_from: tuple[str, str], import_data_to: tuple[str, str]) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    types = ContentType.objects.using(schema_editor.connection.alias)
    for model in MOVED_MODELS:
        old = types.filter(app_label=from_app, model=model).first()
        if old is None:
            continue
        new = types.filter(app_label=to_app, model=model).first()
        if new is None:
            old.app_label = to_app
            old.save(update_fields=["app_label"])
            continue
        for permission in Permission.objects.filter(content_type=old):
            _move_permission(Permission, permission, new)
        old.delete()
    holder = types.filter(app_label=import_data_from[0], model=import_data_from[1]).first()
    permission = Permission.objects.filter(content_type=holder, codename="import_data").first() if holder else None
    if permission is not None:
        target, _ = types.get_or_create(app_label=import_data_to[0], model=import_data_to[1])
        _move_permission(Permission, permission, target)


def forwards(apps, schema_editor) -> None:
    _move(apps, schema_editor, from_app="leads", to_app="imports",
          import_data_from=("feedback", "feedback"), import_data_to=("imports", "importjob"))


def backwards(apps, schema_editor) -> None:
    _move(apps, schema_editor, from_app="imports", to_app="leads",
          import_data_from=("leads", "importjob"), import_data_to=("feedback", "feedback"))


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('leads', '0008_imports_hand_over_import_models'),
        ('feedback', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('auth', '0012_alter_user_first_name_max_length'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ImportJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('leads', 'Leads'), ('feedback', 'Bulk feedback')], max_length=20)),
                        ('status', models.CharField(choices=[('mapping', 'Waiting for the column mapping'), ('queued', 'Waiting for the worker'), ('running', 'Importing'), ('done', 'Done'), ('failed', 'Stopped')], default='queued', max_length=20)),
                        ('file', models.FileField(blank=True, upload_to='imports/%Y/%m/')),
                        ('original_name', models.CharField(blank=True, max_length=255)),
                        ('column_mapping', models.JSONField(blank=True, default=dict)),
                        ('feedback_type', models.CharField(blank=True, max_length=20)),
                        ('total_rows', models.PositiveIntegerField(blank=True, null=True)),
                        ('processed', models.PositiveIntegerField(default=0)),
                        ('created_count', models.PositiveIntegerField(default=0, verbose_name='created')),
                        ('updated_count', models.PositiveIntegerField(default=0, verbose_name='updated')),
                        ('skipped_count', models.PositiveIntegerField(default=0, verbose_name='skipped')),
                        ('error', models.TextField(blank=True)),
                        ('task_id', models.CharField(blank=True, max_length=64)),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='import_jobs', to=settings.AUTH_USER_MODEL)),
                        ('source', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='import_jobs', to='leads.source')),
                    ],
                    options={
                        'db_table': 'leads_importjob',
                        'ordering': ['-created_at', '-id'],
                        'permissions': [('import_data', 'Can import leads and bulk feedback from CSV files')],
                    },
                ),
                migrations.CreateModel(
                    name='ImportRow',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('row_number', models.PositiveIntegerField(help_text='Line of the data row in the file, the header being line 1.')),
                        ('event_id', models.CharField(blank=True, max_length=100)),
                        ('result', models.CharField(choices=[('created', 'Created'), ('updated', 'Updated'), ('skipped', 'Skipped')], max_length=20)),
                        ('message', models.CharField(blank=True, max_length=500)),
                        ('feedback_id', models.BigIntegerField(blank=True, null=True)),
                        ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rows', to='imports.importjob')),
                        ('lead', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='leads.lead')),
                    ],
                    options={
                        'db_table': 'leads_importrow',
                        'ordering': ['job', 'row_number'],
                        'indexes': [models.Index(fields=['job', 'result', 'row_number'], name='import_row_by_result')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
