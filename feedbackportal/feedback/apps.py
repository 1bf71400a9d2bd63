from django.apps import AppConfig
from django.db.models.signals import post_migrate


class FeedbackConfig(AppConfig):
    name = "feedbackportal.feedback"
    label = "feedback"

    def ready(self) -> None:
        # user_admin replaces the stock UserAdmin when imported.
        from feedbackportal.feedback import signals, user_admin, wakeup  # noqa: F401
        from feedbackportal.feedback.defaults import ensure_defaults

        # is_staff (reaching the Django admin) follows membership of the Admin group.
        signals.connect()
        # On PostgreSQL, every enqueued task wakes the idle delivery workers (LISTEN/NOTIFY).
        wakeup.connect()

        # After auth has made this app's permissions (its handler is connected first).
        post_migrate.connect(ensure_defaults, sender=self, dispatch_uid="feedback_defaults")
