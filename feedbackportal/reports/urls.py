from django.urls import path

from feedbackportal.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.rates, name="rates"),
    path("history/", views.history, name="history"),
    path("history.csv", views.export, name="export"),
    path("money.csv", views.money_export, name="money_export"),
    path("month/", views.month, name="month"),
    path("audit/", views.audit, name="audit"),
]
