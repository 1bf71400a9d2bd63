from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "feedbackportal.health"
    label = "health"
