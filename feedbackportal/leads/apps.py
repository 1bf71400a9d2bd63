from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "feedbackportal.leads"
    label = "leads"
