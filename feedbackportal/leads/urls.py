from django.urls import path

from feedbackportal.leads import views

app_name = "leads"

urlpatterns = [
    path("", views.search, name="search"),
    path("leads/<int:pk>/", views.lead_detail, name="detail"),
    path("intake/<slug:slug>/", views.intake, name="intake"),
    path("imports/", views.imports, name="imports"),
    path("imports/leads/", views.import_leads, name="import_leads"),
    path("imports/feedback/", views.import_feedback, name="import_feedback"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/mapping/", views.import_mapping, name="import_mapping"),
    path("imports/<int:pk>/results.csv", views.import_result_file, name="import_results"),
]
