from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedbackportal.feedback"
    label = "feedback"
