from django.db import migrations


class Migration(migrations.Migration):
    """Kept so existing databases stay consistent; the defaults now come from a post_migrate handler
    (feedbackportal.feedback.defaults), which also runs after a test flush."""

    dependencies = [
        ("feedback", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = []
