from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "feedbackportal.sandbox"
    label = "sandbox"
    verbose_name = "LeadConduit sandbox"
