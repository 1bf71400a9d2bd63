from django.db import migrations

RETURN_REASONS = [
    ("Wrong number", "Wrong number"),
    ("Disconnected number", "Disconnected number"),
    ("Duplicate lead", "Duplicate lead"),
    ("Did not request information", "Consumer did not request information"),
    ("Fake or fraudulent information", "Fraudulent lead information"),
    ("Under 18", "Consumer is under 18"),
    ("Outside our service area", "Outside service area"),
    ("Language barrier", "Language barrier"),
    ("Already a customer", "Existing customer"),
]
CONVERSION_REASONS = [
    ("Sale closed", "Sale closed"),
    ("Appointment set", "Appointment set"),
    ("Application submitted", "Application submitted"),
]
ROLES = ["Agent", "Manager", "Admin"]


def create_defaults(apps, schema_editor):
    Reason = apps.get_model("feedback", "Reason")
    if not Reason.objects.exists():
        for feedback_type, reasons in (("return", RETURN_REASONS), ("conversion", CONVERSION_REASONS)):
            for position, (label, text) in enumerate(reasons, start=1):
                Reason.objects.create(feedback_type=feedback_type, label=label, text=text, position=position)
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
