# ImportJob and ImportRow moved to the imports app. Their tables stay (imports' models name them with
# db_table), so this only takes them out of the leads app's state; no row is touched.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0007_reports_search_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='ImportRow'),
                migrations.DeleteModel(name='ImportJob'),
            ],
            database_operations=[],
        ),
    ]
