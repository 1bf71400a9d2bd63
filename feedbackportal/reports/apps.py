from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "feedbackportal.reports"
    label = "reports"
