from django.urls import path

from feedbackportal.reports import reconcile_views, views

app_name = "reports"

urlpatterns = [
    path("", views.rates, name="rates"),
    path("history/", views.history, name="history"),
    path("history.csv", views.export, name="export"),
    path("money.csv", views.money_export, name="money_export"),
    path("month/", views.month, name="month"),
    path("audit/", views.audit, name="audit"),
    path("reconcile/", reconcile_views.upload, name="reconcile"),
    path("reconcile/<int:pk>/", reconcile_views.result, name="reconciliation"),
    path("reconcile/<int:pk>/mapping/", reconcile_views.mapping, name="reconcile_mapping"),
    path("reconcile/<int:pk>/confirm/", reconcile_views.confirm, name="reconcile_confirm"),
    path("reconcile/<int:pk>/rows.csv", reconcile_views.rows_file, name="reconcile_rows_csv"),
    path("reconcile/<int:pk>/<slug:group>.csv", reconcile_views.group_file, name="reconcile_group_csv"),
]
