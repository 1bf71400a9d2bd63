from django.urls import path

from feedbackportal.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("leads/", views.upload_leads, name="upload_leads"),
    path("feedback/", views.upload_feedback, name="upload_feedback"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/mapping/", views.mapping, name="mapping"),
    path("<int:pk>/confirm/", views.confirm, name="confirm"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/results.csv", views.result_file, name="results"),
]
