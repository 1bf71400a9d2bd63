"""Roles and the starting reason catalog, made after every migrate (and after a test flush)."""

from django.apps import apps as global_apps

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
# Suggested to agents when the lead has duplicates (Reason.is_duplicate_reason).
DUPLICATE_REASON_LABEL = "Duplicate lead"
CONVERSION_REASONS = [
    ("Sale closed", "Sale closed"),
    ("Appointment set", "Appointment set"),
    ("Application submitted", "Application submitted"),
]
# Role → permissions (app_label.codename). A signed-in user with none of these roles may do nothing
# but log out (feedbackportal/roles.py).
AGENT_PERMISSIONS = ["feedback.use_desk"]
MANAGER_PERMISSIONS = [*AGENT_PERMISSIONS, "feedback.resolve_feedback", "feedback.view_reports", "imports.import_data"]
# Admins keep the catalog, leads and users in the Django admin (membership of Admin grants is_staff,
# see feedback/signals.py); audit records and delivery history stay read-only there.
ADMIN_PERMISSIONS = [
    *MANAGER_PERMISSIONS,
    "feedback.view_reason",
    "feedback.add_reason",
    "feedback.change_reason",
    "feedback.delete_reason",
    "feedback.view_feedback",
    "feedback.view_deliveryattempt",
    "feedback.view_feedbackaction",
    "feedback.view_reasonchange",
    "leads.view_lead",
    "leads.add_lead",
    "leads.change_lead",
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.view_group",
    # Login throttling: see who tried, and unlock someone by deleting their attempts.
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
    "axes.view_accesslog",
    "axes.view_accessfailurelog",
]
ROLE_PERMISSIONS = {
    "Agent": AGENT_PERMISSIONS,
    "Manager": MANAGER_PERMISSIONS,
    "Admin": ADMIN_PERMISSIONS,
}


def ensure_defaults(sender=None, *, using: str = "default", apps=global_apps, **kwargs) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Reason = apps.get_model("feedback", "Reason")
    for role, permissions in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        for dotted in permissions:
            app_label, codename = dotted.split(".")
            permission = (
                Permission.objects.using(using).filter(content_type__app_label=app_label, codename=codename).first()
            )
            if permission is not None:
                group.permissions.add(permission)
    if not Reason.objects.using(using).exists():
        for feedback_type, reasons in (("return", RETURN_REASONS), ("conversion", CONVERSION_REASONS)):
            for position, (label, text) in enumerate(reasons, start=1):
                Reason.objects.using(using).create(
                    feedback_type=feedback_type,
                    label=label,
                    text=text,
                    position=position,
                    hotkey=position if position <= 9 else None,
                    is_duplicate_reason=feedback_type == "return" and label == DUPLICATE_REASON_LABEL,
                )
